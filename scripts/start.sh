#!/usr/bin/env bash
# Installs what berthd needs and is missing (runtime packages only: nothing
# the tests use), builds what changed, and runs berthd in the foreground with its
# embedded defaults (or /etc/berth/berth.toml when present). Extra arguments go
# to berthd, e.g. `npm start -- --daemon-log-level debug`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh start
# berthd runs as its shebang line says (environment and Node.js flags).
exec env -S "$(sed -n '1s/^#!\S*env -S //p' dist/src/bin/berthd.js)" dist/src/bin/berthd.js "$@"
