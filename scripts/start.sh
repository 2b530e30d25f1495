#!/usr/bin/env bash
# Installs what is missing, builds, and runs berthd in the foreground with its
# embedded defaults (or /etc/berth/berth.toml when present). Extra arguments go
# to berthd, e.g. `npm start -- --daemon-log-level debug`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
# berthd runs as its shebang line says (environment and Node.js flags).
exec env -S "$(sed -n '1s/^#!\S*env -S //p' dist/src/bin/berthd.js)" dist/src/bin/berthd.js "$@"
