#!/usr/bin/env bash
# Installs what is missing, then lint, typecheck (the build), unit and
# integration tests, and the suite-wide leak check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
echo "== lint"
npx eslint .
echo "== tests"
node scripts/run-tests.mjs "$@"
