package lab

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is a lab's state as seen now.
type Status struct {
	Name      string        `json:"name"`
	StateDir  string        `json:"stateDir"`
	Endpoints string        `json:"endpoints"`
	Datastore ProcessStatus `json:"datastore"`
	// Etcd are the members of the lab's etcd cluster (none with the
	// embedded datastore).
	Etcd      []EtcdMemberState `json:"etcd,omitempty"`
	Fabric    Fabric            `json:"fabric"`
	Hosts     []HostStatus      `json:"hosts"`
	Workloads []WorkloadStatus  `json:"workloads"`
	// MissingNamespaces lists recorded namespaces that no longer exist.
	MissingNamespaces []string `json:"missingNamespaces,omitempty"`
}

// ProcessStatus is a recorded process and whether it still runs.
type ProcessStatus struct {
	Process
	Running bool `json:"running"`
}

// EtcdMemberState is an etcd member and whether it runs.
type EtcdMemberState struct {
	EtcdMember
	Running bool `json:"running"`
}

// HostStatus is a host and its calico-node.
type HostStatus struct {
	Host
	NodeRunning bool `json:"nodeRunning"`
}

// WorkloadStatus is a workload and whether its namespace exists.
type WorkloadStatus struct {
	Workload
	Plugged bool `json:"plugged"`
}

// Healthy reports whether every process runs and every namespace exists.
func (s Status) Healthy() bool {
	if len(s.MissingNamespaces) > 0 {
		return false
	}
	if len(s.Etcd) == 0 && !s.Datastore.Running {
		return false
	}
	for _, m := range s.Etcd {
		if !m.Running {
			return false
		}
	}
	for _, h := range s.Hosts {
		if !h.NodeRunning {
			return false
		}
	}
	return true
}

// Status reports the lab's processes and namespaces.
func (l *Lab) Status() Status {
	st := l.snapshot()
	s := Status{
		Name:      st.Name,
		StateDir:  st.StateDir,
		Endpoints: l.Endpoints(),
		Datastore: ProcessStatus{Process: st.Datastore, Running: l.alive(st.Datastore)},
		Fabric:    st.Fabric,
	}
	for _, m := range st.Etcd {
		s.Etcd = append(s.Etcd, EtcdMemberState{EtcdMember: m, Running: l.alive(m.Process)})
	}
	for _, h := range st.Hosts {
		s.Hosts = append(s.Hosts, HostStatus{Host: h, NodeRunning: l.alive(h.Node)})
	}
	for _, w := range st.Workloads {
		s.Workloads = append(s.Workloads, WorkloadStatus{Workload: w, Plugged: namespaceExists(w.Namespace)})
	}
	for _, ns := range st.Namespaces {
		if !namespaceExists(ns) {
			s.MissingNamespaces = append(s.MissingNamespaces, ns)
		}
	}
	return s
}

// Write prints the status for people.
func (s Status) Write(w io.Writer) error {
	run := func(ok bool, pid int) string {
		if ok {
			return fmt.Sprintf("running (pid %d)", pid)
		}
		return "STOPPED"
	}
	fmt.Fprintf(w, "lab %s\n", s.Name)
	fmt.Fprintf(w, "  state      %s\n", s.StateDir)
	if len(s.Etcd) == 0 {
		fmt.Fprintf(w, "  datastore  %s, %s in %s\n", s.Endpoints, run(s.Datastore.Running, s.Datastore.PID), s.Fabric.Namespace)
	} else {
		fmt.Fprintf(w, "  datastore  etcd cluster of %d in %s\n", len(s.Etcd), s.Fabric.Namespace)
		for _, m := range s.Etcd {
			fmt.Fprintf(w, "    %-9s %s, %s, log %s\n", m.Name, m.Endpoint(), run(m.Running, m.Process.PID), m.Log)
		}
	}
	fmt.Fprintf(w, "  fabric     %s, bridge %s %s\n", s.Fabric.Namespace, s.Fabric.Bridge, joinAddrs(s.Fabric.IPv4, s.Fabric.IPv6))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nHOST\tNAMESPACE\tADDRESSES\tCALICO-NODE\tLOG")
	for _, h := range s.Hosts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name, h.Namespace, joinAddrs(h.IPv4, h.IPv6), run(h.NodeRunning, h.Node.PID), h.Node.Log)
	}
	if len(s.Workloads) > 0 {
		fmt.Fprintln(tw, "\nWORKLOAD\tNAMESPACE\tADDRESSES\tHOST END\tMAC\tENDPOINT")
		for _, wl := range s.Workloads {
			ns := wl.Namespace
			if !wl.Plugged {
				ns += " (missing)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s@%s\t%s\t%s\n", wl.Name, ns, joinAddrs(wl.IPv4, wl.IPv6), wl.Interface, wl.Host, wl.MAC, wl.Endpoint)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.MissingNamespaces) > 0 {
		fmt.Fprintf(w, "\nmissing namespaces: %s\n", strings.Join(s.MissingNamespaces, " "))
	}
	return nil
}
