#!/usr/bin/env bash
# Compiles native/*.c into dist/native/berth_native.node: a Node-API module
# (mount and umount without a util-linux process, posix_spawn, the seccomp
# notifier's fds), built with the system C compiler against the headers of
# the Node.js that runs berthd, linked with libseccomp (installed with the
# OCI runtimes). Rebuilt only when a source or the Node.js version changed.
set -euo pipefail
cd "$(dirname "$0")/.."

srcs=(native/berth_native.c native/seccomp_notify.c)
out=dist/native/berth_native.node
stamp=dist/native/.node-version
node_version=$(node -p process.version)

fresh=1
for src in "${srcs[@]}"; do [ -f "$out" ] && [ "$out" -nt "$src" ] || fresh=0; done
if [ "$fresh" = 1 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$node_version" ]; then
  exit 0
fi

include=$(node -p "require('node:path').join(process.execPath, '..', '..', 'include', 'node')")
if [ ! -f "$include/node_api.h" ]; then
  echo "build-native: Node-API headers not found at $include" >&2
  exit 1
fi
mkdir -p dist/native
"${CC:-gcc}" -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -fPIC -shared -I"$include" -o "$out.tmp" "${srcs[@]}" -l:libseccomp.so.2
mv "$out.tmp" "$out"
echo "$node_version" >"$stamp"
