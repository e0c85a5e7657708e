#!/usr/bin/env bash
# Installs what tether's build, demo and tests need on a fresh Debian machine with Node 20 (as root):
# Debian packages where missing, then the npm packages from the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v bridge >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v strace >/dev/null 2>&1 || missing+=(strace)
[ -x /usr/lib/cni/host-local ] || missing+=(containernetworking-plugins)
# the CRI end-to-end test and bench: a private containerd, its runtime, and what the local images are made of
command -v containerd >/dev/null 2>&1 || missing+=(containerd)
command -v runc >/dev/null 2>&1 || missing+=(runc)
[ -x /usr/bin/catatonit ] || missing+=(catatonit)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=(busybox-static)  # static: it goes into an image alone
# scripts/image.sh and the deploy test build and run the agent image.
# With its recommended packages (fuse-overlayfs, uidmap, ...): the set-up the deploy test was proven on.
with_recommends=()
command -v podman >/dev/null 2>&1 || with_recommends+=(podman)
# install_packages [apt-get options...] -- packages...
install_packages() {
  local opts=() pkgs=()
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  pkgs=("$@")
  [ "${#pkgs[@]}" -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${pkgs[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${pkgs[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${opts[@]}" $(printf '%s\n' "${pkgs[@]}" | sort -u) >/dev/null
}
install_packages --no-install-recommends -- "${missing[@]}"
install_packages -- "${with_recommends[@]}"

# npm ci only when the lockfile changed since the last install.
stamp=node_modules/.tether-lock-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi
