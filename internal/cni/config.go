// Package cni implements the container network plugins calico and
// calico-ipam (CNI spec 1.1): the calico plugin wires a container into
// the host with a veth and writes its WorkloadEndpoint; calico-ipam hands
// out its addresses from Calico's IP pools.
package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/gocalico/calico/internal/datastore"
)

// Defaults for fields the network configuration may leave out.
const (
	// DefaultLockFile serialises calico-ipam runs on one host.
	DefaultLockFile = "/var/run/calico/ipam.lock"
	// DefaultNodenameFile is where calico-node records the node's name.
	DefaultNodenameFile = "/var/lib/calico/nodename"
)

// NetConf is the network configuration a runtime gives both plugins on
// stdin. Field names are upstream Calico's where upstream has the field.
type NetConf struct {
	CNIVersion string   `json:"cniVersion"`
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	IPAM       IPAMConf `json:"ipam"`

	// Nodename is this host's Calico node name; else NodenameFile's
	// content, else the hostname.
	Nodename     string `json:"nodename"`
	NodenameFile string `json:"nodename_file"`

	// DatastoreType must be empty or "etcdv3": the only datastore.
	DatastoreType string `json:"datastore_type"`
	// EtcdEndpoints is a comma-separated list of etcd URLs.
	EtcdEndpoints  string `json:"etcd_endpoints"`
	EtcdCertFile   string `json:"etcd_cert_file"`
	EtcdKeyFile    string `json:"etcd_key_file"`
	EtcdCACertFile string `json:"etcd_ca_cert_file"`
	// DatastoreSocket is the path of a local etcd's unix socket (used
	// when EtcdEndpoints is empty).
	DatastoreSocket string `json:"datastore_socket"`

	// MTU of both ends of the veth (0: the kernel's default).
	MTU int `json:"mtu"`
	// IPAMLockFile serialises calico-ipam on the host
	// (DefaultLockFile when empty).
	IPAMLockFile string `json:"ipam_lock_file"`
	// WaitForEndpoint, a duration ("10s"), makes ADD wait until the
	// host's agent reports the endpoint programmed (its status key says
	// "up"; FelixConfiguration endpointReportingEnabled), failing the
	// ADD when it does not within that time. Empty: no wait.
	WaitForEndpoint string `json:"wait_for_endpoint"`
	// OpenStackRegion is the agent's openstackRegion, which is part of
	// the status keys ("" when the agent has none).
	OpenStackRegion string `json:"openstack_region"`

	// LogLevel is debug, info, warning or error (default warning);
	// logs go to LogFilePath, else stderr.
	LogLevel    string `json:"log_level"`
	LogFilePath string `json:"log_file_path"`

	// ValidAttachments is set by the runtime for GC (nil: not given).
	ValidAttachments []types.GCAttachment `json:"cni.dev/valid-attachments,omitempty"`
	// LegacyAttachments is the key an early spec text used; read when
	// ValidAttachments is absent.
	LegacyAttachments []types.GCAttachment `json:"cni.dev/attachments,omitempty"`
	// RawPrevResult is set by the runtime for CHECK and DEL.
	RawPrevResult map[string]any `json:"prevResult,omitempty"`
	// Args are the runtime's arguments in the configuration (the CNI
	// conventions' "args"): args.cni.labels become the endpoint's labels.
	Args struct {
		CNI struct {
			Labels []struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			} `json:"labels"`
			// IPs are addresses the runtime asks for ("10.0.0.5" or
			// "10.0.0.5/24").
			IPs []string `json:"ips"`
		} `json:"cni"`
	} `json:"args"`
}

// IPAMConf is the "ipam" section.
type IPAMConf struct {
	Type string `json:"type"`
	// AssignIPv4 and AssignIPv6 are "true" or "false" (strings, as
	// upstream writes them; JSON booleans are accepted too). Defaults:
	// IPv4 yes, IPv6 no.
	AssignIPv4 json.RawMessage `json:"assign_ipv4,omitempty"`
	AssignIPv6 json.RawMessage `json:"assign_ipv6,omitempty"`
	// IPv4Pools and IPv6Pools limit allocation to these pools, given by
	// CIDR or by IPPool name.
	IPv4Pools []string `json:"ipv4_pools,omitempty"`
	IPv6Pools []string `json:"ipv6_pools,omitempty"`
}

// parseBool reads "true"/"false" (any case) or a JSON boolean; def
// when absent or null.
func parseBool(field string, raw json.RawMessage, def bool) (bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err == nil {
		return v, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, configErr("%s %s: want \"true\" or \"false\"", field, raw)
}

// validAttachments is the GC keep-list and whether the runtime gave one.
func (nc *NetConf) validAttachments() (map[types.GCAttachment]bool, bool) {
	list := nc.ValidAttachments
	if list == nil {
		list = nc.LegacyAttachments
	}
	if list == nil {
		return nil, false
	}
	m := make(map[types.GCAttachment]bool, len(list))
	for _, a := range list {
		m[a] = true
	}
	return m, true
}

// Config is a checked NetConf with its defaults filled in.
type Config struct {
	NetConf
	// Node is the node name the endpoints and allocations are for.
	Node string
	// Datastore says how to reach etcd.
	Datastore datastore.Config
	// AssignIPv4, AssignIPv6: which families calico-ipam allocates.
	AssignIPv4, AssignIPv6 bool
	// LockFile is the IPAM lock file.
	LockFile string
	// Wait is WaitForEndpoint parsed (0: no wait).
	Wait time.Duration
}

// configErr is a CNI "invalid network configuration" error.
func configErr(format string, a ...any) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, "calico: invalid network configuration: "+fmt.Sprintf(format, a...), "")
}

