# Shared by test.sh and start.sh (sourced, not run): checks and installs what the lab needs on a
# fresh Debian machine. Installs only as root (CI); otherwise says exactly what to install.

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SWIFTSHADER_ICD=/usr/lib/chromium/vk_swiftshader_icd.json
# ffmpeg, espeak-ng and numpy make the demo and test clips (scripts/make-demo-clip.sh).
APT_PACKAGES="chromium libvulkan1 ffmpeg espeak-ng python3-numpy"

say() { printf '\033[1m%s\033[0m\n' "$*"; }

# Vite 8 needs Node 20.19+ (or 22.12+).
require_node() {
  local v
  v=$(node -p 'process.versions.node' 2>/dev/null) || { echo "Node.js is missing: install Node.js 20.19 or newer (https://nodejs.org)." >&2; exit 1; }
  node -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? 0 : 1);
  ' || { echo "Node.js $v is too old: install Node.js 20.19 or newer (22 LTS works too)." >&2; exit 1; }
}

# npm ci when node_modules is missing or older than the lock file.
ensure_node_modules() {
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    say "==> npm ci"
    npm ci --no-audit --no-fund
  fi
}

# Headless chromium for the browser tests; its SwiftShader (CPU Vulkan) driver and the Vulkan loader
# for Dawn in the Node tests.
browser_missing() {
  local missing=()
  [[ -x $CHROMIUM ]] || missing+=("$CHROMIUM")
  [[ -f $SWIFTSHADER_ICD ]] || missing+=("$SWIFTSHADER_ICD")
  # grep reads to the end (no -q): under pipefail its early exit would fail ldconfig with SIGPIPE.
  { ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | grep 'libvulkan\.so\.1 ' >/dev/null || missing+=("libvulkan.so.1")
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)
  /usr/bin/python3 -c 'import numpy' 2>/dev/null || missing+=(python3-numpy)
  echo "${missing[*]}"
}

ensure_chromium() {
  local missing
  missing=$(browser_missing)
  [[ -z $missing ]] && return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    say "==> apt-get install $APT_PACKAGES (missing: $missing)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $APT_PACKAGES
    missing=$(browser_missing)
    [[ -z $missing ]] && return 0
    echo "Still missing after apt-get install: $missing (set CHROMIUM=/path/to/chromium if it lives elsewhere)." >&2
    exit 1
  fi
  {
    echo "Missing: $missing"
    echo "The tests need Debian's chromium (it ships the SwiftShader Vulkan driver) and the Vulkan loader. Install them with:"
    echo
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends $APT_PACKAGES"
    echo
    echo "then run npm test again."
  } >&2
  exit 1
}
