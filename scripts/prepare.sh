#!/usr/bin/env bash
# Everything a README command needs first: Debian packages, npm packages,
# generated CRI types and the compiled daemon. Does nothing it need not do:
# packages only when missing, `npm ci` only when the lock file changed, the
# generated types and the TypeScript build only when an input changed, the
# native module only when its source or Node.js changed.
#
#   prepare.sh start   # npm start: what berthd needs
#   prepare.sh test    # npm test: that, and what the tests use
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  start) bash scripts/install-deps.sh runtime build ;;
  test) bash scripts/install-deps.sh runtime build test ;;
  *) echo "prepare: usage: prepare.sh start|test" >&2; exit 2 ;;
esac

# npm ci only when the lock file changed since the last install.
if ! cmp -s package-lock.json node_modules/.berth-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.berth-lock
fi

# The build's inputs, by content (a checkout or an editor that rewrites a file
# unchanged does not force a build; a changed file always does). The
# generated types are an output, so they are not among them.
stamp=dist/.build-inputs
inputs=$(
  {
    find src test bench -type f \( -name '*.ts' -o -name '*.proto' \) -not -path 'src/cri/generated/*' -print0 | sort -z | xargs -0 sha256sum
    sha256sum package.json package-lock.json tsconfig.json
    node -p process.version
  } | sha256sum | cut -d' ' -f1
)
if [ "$(cat "$stamp" 2>/dev/null)" != "$inputs" ] || [ ! -f dist/src/bin/berthd.js ] || [ ! -d src/cri/generated ]; then
  npm run --silent gen >/dev/null
  npm run --silent build
  echo "$inputs" >"$stamp"
fi
bash scripts/build-native.sh
