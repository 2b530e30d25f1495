#!/usr/bin/env bash
# Installs what is missing, builds, and runs berthd in the foreground with its
# embedded defaults (or /etc/berth/berth.toml when present). Extra arguments go
# to berthd, e.g. `npm start -- --daemon-log-level debug`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
# The Node.js flags berthd runs with live on its shebang line.
read -r -a NODE_FLAGS <<< "$(sed -n '1s/^#!.*env -S node//p' dist/src/bin/berthd.js)"
exec node "${NODE_FLAGS[@]}" dist/src/bin/berthd.js "$@"
