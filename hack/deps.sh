#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian 12
# machine: Debian packages (etcd-server for clustered tests, BIRD, nftables,
# iproute2, ...) and the Go modules. Safe to run again: it only installs what
# is missing.
set -euo pipefail

pkgs=(etcd-server etcd-client bird2 frr nftables iproute2 iputils-ping containernetworking-plugins ca-certificates git make gcc)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages: ${missing[*]}; run as root (sudo make deps)" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The Debian etcd-server package may start a system etcd on 2379; the
	# project never uses it (tests start their own members on free ports),
	# so stop it to keep the machine quiet.
	if command -v systemctl >/dev/null 2>&1; then systemctl disable --now etcd >/dev/null 2>&1 || true; systemctl disable --now frr >/dev/null 2>&1 || true; systemctl disable --now bird >/dev/null 2>&1 || true; fi
fi

if ! command -v go >/dev/null 2>&1; then
	for d in /usr/local/go/bin /usr/lib/go/bin; do [ -x "$d/go" ] && export PATH="$d:$PATH"; done
fi
command -v go >/dev/null 2>&1 || { echo "deps: Go toolchain not found (expected /usr/local/go)" >&2; exit 1; }
echo "deps: downloading Go modules"
go mod download
(cd test/upstream && go mod download)
echo "deps: ok"
