#!/usr/bin/env bash
# Debian packages the node-agent tests and `make up` need: a real containerd (CRI) with runc, the
# CNCF distribution registry and a static busybox (the test images are built from it, without docker).
# Idempotent and fast when everything is installed: `dpkg -s` first, `apt-get update` only if needed.
# Run as root (we are root here and in CI). The distro's own containerd/registry services are stopped:
# Shoal's harness (hack/containerd.ts, hack/registry.ts) runs its own instances on private sockets/ports.
set -euo pipefail

packages=(containerd runc docker-registry busybox-static iproute2)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages (${missing[*]}) and not root; run: sudo bash $0" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a concurrent session, unattended-upgrades) may hold the dpkg lock: wait for it.
apt_opts=(-o DPkg::Lock::Timeout=600)
apt-get "${apt_opts[@]}" update -qq
# policy-rc.d = 101 tells invoke-rc.d not to start services during the install (no-op where absent).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# If a service got started anyway (systemd present), stop it: it is not ours and we never use
# /run/containerd/containerd.sock or port 5000.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for unit in containerd docker-registry; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
for unit in containerd docker-registry; do
  if command -v service >/dev/null 2>&1; then service "$unit" stop >/dev/null 2>&1 || true; fi
done

for bin in containerd containerd-shim-runc-v2 runc docker-registry ip; do
  command -v "$bin" >/dev/null 2>&1 || { echo "install-deps: $bin not on PATH after install" >&2; exit 1; }
done
[ -x /bin/busybox ] || { echo "install-deps: /bin/busybox missing after install" >&2; exit 1; }
echo "install-deps: done" >&2
