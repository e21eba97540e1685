package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// ErrNoLab is returned (wrapped) by Load when no lab of that name exists.
var ErrNoLab = errors.New("no such lab")

// ErrExists is returned (wrapped) by Up when a lab of that name is running.
var ErrExists = errors.New("lab already up")

// Process is a daemon the lab started. StartTime (clock ticks after boot,
// from /proc/<pid>/stat) tells it apart from a later process that reuses
// its PID, so a lab never signals a process it did not start.
type Process struct {
	PID       int      `json:"pid"`
	StartTime uint64   `json:"startTime"`
	Namespace string   `json:"namespace"`
	Argv      []string `json:"argv"`
	Log       string   `json:"log"`
}

// Fabric is the namespace standing in for the data-centre network.
type Fabric struct {
	Namespace string     `json:"namespace"`
	Bridge    string     `json:"bridge"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6,omitzero"`
}

// Host is one host namespace and its calico-node.
type Host struct {
	// Name is the node name, "host1".
	Name      string     `json:"name"`
	Index     int        `json:"index"`
	Namespace string     `json:"namespace"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6,omitzero"`
	// Node is the calico-node process (PID 0 when stopped).
	Node Process `json:"node"`
}

// Workload is one workload namespace and its endpoint.
type Workload struct {
	// Name is "host1-w2"; it is also the endpoint's pod name.
	Name      string `json:"name"`
	Host      string `json:"host"`
	Index     int    `json:"index"`
	Namespace string `json:"namespace"`
	// Interface is the host end of the workload's veth.
	Interface string     `json:"interface"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6,omitzero"`
	// MAC is the workload's eth0 MAC (the endpoint's spec.mac).
	MAC string `json:"mac"`
	// Endpoint is the WorkloadEndpoint's name (namespace "default").
	Endpoint string `json:"endpoint"`
	// CNI: the calico CNI plugin wired it in (AddWorkloadCNI), with
	// Calico IPAM, as container ContainerID.
	CNI         bool   `json:"cni,omitempty"`
	ContainerID string `json:"containerID,omitempty"`
}

// Addrs returns the workload's addresses, IPv4 first.
func (w Workload) Addrs() []netip.Addr {
	out := []netip.Addr{w.IPv4}
	if w.IPv6.IsValid() {
		out = append(out, w.IPv6)
	}
	return out
}

// state is what lab.json records: enough for any later invocation to find,
// use and tear down the lab.
type state struct {
	Version  int       `json:"version"`
	Name     string    `json:"name"`
	StateDir string    `json:"stateDir"`
	Bin      string    `json:"bin"`
	IPv6     bool      `json:"ipv6"`
	LogLevel string    `json:"logLevel"`
	Socket   string    `json:"socket"`
	Created  time.Time `json:"created"`
	Fabric   Fabric    `json:"fabric"`
	// Datastore is the embedded datastore's process; unused when the
	// lab runs an etcd cluster (Etcd).
	Datastore Process `json:"datastore"`
	// Etcd are the members of the lab's etcd cluster, when it runs one
	// instead of the embedded datastore.
	Etcd      []EtcdMember `json:"etcd,omitempty"`
	Hosts     []Host       `json:"hosts"`
	Workloads []Workload   `json:"workloads"`
	// BGP is the topology (BGPMesh, BGPReflector, BGPNone; "" = mesh).
	BGP string `json:"bgp,omitempty"`
	// Router is the external router, when the lab has one.
	Router *Router `json:"router,omitempty"`
	// Namespaces lists every namespace created, in creation order.
	Namespaces []string `json:"namespaces"`
}

const stateVersion = 1

// save writes the state file atomically.
func (s *state) save() error {
	path := stateFile(s.Name)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	return nil
}

// loadState reads the state file of the lab called name.
func loadState(name string) (*state, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	path := stateFile(name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("lab %q: %w (no %s)", name, ErrNoLab, path)
	}
	if err != nil {
		return nil, fmt.Errorf("lab %q: %w", name, err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab %q: state file %s: %w", name, path, err)
	}
	if s.Version != stateVersion || s.Name != name {
		return nil, fmt.Errorf("lab %q: state file %s: version %d name %q, want version %d name %q: remove it with calico-lab down --name %s",
			name, path, s.Version, s.Name, stateVersion, name, name)
	}
	return &s, nil
}

func (s *state) addNamespace(ns string) {
	for _, n := range s.Namespaces {
		if n == ns {
			return
		}
	}
	s.Namespaces = append(s.Namespaces, ns)
}

func (s *state) host(name string) (*Host, bool) {
	for i := range s.Hosts {
		if s.Hosts[i].Name == name {
			return &s.Hosts[i], true
		}
	}
	return nil, false
}

func (s *state) workload(name string) (*Workload, bool) {
	for i := range s.Workloads {
		if s.Workloads[i].Name == name {
			return &s.Workloads[i], true
		}
	}
	return nil, false
}

// putWorkload adds or replaces w, keeping the list sorted by host and index.
func (s *state) putWorkload(w Workload) {
	if cur, ok := s.workload(w.Name); ok {
		*cur = w
		return
	}
	s.Workloads = append(s.Workloads, w)
	hostIndex := map[string]int{}
	for _, h := range s.Hosts {
		hostIndex[h.Name] = h.Index
	}
	sort.Slice(s.Workloads, func(i, j int) bool {
		a, b := s.Workloads[i], s.Workloads[j]
		if a.Host != b.Host {
			return hostIndex[a.Host] < hostIndex[b.Host]
		}
		return a.Index < b.Index
	})
}

// dropWorkload forgets the workload named name.
func (s *state) dropWorkload(name string) {
	s.Workloads = slices.DeleteFunc(s.Workloads, func(w Workload) bool { return w.Name == name })
}

// Names lists the labs present on this machine: those with a state file
// and those that left only namespaces behind (found by their fabric
// namespace). Sorted.
func Names() ([]string, error) {
	seen := map[string]bool{}
	entries, err := os.ReadDir(RunDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() && ValidateName(e.Name()) == nil {
			if _, err := os.Stat(stateFile(e.Name())); err == nil {
				seen[e.Name()] = true
			}
		}
	}
	nss, err := listNamespaces()
	if err != nil {
		return nil, err
	}
	for _, ns := range nss {
		if name, ok := strings.CutSuffix(ns, "-fabric"); ok && ValidateName(name) == nil {
			seen[name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
