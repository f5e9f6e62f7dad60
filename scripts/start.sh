#!/usr/bin/env bash
# What `npm start` runs: installs node modules when needed, builds the app and serves it on 127.0.0.1
# (port 5173, or the next free one; PORT=... picks another) and prints the URL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

require_node
ensure_node_modules
say "==> building the app"
npm run -s build
exec node --no-warnings --import tsx tools/serve.ts --port "${PORT:-5173}"
