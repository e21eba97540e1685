#!/usr/bin/env bash
# The newcomer's first run: a one-host lab (network namespaces, a datastore,
# calico-node, three workloads), the sample resources applied with
# calicoctl, who reaches whom, then everything torn down. Needs root;
# nothing is changed in the machine's own network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
LAB=demo

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces): sudo make demo" >&2
	exit 1
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
lab() { "$BIN/calico-lab" --name "$LAB" "$@"; }

cleanup() {
	step "tearing the lab down"
	lab down || true
}
trap cleanup EXIT

step "bringing up a lab: 1 host, 3 workloads"
lab up --hosts 1 --workloads 3 --replace

step "calico-lab status"
lab status

step "calicoctl version (run inside the host's namespace)"
lab exec host1 -- calicoctl version

step "the workloads' endpoints and the node"
lab exec host1 -- calicoctl get nodes -o wide
lab exec host1 -- calicoctl get workloadendpoints -A

step "routes the agent programmed in host1"
lab exec host1 -- ip route show proto 80
lab exec host1 -- ip -6 route show proto 80

step "applying samples/ (an IP pool, a tier and two policies)"
lab exec host1 -- calicoctl apply -f samples/
lab exec host1 -- calicoctl get globalnetworkpolicies
lab exec host1 -- calicoctl get networkpolicies -A

step "a bad document is rejected and nothing is written"
if printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: bad}\nspec: {cidr: 10.9.0.0/33}\n' |
	lab exec host1 -- calicoctl create -f -; then
	echo "unexpected: bad pool accepted" >&2
	exit 1
fi

step "who reaches whom (IPv4 and IPv6)"
lab matrix
