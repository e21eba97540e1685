package calicoctl

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// column is one column of the table output, computed from the resource's
// JSON form so that it follows the wire field names.
type column struct {
	header string
	value  func(obj map[string]any) string
	// policies marks colPolicies, whose cells are not in the resource.
	policies bool
	// withOpts, when set, computes the cell instead of value, from the
	// resource and what get read besides it.
	withOpts func(obj map[string]any, o printOptions) string
}

// tableColumns lists, per kind, the columns of the default table and those
// of -o wide. A kind not listed shows NAME only.
type tableColumns struct {
	normal, wide []column
}

var (
	colName = field("NAME", "metadata", "name")
	colNS   = field("NAMESPACE", "metadata", "namespace")
)

// columnsFor returns the columns of kind; wide picks the -o wide set.
func columnsFor(kind string, wide bool) []column {
	tc, ok := kindColumns()[kind]
	if !ok {
		return []column{colName}
	}
	if wide && tc.wide != nil {
		return tc.wide
	}
	return tc.normal
}

func kindColumns() map[string]tableColumns {
	policy := tableColumns{
		normal: []column{colName, field("TIER", "spec", "tier")},
		wide: []column{colName, field("TIER", "spec", "tier"), field("ORDER", "spec", "order"),
			field("SELECTOR", "spec", "selector"), field("TYPES", "spec", "types")},
	}
	staged := tableColumns{
		normal: policy.normal,
		wide:   append(append([]column(nil), policy.wide...), field("STAGEDACTION", "spec", "stagedAction")),
	}
	sets := tableColumns{
		normal: []column{colName},
		wide:   []column{colName, field("NETS", "spec", "nets")},
	}
	poolCIDR, poolSel := field("CIDR", "spec", "cidr"), field("SELECTOR", "spec", "nodeSelector")
	wepCols := []column{colName, {header: "WORKLOAD", value: workloadValue}, field("NODE", "spec", "node"),
		field("NETWORKS", "spec", "ipNetworks"), field("INTERFACE", "spec", "interfaceName")}
	return map[string]tableColumns{
		"IPPool": {
			normal: []column{colName, poolCIDR, poolSel},
			wide: []column{colName, poolCIDR, flag("NAT", "spec", "natOutgoing"),
				field("IPIPMODE", "spec", "ipipMode"), field("VXLANMODE", "spec", "vxlanMode"),
				flag("DISABLED", "spec", "disabled"), flag("DISABLEBGPEXPORT", "spec", "disableBGPExport"), poolSel},
		},
		"IPReservation": {normal: []column{colName, field("CIDRS", "spec", "reservedCIDRs")}},
		"Node": {
			normal: []column{colName},
			wide: []column{colName, colNodeASN,
				field("IPV4", "spec", "bgp", "ipv4Address"), field("IPV6", "spec", "bgp", "ipv6Address")},
		},
		"WorkloadEndpoint": {
			normal: wepCols,
			wide: append(append([]column(nil), wepCols...), field("PROFILES", "spec", "profiles"),
				column{header: "NATS", value: natsValue}, colPolicies),
		},
		"HostEndpoint": {
			normal: []column{colName, field("NODE", "spec", "node")},
			wide: []column{colName, field("NODE", "spec", "node"), field("INTERFACE", "spec", "interfaceName"),
				field("IPS", "spec", "expectedIPs"), field("PROFILES", "spec", "profiles"), colPolicies},
		},
		"NetworkPolicy":             policy,
		"GlobalNetworkPolicy":       policy,
		"StagedNetworkPolicy":       staged,
		"StagedGlobalNetworkPolicy": staged,
		"NetworkSet":                sets,
		"GlobalNetworkSet":          sets,
		"Profile": {
			normal: []column{colName},
			wide:   []column{colName, field("LABELS", "spec", "labelsToApply")},
		},
		"Tier": {
			normal: []column{colName, field("ORDER", "spec", "order")},
			wide:   []column{colName, field("ORDER", "spec", "order"), field("DEFAULTACTION", "spec", "defaultAction")},
		},
		"BGPPeer": {
			normal: []column{colName, field("PEERIP", "spec", "peerIP"), field("NODE", "spec", "node"),
				field("ASN", "spec", "asNumber")},
			wide: []column{colName, field("PEERIP", "spec", "peerIP"), field("NODE", "spec", "node"),
				field("ASN", "spec", "asNumber"), field("NODESELECTOR", "spec", "nodeSelector"),
				field("PEERSELECTOR", "spec", "peerSelector")},
		},
		"BGPConfiguration": {
			normal: []column{colName, field("LOGSEVERITY", "spec", "logSeverityScreen"),
				field("MESHENABLED", "spec", "nodeToNodeMeshEnabled"), field("ASNUMBER", "spec", "asNumber")},
		},
		"ClusterInformation": {
			normal: []column{colName},
			wide: []column{colName, field("VERSION", "spec", "calicoVersion"), field("TYPE", "spec", "clusterType"),
				field("READY", "spec", "datastoreReady")},
		},
		"IPAMConfiguration": {
			normal: []column{colName},
			wide: []column{colName, flag("STRICTAFFINITY", "spec", "strictAffinity"),
				field("AUTOALLOCATE", "spec", "autoAllocateBlocks"), field("MAXBLOCKSPERHOST", "spec", "maxBlocksPerHost")},
		},
		"BlockAffinity": {
			normal: []column{colName},
			wide: []column{colName, field("NODE", "spec", "node"), field("CIDR", "spec", "cidr"),
				field("STATE", "spec", "state")},
		},
	}
}

// field is a column showing the value at a path of the JSON form.
func field(header string, path ...string) column {
	return column{header: header, value: func(obj map[string]any) string {
		return formatValue(lookupPath(obj, path))
	}}
}

// flag is a boolean column: an absent (omitted) value reads false.
func flag(header string, path ...string) column {
	return column{header: header, value: func(obj map[string]any) string {
		if v := lookupPath(obj, path); v != nil {
			return formatValue(v)
		}
		return "false"
	}}
}

func lookupPath(obj map[string]any, path []string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// formatValue renders a JSON value for a table cell: lists comma
// separated, maps as sorted k=v pairs.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatValue(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + formatValue(x[k])
		}
		return strings.Join(parts, ",")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// colNodeASN is a Node's AS number, or, for a BGP node without one, the
// AS it inherits from BGPConfiguration "default" in parentheses, as
// upstream shows it: "(64512)".
var colNodeASN = column{header: "ASN", withOpts: func(obj map[string]any, o printOptions) string {
	bgp, ok := lookupPath(obj, []string{"spec", "bgp"}).(map[string]any)
	switch {
	case !ok:
		return ""
	case bgp["asNumber"] != nil:
		return formatValue(bgp["asNumber"])
	}
	return "(" + o.globalAS + ")"
}}

// natsValue shows a workload endpoint's 1:1 NATs as internal->external.
func natsValue(obj map[string]any) string {
	nats, _ := lookupPath(obj, []string{"spec", "ipNATs"}).([]any)
	parts := make([]string, 0, len(nats))
	for _, n := range nats {
		m, _ := n.(map[string]any)
		parts = append(parts, formatValue(m["internalIP"])+"->"+formatValue(m["externalIP"]))
	}
	return strings.Join(parts, ",")
}

// workloadValue names a workload endpoint's workload: the pod for
// Kubernetes endpoints (which have no workload field), else the workload.
func workloadValue(obj map[string]any) string {
	if w := formatValue(lookupPath(obj, []string{"spec", "workload"})); w != "" {
		return w
	}
	return formatValue(lookupPath(obj, []string{"spec", "pod"}))
}
