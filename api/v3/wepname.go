package v3

import (
	"fmt"
	"strings"
)

// WorkloadEndpointName computes the name a WorkloadEndpoint must have: the
// node, orchestrator, workload and endpoint segments joined by "-", with
// every "-" inside a segment doubled. The workload segment is the pod name
// for k8s, the container ID for cni and the workload for other
// orchestrators; libnetwork uses the orchestrator again.
func WorkloadEndpointName(node, orchestrator, workloadOrPodOrContainerID, endpoint string) (string, error) {
	workload := workloadOrPodOrContainerID
	if orchestrator == OrchestratorLibnetwork {
		workload = orchestrator
	}
	segs := []struct{ name, value string }{
		{"node", node}, {"orchestrator", orchestrator}, {"workload", workload}, {"endpoint", endpoint},
	}
	parts := make([]string, 0, len(segs))
	for _, s := range segs {
		if s.value == "" {
			return "", fmt.Errorf("workload endpoint name: %s is empty", s.name)
		}
		if strings.HasPrefix(s.value, "-") || strings.HasSuffix(s.value, "-") {
			return "", fmt.Errorf("workload endpoint name: %s %q may not start or end with \"-\"", s.name, s.value)
		}
		parts = append(parts, strings.ReplaceAll(s.value, "-", "--"))
	}
	return strings.Join(parts, "-"), nil
}

// wepWorkloadSegment returns the spec field that forms the workload
// segment of w's name, and that field's JSON path.
func wepWorkloadSegment(s *WorkloadEndpointSpec) (value, path string) {
	switch s.Orchestrator {
	case OrchestratorKubernetes:
		return s.Pod, "spec.pod"
	case OrchestratorCNI:
		return s.ContainerID, "spec.containerID"
	case OrchestratorLibnetwork:
		return s.Orchestrator, "spec.orchestrator"
	}
	return s.Workload, "spec.workload"
}

// computedWEPName is WorkloadEndpointName applied to w's spec.
func computedWEPName(w *WorkloadEndpoint) (string, error) {
	wl, _ := wepWorkloadSegment(&w.Spec)
	return WorkloadEndpointName(w.Spec.Node, w.Spec.Orchestrator, wl, w.Spec.Endpoint)
}

// CompleteWorkloadEndpoint does what upstream does before storing a
// WorkloadEndpoint: it fills in an empty name from the spec and adds the
// projectcalico.org/namespace and projectcalico.org/orchestrator labels.
func CompleteWorkloadEndpoint(w *WorkloadEndpoint) error {
	if w == nil {
		return fmt.Errorf("complete workload endpoint: nil endpoint")
	}
	if w.Metadata.Name == "" {
		name, err := computedWEPName(w)
		if err != nil {
			return fmt.Errorf("complete workload endpoint: %w", err)
		}
		w.Metadata.Name = name
	}
	if w.Metadata.Labels == nil {
		w.Metadata.Labels = map[string]string{}
	}
	if w.Metadata.Namespace != "" {
		w.Metadata.Labels[LabelNamespace] = w.Metadata.Namespace
	}
	if w.Spec.Orchestrator != "" {
		w.Metadata.Labels[LabelOrchestrator] = w.Spec.Orchestrator
	}
	return nil
}
