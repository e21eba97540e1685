package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Endpoint status values, as upstream Felix writes them.
const (
	StatusUp    = "up"
	StatusDown  = "down"
	StatusError = "error"
)

// felixV2Root is the root of every key this package writes.
const felixV2Root = "/calico/felix/v2/"

// StatusReport is the value of the status and last_reported_status keys.
// Field order is the wire order.
type StatusReport struct {
	// Time is the report time, RFC 3339 in UTC, whole seconds.
	Time string `json:"time"`
	// Uptime is the agent's uptime in seconds.
	Uptime float64 `json:"uptime"`
	// FirstUpdate is true only in the first report after the agent started.
	FirstUpdate bool `json:"first_update"`
}

// endpointValue is the value of a workload endpoint status key.
type endpointValue struct {
	Status string `json:"status"`
}

// RegionSegment is the region path segment for an OpenStack region name:
// "no-region" for none, "region-<name>" otherwise.
func RegionSegment(openstackRegion string) string {
	if openstackRegion == "" {
		return "no-region"
	}
	return "region-" + openstackRegion
}

// hostPrefix is the prefix of every key of one host, ending in "/" so that
// host "node1" never matches the keys of "node10".
func hostPrefix(region, host string) string {
	return felixV2Root + RegionSegment(region) + "/host/" + host + "/"
}

// StatusKey is the key of the agent's liveness report, held by a lease.
func StatusKey(region, host string) string {
	return hostPrefix(region, host) + "status"
}

// LastReportedStatusKey is the key of the agent's last report, without a lease.
func LastReportedStatusKey(region, host string) string {
	return hostPrefix(region, host) + "last_reported_status"
}

// EndpointPrefix is the prefix of all workload endpoint status keys of a host.
func EndpointPrefix(region, host string) string {
	return hostPrefix(region, host) + "workload/"
}

// EndpointKey is the status key of one workload endpoint. A "/" inside
// the orchestrator, workload or endpoint ID is written as "%2f" (so the
// usual "<namespace>/<pod>" workload ID is one segment); the host segment
// is not escaped.
func EndpointKey(region, host, orchestrator, workload, endpoint string) string {
	return EndpointPrefix(region, host) + escapeSegment(orchestrator) + "/" +
		escapeSegment(workload) + "/endpoint/" + escapeSegment(endpoint)
}

func escapeSegment(s string) string { return strings.ReplaceAll(s, "/", "%2f") }

// checkHostRegion rejects a host or region that would put keys outside the
// host's own subtree.
func checkHostRegion(host, region string) error {
	switch {
	case host == "":
		return errors.New("host name is empty")
	case strings.Contains(host, "/"):
		return fmt.Errorf("host name %q contains '/'", host)
	case strings.Contains(region, "/"):
		return fmt.Errorf("region %q contains '/'", region)
	}
	return nil
}

// validStatus reports whether s is a status upstream consumers understand.
func validStatus(s string) bool {
	return s == StatusUp || s == StatusDown || s == StatusError
}

// decodeEndpointValue reads an endpoint status value found in etcd. It
// fails on anything that is not a JSON object with a known status.
func decodeEndpointValue(b []byte) (string, error) {
	var v endpointValue
	if err := json.Unmarshal(b, &v); err != nil {
		return "", fmt.Errorf("endpoint status value: %w", err)
	}
	if !validStatus(v.Status) {
		return "", fmt.Errorf("endpoint status value: unknown status %q", v.Status)
	}
	return v.Status, nil
}

// encodeEndpointValue renders the value written for status s.
func encodeEndpointValue(s string) []byte {
	b, _ := json.Marshal(endpointValue{Status: s}) // cannot fail: one string field
	return b
}
