#!/usr/bin/env bash
# Installs the Debian packages berthd and its tests use. Idempotent: when every
# package is already present it returns in well under a second without apt.
set -euo pipefail

PKGS=(
  runc crun conmon catatonit containernetworking-plugins busybox-static
  docker-registry skopeo umoci iproute2 iptables util-linux prometheus
  containerd criu socat openssl apache2-utils procps attr zstd
  gcc libc6-dev
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps the docker-registry and prometheus services'
# extras out; the packages' own services are stopped below so they neither
# hold ports nor act as an already-running containerd for our tests.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for svc in containerd docker-registry prometheus; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
  pkill -x "$svc" >/dev/null 2>&1 || true
done
pkill -f '/usr/bin/prometheus' >/dev/null 2>&1 || true
pkill -f '/usr/bin/docker-registry' >/dev/null 2>&1 || true
