#!/usr/bin/env bash
# What `npm test` runs, on a newcomer's Debian machine and in CI: installs what is missing (node
# modules; chromium when root), then the typecheck, the unit tests (Node on Dawn + SwiftShader) and the
# browser tests (headless chromium on SwiftShader). Runs every step, prints a summary, and exits
# non-zero if any step failed. Screenshots land in test-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

require_node
ensure_node_modules
ensure_chromium

results=()
failed=0
step() {
  local name=$1 t0=$SECONDS
  shift
  say "==> $name: $*"
  if "$@"; then
    results+=("ok    $name ($((SECONDS - t0)) s)")
  else
    results+=("FAIL  $name ($((SECONDS - t0)) s)")
    failed=1
  fi
}

start=$SECONDS
step typecheck npm run -s typecheck
# JSON reports beside the console's: the summary names every failed test and its error.
mkdir -p test-results
rm -f test-results/unit.json test-results/browser.json
report() { echo --reporter=default --reporter=json --outputFile.json="test-results/$1.json"; }
# shellcheck disable=SC2046
step "unit tests" npm run -s test:unit -- $(report unit)
# shellcheck disable=SC2046
step "browser tests" npm run -s test:browser -- $(report browser)

echo
say "==> summary ($((SECONDS - start)) s)"
printf '  %s\n' "${results[@]}"
if ((failed)); then
  say "==> failed tests"
  node scripts/failures.mjs test-results/unit.json test-results/browser.json
fi
exit $failed
