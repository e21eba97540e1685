#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian 12
# machine: Debian packages (etcd-server for clustered tests, BIRD, nftables,
# iproute2, ...) and the Go modules. Safe to run again: it only installs what
# is missing. Each step says what it is doing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "deps: $*"; }

pkgs=(etcd-server etcd-client bird2 frr nftables iproute2 iputils-ping containernetworking-plugins ca-certificates git make gcc)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	say "Debian packages: all ${#pkgs[@]} installed (${pkgs[*]})"
else
	if [ "$(id -u)" -ne 0 ]; then
		say "missing Debian packages: ${missing[*]}; run this as root: make deps" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	say "apt-get update (the package lists)"
	apt-get update -q | sed -u 's/^/deps:   /'
	say "installing ${#missing[@]} Debian packages and what they depend on: ${missing[*]}"
	# One line per package as it is set up.
	apt-get install -y -q --no-install-recommends "${missing[@]}" |
		awk '/^(Setting up|E:|W:)/ { print "deps:   " $0; fflush() }'
	# The Debian etcd-server package may start a system etcd on 2379; the
	# project never uses it (tests start their own members on free ports),
	# so stop it to keep the machine quiet. Likewise FRR and BIRD.
	if command -v systemctl >/dev/null 2>&1; then
		say "stopping the system etcd, frr and bird services the packages started (the project runs its own)"
		for s in etcd frr bird; do systemctl disable --now "$s" >/dev/null 2>&1 || true; done
	fi
fi

if ! command -v go >/dev/null 2>&1; then
	for d in /usr/local/go/bin /usr/lib/go/bin; do [ -x "$d/go" ] && export PATH="$d:$PATH"; done
fi
command -v go >/dev/null 2>&1 || { say "Go toolchain not found (expected /usr/local/go)" >&2; exit 1; }
say "Go: $(go version)"
for mod in . test/upstream; do
	say "downloading the Go modules $(go -C "$mod" list -m) needs ($mod/go.mod; nothing to do when they are in the module cache)"
	# go mod download -x logs each fetch: show each module as its source
	# arrives, and anything that is not a fetch (an error).
	go -C "$mod" mod download -x 2>&1 | awk '
		/^# get .*\.zip: 200 OK/ { u = $3; sub(/:$/, "", u); sub(/^[a-z]+:\/\/[^\/]+\//, "", u); sub(/\/@v\//, " ", u); sub(/\.zip$/, "", u); print "deps:   " u; fflush(); next }
		/^# get / { next }
		{ print; fflush() }'
done
say "ok"
