#!/usr/bin/env bash
# Compiles native/berth_native.c into dist/native/berth_native.node: a Node-API
# module (mount and umount without a util-linux process), built with the
# system C compiler against the headers of the Node.js that runs berthd.
# Rebuilt only when the source or the Node.js version changed.
set -euo pipefail
cd "$(dirname "$0")/.."

src=native/berth_native.c
out=dist/native/berth_native.node
stamp=dist/native/.node-version
node_version=$(node -p process.version)

if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$node_version" ]; then
  exit 0
fi

include=$(node -p "require('node:path').join(process.execPath, '..', '..', 'include', 'node')")
if [ ! -f "$include/node_api.h" ]; then
  echo "build-native: Node-API headers not found at $include" >&2
  exit 1
fi
mkdir -p dist/native
"${CC:-gcc}" -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -fPIC -shared -I"$include" -o "$out.tmp" "$src"
mv "$out.tmp" "$out"
echo "$node_version" >"$stamp"
