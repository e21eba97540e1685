package v3

import (
	"reflect"
	"strings"
)

// Kind names.
const (
	KindNode                         = "Node"
	KindWorkloadEndpoint             = "WorkloadEndpoint"
	KindHostEndpoint                 = "HostEndpoint"
	KindProfile                      = "Profile"
	KindNetworkPolicy                = "NetworkPolicy"
	KindGlobalNetworkPolicy          = "GlobalNetworkPolicy"
	KindStagedNetworkPolicy          = "StagedNetworkPolicy"
	KindStagedGlobalNetworkPolicy    = "StagedGlobalNetworkPolicy"
	KindNetworkSet                   = "NetworkSet"
	KindGlobalNetworkSet             = "GlobalNetworkSet"
	KindTier                         = "Tier"
	KindIPPool                       = "IPPool"
	KindIPReservation                = "IPReservation"
	KindBGPConfiguration             = "BGPConfiguration"
	KindBGPPeer                      = "BGPPeer"
	KindBGPFilter                    = "BGPFilter"
	KindFelixConfiguration           = "FelixConfiguration"
	KindClusterInformation           = "ClusterInformation"
	KindKubeControllersConfiguration = "KubeControllersConfiguration"
)

// KindInfo describes a resource kind: its names and how to make one.
type KindInfo struct {
	Kind       string // "IPPool"
	Plural     string // "ippools", also the etcd key segment
	Namespaced bool
	ShortNames []string // other accepted names, lowercase
	New        func() Resource
}

// kinds is the registry, in a stable order (the order calicoctl lists them).
var kinds = []*KindInfo{
	{KindNode, "nodes", false, []string{"no", "nos"}, func() Resource { return NewNode() }},
	{KindWorkloadEndpoint, "workloadendpoints", true, []string{"wep", "weps"}, func() Resource { return NewWorkloadEndpoint() }},
	{KindHostEndpoint, "hostendpoints", false, []string{"hep", "heps"}, func() Resource { return NewHostEndpoint() }},
	{KindProfile, "profiles", false, []string{"pro", "pros"}, func() Resource { return NewProfile() }},
	{KindTier, "tiers", false, nil, func() Resource { return NewTier() }},
	{KindNetworkPolicy, "networkpolicies", true, []string{"netpol", "netpols", "np", "nps", "policy", "policies", "pol", "pols"}, func() Resource { return NewNetworkPolicy() }},
	{KindGlobalNetworkPolicy, "globalnetworkpolicies", false, []string{"gnp", "gnps"}, func() Resource { return NewGlobalNetworkPolicy() }},
	{KindStagedNetworkPolicy, "stagednetworkpolicies", true, []string{"snp", "snps"}, func() Resource { return NewStagedNetworkPolicy() }},
	{KindStagedGlobalNetworkPolicy, "stagedglobalnetworkpolicies", false, []string{"sgnp", "sgnps"}, func() Resource { return NewStagedGlobalNetworkPolicy() }},
	{KindNetworkSet, "networksets", true, []string{"netset", "netsets"}, func() Resource { return NewNetworkSet() }},
	{KindGlobalNetworkSet, "globalnetworksets", false, []string{"gns"}, func() Resource { return NewGlobalNetworkSet() }},
	{KindIPPool, "ippools", false, []string{"ipp", "ipps", "pool", "pools"}, func() Resource { return NewIPPool() }},
	{KindIPReservation, "ipreservations", false, []string{"ipr", "iprs"}, func() Resource { return NewIPReservation() }},
	{KindBGPConfiguration, "bgpconfigurations", false, []string{"bgpconfig", "bgpconfigs"}, func() Resource { return NewBGPConfiguration() }},
	{KindBGPPeer, "bgppeers", false, []string{"bgpp", "bgpps", "bp", "bps", "peer", "peers"}, func() Resource { return NewBGPPeer() }},
	{KindBGPFilter, "bgpfilters", false, nil, func() Resource { return NewBGPFilter() }},
	{KindFelixConfiguration, "felixconfigurations", false, []string{"felixconfig", "felixconfigs"}, func() Resource { return NewFelixConfiguration() }},
	{KindClusterInformation, "clusterinformations", false, []string{"clusterinfo", "clusterinfos"}, func() Resource { return NewClusterInformation() }},
	{KindKubeControllersConfiguration, "kubecontrollersconfigurations", false, []string{"kcc", "kccs", "kubecontrollersconfig", "kubecontrollersconfigs"}, func() Resource { return NewKubeControllersConfiguration() }},
}

// byName maps every accepted lowercase name to its kind; built once from
// the table above.
var byName = func() map[string]*KindInfo {
	m := make(map[string]*KindInfo)
	for _, k := range kinds {
		m[strings.ToLower(k.Kind)] = k
		m[k.Plural] = k
		for _, s := range k.ShortNames {
			m[s] = k
		}
	}
	return m
}()

// byType maps each kind's Go struct type to its entry.
var byType = func() map[reflect.Type]*KindInfo {
	m := make(map[reflect.Type]*KindInfo, len(kinds))
	for _, k := range kinds {
		m[typeOfResource(k.New())] = k
	}
	return m
}()

// Kinds returns every kind, in a stable order. Callers must not modify it.
func Kinds() []*KindInfo { return kinds }

// LookupKind finds a kind by its name, lowercase singular, plural or short
// name, ignoring case.
func LookupKind(s string) (*KindInfo, bool) {
	k, ok := byName[strings.ToLower(s)]
	return k, ok
}

// KindByPlural finds a kind by its plural (the etcd key segment).
func KindByPlural(plural string) (*KindInfo, bool) {
	for _, k := range kinds {
		if k.Plural == plural {
			return k, true
		}
	}
	return nil, false
}

// kindByName finds a kind by its exact Kind name.
func kindByName(kind string) (*KindInfo, bool) {
	for _, k := range kinds {
		if k.Kind == kind {
			return k, true
		}
	}
	return nil, false
}
