#!/usr/bin/env bash
# Installs the Debian packages of the groups named on the command line:
#
#   runtime  what berthd itself runs (every external program it starts, the
#            CNI plugins, the maintained seccomp profile)
#   build    what compiles berthd's Node-API module (native/berth_native.c)
#   test     what only the tests and benchmarks use (registry, prometheus,
#            containerd, skopeo, image tooling, the static probe's libc)
#
#   install-deps.sh runtime build          # npm start
#   install-deps.sh runtime build test     # npm test
#   install-deps.sh --list runtime         # print a group's packages
#   install-deps.sh --dry-run runtime …    # say what would be done, do nothing
#
# Idempotent and quick: when every package is present it returns without apt.
# It never stops, kills or restarts a process: Debian's postinst scripts
# would start the services some test packages ship (containerd,
# docker-registry, prometheus), so a policy-rc.d that forbids starting any
# is put in place for the install, and removed after, only when the host
# had none.
set -euo pipefail

RUNTIME=(
  runc                            # the default runtime handler
  conmon                          # runtime.conmon: monitors every container
  catatonit                       # runtime.infra: a pod's shared PID namespace
  containernetworking-plugins     # bridge, host-local, portmap… in /usr/lib/cni
  golang-github-containers-common # /usr/share/containers/seccomp.json (RuntimeDefault)
  iproute2                        # ip: loopback in new pods, the bridge's address
  iptables                        # portmap and bridge's masquerading rules
  util-linux                      # unshare (pod namespaces), nsenter (port-forward)
  bsdutils                        # script: the terminal of exec -t
  coreutils                       # stty (resize), cat, cp (checkpoint archives)
  socat                           # port-forward and attach input
  tar                             # unpacking layers
  zstd                            # zstd-compressed layers
  attr                            # setfattr: opaque directories of layers
  criu                            # runc checkpoint/restore: CheckpointContainer, restores
)
BUILD=(
  gcc libc6-dev                   # native/berth_native.c against Node's headers
)
TEST=(
  busybox-static                  # the test images' only binary
  docker-registry                 # a loopback registry per test file
  skopeo umoci                    # pushing test images and image layouts
  prometheus                      # promtool checks deploy/prometheus rules
  containerd                      # the peer runtime of benchmarks and conformance
  crun                            # the second runtime handler's probe
  openssl apache2-utils           # registry TLS certificates and htpasswd
  procps                          # ps: leak checks
  xz-utils                        # the conformance image kit
  gcc libc6-dev                   # the static syscall probe of the seccomp tests
)

dry_run=0
list=0
groups=()
for a in "$@"; do
  case "$a" in
    --dry-run) dry_run=1 ;;
    --list) list=1 ;;
    runtime|build|test) groups+=("$a") ;;
    *) echo "install-deps: unknown argument \"$a\" (groups: runtime, build, test; flags: --list, --dry-run)" >&2; exit 2 ;;
  esac
done
if [ ${#groups[@]} -eq 0 ]; then
  echo "install-deps: name at least one group: runtime, build, test" >&2
  exit 2
fi

pkgs=()
for g in "${groups[@]}"; do
  case "$g" in
    runtime) pkgs+=("${RUNTIME[@]}") ;;
    build) pkgs+=("${BUILD[@]}") ;;
    test) pkgs+=("${TEST[@]}") ;;
  esac
done
# One of each, in the order given.
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | awk '!seen[$0]++')

if [ $list -eq 1 ]; then
  printf '%s\n' "${pkgs[@]}"
  exit 0
fi

# One dpkg-query for all of them: it answers for the packages it knows.
installed=$(dpkg-query -W -f='${Package}\t${Status}\n' "${pkgs[@]}" 2>/dev/null | awk -F'\t' '$2 == "install ok installed" { print $1 }' || true)
missing=()
for p in "${pkgs[@]}"; do
  if ! grep -qxF "$p" <<<"$installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

# Overridable only so the tests can watch it without touching the host's.
policy=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
if [ $dry_run -eq 1 ]; then
  echo "install-deps: would install: ${missing[*]}"
  echo "install-deps: would run: apt-get update; apt-get install --no-install-recommends ${missing[*]}"
  if [ -e "$policy" ]; then
    echo "install-deps: $policy exists and stays as it is"
  else
    echo "install-deps: would forbid service starts with $policy during the install, then remove it"
  fi
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi

# invoke-rc.d and deb-systemd-invoke ask policy-rc.d before starting a
# service; 101 means "not allowed". A host's own policy-rc.d is its
# administrator's and is left alone.
marker="# written by berth's scripts/install-deps.sh $$"
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n%s: no service starts while packages install\nexit 101\n' "$marker" >"$policy"
  chmod 0755 "$policy"
  # Removed only if it is still the one written here.
  trap 'if grep -qxF "$marker: no service starts while packages install" "$policy" 2>/dev/null; then rm -f "$policy"; fi' EXIT
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps the services' optional extras out.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for svc in containerd docker-registry prometheus; do
  if printf '%s\n' "${missing[@]}" | grep -qx "$svc" && [ -d /run/systemd/system ]; then
    echo "install-deps: the $svc package enables its service at boot (not started now); \`systemctl disable $svc\` if this host should not run it" >&2
  fi
done
