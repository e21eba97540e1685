#!/usr/bin/env bash
# The newcomer's first run: a three-host lab (network namespaces, a
# datastore, calico-node and BIRD on every host, two workloads each,
# created by the calico CNI plugin with Calico IPAM), the
# BGP sessions between the hosts, the sample resources applied with
# calicoctl, who reaches whom, then everything torn down. Needs root;
# nothing is changed in the machine's own network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
LAB=demo

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (it creates network namespaces): run make demo as root" >&2
	exit 1
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
lab() { "$BIN/calico-lab" --name "$LAB" "$@"; }

cleanup() {
	step "tearing the lab down"
	lab down || true
}
trap cleanup EXIT

step "bringing up a lab: 3 hosts in a BGP mesh, 2 workloads each (CNI plugin, Calico IPAM)"
lab up --hosts 3 --workloads 2 --cni --replace

step "calico-lab status"
lab status

step "calicoctl version (run inside the host's namespace)"
lab exec host1 -- calicoctl version

step "the workloads' endpoints and the node"
lab exec host1 -- calicoctl get nodes -o wide
lab exec host1 -- calicoctl get workloadendpoints -A

step "IP address management: each host's workloads got addresses from a block the host claimed"
lab exec host1 -- calicoctl ipam show --show-blocks

step "routes the agent programmed in host1 (its own workloads)"
lab exec host1 -- ip route show proto 80
lab exec host1 -- ip -6 route show proto 80

step "BGP sessions of host1 (established: calico-lab up waits until every host has every other host's routes)"
lab exec host1 -- calicoctl node status

step "routes host1 learned by BGP: one per block of the other hosts, not one per workload"
lab exec host1 -- ip route show proto bird
lab exec host1 -- ip -6 route show proto bird

step "host1's own blocks are blackholed: its workloads' /32 routes are more specific"
lab exec host1 -- ip route show type blackhole
lab exec host1 -- ip -6 route show type blackhole

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

step "policy: label host2-w1 app=web and host1-w1 role=frontend; only frontends may reach web"
lab exec host1 -- calicoctl patch workloadendpoint host2-k8s-host2--w1-eth0 --namespace default \
	--patch '{"metadata":{"labels":{"app":"web"}}}'
lab exec host1 -- calicoctl patch workloadendpoint host1-k8s-host1--w1-eth0 --namespace default \
	--patch '{"metadata":{"labels":{"role":"frontend"}}}'
lab exec host1 -- calicoctl apply -f - <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web-from-frontend
spec:
  selector: app == 'web'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: ICMP
    source:
      selector: role == 'frontend'
  - action: Allow
    protocol: ICMPv6
    source:
      selector: role == 'frontend'
  - action: Allow
    protocol: TCP
    source:
      selector: role == 'frontend'
    destination:
      ports: [80]
YAML
lab exec host1 -- calicoctl get workloadendpoints --namespace default -o wide

step "the agent's nftables table on host2: host2-w1's ingress chain and the tier walk it goes to"
iface=$(lab exec host2 -- calicoctl get workloadendpoint host2-k8s-host2--w1-eth0 --namespace default -o yaml | awk '/interfaceName:/ {print $2}')
lab exec host2 -- nft list chain inet calico "tw-$iface"
walk=$(lab exec host2 -- nft list chain inet calico "tw-$iface" | awk '$1 == "goto" {print $2}')
[ -z "$walk" ] || lab exec host2 -- nft list chain inet calico "$walk"

step "who reaches whom now: only host1-w1 reaches host2-w1 (the policy at work)"
sleep 1
lab matrix || true

step "deleting the policy: everyone reaches everyone again"
lab exec host1 -- calicoctl delete globalnetworkpolicy web-from-frontend
sleep 1
lab matrix
