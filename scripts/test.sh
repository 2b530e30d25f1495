#!/usr/bin/env bash
# Installs what is missing (berthd's packages and the tests'), builds what
# changed, then lint, typecheck (the build), unit and
# integration tests, and the suite-wide leak check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh test
echo "== lint"
npx eslint .
echo "== tests"
node scripts/run-tests.mjs "$@"