// LoadConfig parses and checks the network configuration from stdin.
// Errors are *types.Error with code 7 (invalid network configuration)
// or 6 (decoding failure) and name the field at fault.
func LoadConfig(stdin []byte) (*Config, error) {
	var nc NetConf
	dec := json.NewDecoder(bytes.NewReader(stdin))
	if err := dec.Decode(&nc); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "calico: network configuration is not valid JSON: "+err.Error(), "")
	}
	if dec.More() {
		return nil, types.NewError(types.ErrDecodingFailure, "calico: network configuration: trailing data after the JSON object", "")
	}
	c := &Config{NetConf: nc, LockFile: nc.IPAMLockFile}
	if nc.Name == "" {
		return nil, configErr("name: required")
	}
	if strings.ContainsAny(nc.Name, "/ \t\n") {
		return nil, configErr("name %q: may not contain '/' or spaces", nc.Name)
	}
	switch nc.DatastoreType {
	case "", "etcdv3":
	default:
		return nil, configErr("datastore_type %q: only \"etcdv3\" is supported", nc.DatastoreType)
	}
	if nc.WaitForEndpoint != "" {
		d, err := time.ParseDuration(nc.WaitForEndpoint)
		if err != nil || d <= 0 {
			return nil, configErr("wait_for_endpoint %q: want a positive duration such as \"10s\"", nc.WaitForEndpoint)
		}
		c.Wait = d
	}
	if strings.Contains(nc.OpenStackRegion, "/") {
		return nil, configErr("openstack_region %q: may not contain '/'", nc.OpenStackRegion)
	}
	if nc.MTU < 0 || nc.MTU > 65535 || (nc.MTU > 0 && nc.MTU < 68) {
		return nil, configErr("mtu %d: want 0 (kernel default) or 68-65535", nc.MTU)
	}
	var err error
	if c.AssignIPv4, err = parseBool("ipam.assign_ipv4", nc.IPAM.AssignIPv4, true); err != nil {
		return nil, err
	}
	if c.AssignIPv6, err = parseBool("ipam.assign_ipv6", nc.IPAM.AssignIPv6, false); err != nil {
		return nil, err
	}
	if err := checkPools("ipam.ipv4_pools", nc.IPAM.IPv4Pools, true); err != nil {
		return nil, err
	}
	if err := checkPools("ipam.ipv6_pools", nc.IPAM.IPv6Pools, false); err != nil {
		return nil, err
	}
	if c.LockFile == "" {
		c.LockFile = DefaultLockFile
	}
	node, err := nodeName(nc)
	if err != nil {
		return nil, err
	}
	c.Node = node
	ds, err := datastoreConfig(nc)
	if err != nil {
		return nil, err
	}
	c.Datastore = ds
	return c, nil
}

// checkPools checks the pools that are CIDRs are of the right family and
// masked; other entries are pool names, resolved at allocation.
func checkPools(field string, pools []string, v4 bool) error {
	for i, s := range pools {
		if s == "" {
			return configErr("%s[%d]: empty", field, i)
		}
		if !strings.Contains(s, "/") {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return configErr("%s[%d] %q: not a CIDR: %v", field, i, s, err)
		}
		if p.Addr().Is4() != v4 {
			fam := "IPv6"
			if v4 {
				fam = "IPv4"
			}
			return configErr("%s[%d] %q: not an %s CIDR", field, i, s, fam)
		}
		if p != p.Masked() {
			return configErr("%s[%d] %q: host bits set (did you mean %s?)", field, i, s, p.Masked())
		}
	}
	return nil
}

// nodeName picks the node name: nodename, else nodename_file, else the
// default nodename file if it exists, else the hostname.
func nodeName(nc NetConf) (string, error) {
	if nc.Nodename != "" {
		return strings.TrimSpace(nc.Nodename), nil
	}
	file := nc.NodenameFile
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", configErr("nodename_file %q: %v", file, err)
		}
		if n := strings.TrimSpace(string(b)); n != "" {
			return n, nil
		}
		return "", configErr("nodename_file %q: empty", file)
	}
	if b, err := os.ReadFile(DefaultNodenameFile); err == nil {
		if n := strings.TrimSpace(string(b)); n != "" {
			return n, nil
		}
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "", configErr("nodename: not set and the hostname is unknown (%v)", err)
	}
	return strings.ToLower(h), nil
}

// datastoreConfig turns the etcd fields into a datastore.Config.
func datastoreConfig(nc NetConf) (datastore.Config, error) {
	c := datastore.Config{CertFile: nc.EtcdCertFile, KeyFile: nc.EtcdKeyFile, CAFile: nc.EtcdCACertFile}
	for _, ep := range strings.Split(nc.EtcdEndpoints, ",") {
		ep = strings.TrimSpace(ep)
		if ep == "" {
			continue
		}
		if !strings.Contains(ep, "://") {
			return c, configErr("etcd_endpoints: %q: want a URL such as http://10.0.0.1:2379 or unix:///var/run/calico/etcd.sock", ep)
		}
		c.Endpoints = append(c.Endpoints, ep)
	}
	if len(c.Endpoints) == 0 && nc.DatastoreSocket != "" {
		if !strings.HasPrefix(nc.DatastoreSocket, "/") {
			return c, configErr("datastore_socket %q: want an absolute path", nc.DatastoreSocket)
		}
		c.Endpoints = []string{"unix://" + nc.DatastoreSocket}
	}
	if len(c.Endpoints) == 0 {
		env := datastore.ConfigFromEnv()
		c.Endpoints = env.Endpoints
		if c.CertFile == "" && c.KeyFile == "" && c.CAFile == "" {
			c.CertFile, c.KeyFile, c.CAFile = env.CertFile, env.KeyFile, env.CAFile
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return c, configErr("etcd_cert_file and etcd_key_file: give both or neither")
	}
	return c, nil
}
