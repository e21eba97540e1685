package ipam

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
)

// Affinity states, as stored at AffinityKey.
const (
	// AffinityPending: a host is claiming the block (written before the
	// block itself).
	AffinityPending = "pending"
	// AffinityConfirmed: the block exists and is the host's.
	AffinityConfirmed = "confirmed"
	// AffinityPendingDeletion: the host is giving the block up.
	AffinityPendingDeletion = "pendingDeletion"
)

// affinity is the value at AffinityKey. An empty value reads as {}, and
// an empty state as confirmed (what older writers left).
type affinity struct {
	State   string `json:"state,omitempty"`
	Deleted bool   `json:"deleted"`
}

func decodeAffinity(key string, v []byte) (affinity, error) {
	var a affinity
	if len(v) == 0 {
		return affinity{State: AffinityConfirmed}, nil
	}
	if err := json.Unmarshal(v, &a); err != nil {
		return a, fmt.Errorf("affinity %s: %w", key, err)
	}
	switch a.State {
	case "":
		a.State = AffinityConfirmed
	case AffinityPending, AffinityConfirmed, AffinityPendingDeletion:
	default:
		return a, fmt.Errorf("affinity %s: unknown state %q", key, a.State)
	}
	return a, nil
}

// Affinity is one decoded block affinity, for the components that follow
// a host's blocks (BGP announces them, the agent blackholes them).
type Affinity struct {
	Node  string
	Block netip.Prefix
	// State is AffinityPending, AffinityConfirmed or
	// AffinityPendingDeletion; a value marked deleted reads as "".
	State string
}

// DecodeAffinity decodes the value at an affinity key. An empty value,
// or one without a state, reads as confirmed (what older writers left).
func DecodeAffinity(key string, value []byte) (*Affinity, error) {
	node, block, err := ParseAffinityKey(key)
	if err != nil {
		return nil, err
	}
	a, err := decodeAffinity(key, value)
	if err != nil {
		return nil, err
	}
	out := &Affinity{Node: node, Block: block, State: a.State}
	if a.Deleted {
		out.State = ""
	}
	return out, nil
}

func encodeAffinity(state string) []byte {
	v, _ := json.Marshal(affinity{State: state})
	return v
}

// handle is the value at HandleKey: how many addresses the handle holds
// in each block (by block CIDR, "10.0.0.0/26").
type handle struct {
	Block   map[string]int `json:"block"`
	Deleted bool           `json:"deleted"`
}

func decodeHandle(key string, v []byte) (*handle, error) {
	var h handle
	if err := json.Unmarshal(v, &h); err != nil {
		return nil, fmt.Errorf("handle %s: %w", key, err)
	}
	if h.Block == nil {
		h.Block = map[string]int{}
	}
	for b, n := range h.Block {
		if _, err := netip.ParsePrefix(b); err != nil || n < 0 {
			return nil, fmt.Errorf("handle %s: block %q count %d", key, b, n)
		}
	}
	return &h, nil
}

func (h *handle) encode() []byte {
	v, _ := json.Marshal(h)
	return v
}

// blocks are the handle's block CIDRs with a count above zero, sorted.
func (h *handle) blocks() []netip.Prefix {
	var out []netip.Prefix
	for _, k := range slices.Sorted(maps.Keys(h.Block)) {
		if h.Block[k] > 0 {
			out = append(out, netip.MustParsePrefix(k))
		}
	}
	return out
}

// Config is the cluster-wide IPAM configuration at
// /calico/ipam/v2/config. Without that key, blocks are allocated
// automatically and affinity is not strict.
type Config struct {
	// StrictAffinity: a host never borrows addresses from another
	// host's blocks.
	StrictAffinity bool
	// AutoAllocateBlocks: hosts claim new blocks as they need them.
	AutoAllocateBlocks bool
	// MaxBlocksPerHost caps the blocks a host claims (0: no cap).
	MaxBlocksPerHost int
}

// DefaultConfig is the configuration when none is stored.
func DefaultConfig() Config { return Config{AutoAllocateBlocks: true} }

// Validate checks c as upstream does.
func (c Config) Validate() error {
	if !c.StrictAffinity && !c.AutoAllocateBlocks {
		return fmt.Errorf("IPAM configuration: strict affinity and automatic block allocation cannot both be off")
	}
	if c.MaxBlocksPerHost < 0 {
		return fmt.Errorf("IPAM configuration: maxBlocksPerHost %d is negative", c.MaxBlocksPerHost)
	}
	return nil
}

// decodeConfig reads the stored configuration, keeping fields this
// package does not know in raw.
func decodeConfig(v []byte) (Config, map[string]json.RawMessage, error) {
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(v, &raw); err != nil {
		return Config{}, nil, fmt.Errorf("IPAM configuration %s: %w", configKey, err)
	}
	var c Config
	for k, dst := range map[string]any{"strict_affinity": &c.StrictAffinity, "auto_allocate_blocks": &c.AutoAllocateBlocks,
		"maxBlocksPerHost": &c.MaxBlocksPerHost} {
		if r, ok := raw[k]; ok {
			if err := json.Unmarshal(r, dst); err != nil {
				return Config{}, nil, fmt.Errorf("IPAM configuration %s: %s: %w", configKey, k, err)
			}
		}
	}
	return c, raw, nil
}

func encodeConfig(c Config, raw map[string]json.RawMessage) []byte {
	out := maps.Clone(raw)
	if out == nil {
		out = map[string]json.RawMessage{}
	}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	set("strict_affinity", c.StrictAffinity)
	set("auto_allocate_blocks", c.AutoAllocateBlocks)
	if c.MaxBlocksPerHost > 0 {
		set("maxBlocksPerHost", c.MaxBlocksPerHost)
	} else {
		delete(out, "maxBlocksPerHost")
	}
	v, _ := json.Marshal(out)
	return v
}
