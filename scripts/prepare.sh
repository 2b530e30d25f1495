#!/usr/bin/env bash
# Everything both README commands need first: Debian packages, npm packages,
# generated CRI types and the compiled daemon. Cheap when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

# npm ci only when the lock file changed since the last install.
if ! cmp -s package-lock.json node_modules/.berth-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.berth-lock
fi

npm run --silent gen >/dev/null
npm run --silent build
bash scripts/build-native.sh
