package v3

// BGPFilterAction is the verdict of a BGP filter rule.
type BGPFilterAction string

// BGP filter verdicts.
const (
	BGPFilterAccept BGPFilterAction = "Accept"
	BGPFilterReject BGPFilterAction = "Reject"
)

// BGPFilterMatchOperator compares a route's prefix with a rule's CIDR.
type BGPFilterMatchOperator string

// Match operators.
const (
	MatchEqual    BGPFilterMatchOperator = "Equal"
	MatchNotEqual BGPFilterMatchOperator = "NotEqual"
	MatchIn       BGPFilterMatchOperator = "In"
	MatchNotIn    BGPFilterMatchOperator = "NotIn"
)

// BGPFilter is a set of import and export rules that BGPPeers refer to.
type BGPFilter struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta    `json:"metadata"`
	Spec     BGPFilterSpec `json:"spec"`
}

// BGPFilterSpec is the body of a BGPFilter.
type BGPFilterSpec struct {
	ExportV4 []BGPFilterRule `json:"exportV4,omitempty"`
	ImportV4 []BGPFilterRule `json:"importV4,omitempty"`
	ExportV6 []BGPFilterRule `json:"exportV6,omitempty"`
	ImportV6 []BGPFilterRule `json:"importV6,omitempty"`
}

// BGPFilterRule matches routes and accepts or rejects them. The same shape
// serves the V4 and V6 lists; validation checks the family.
type BGPFilterRule struct {
	CIDR          string                   `json:"cidr,omitempty"`
	PrefixLength  *BGPFilterPrefixLength   `json:"prefixLength,omitempty"`
	Source        string                   `json:"source,omitempty"`
	Interface     string                   `json:"interface,omitempty"`
	MatchOperator BGPFilterMatchOperator   `json:"matchOperator,omitempty"`
	PeerType      string                   `json:"peerType,omitempty"`
	Communities   *BGPFilterCommunityMatch `json:"communities,omitempty"`
	ASPathPrefix  []ASNumber               `json:"asPathPrefix,omitempty"`
	Priority      *int                     `json:"priority,omitempty"`
	Action        BGPFilterAction          `json:"action"`
	Operations    []BGPFilterOperation     `json:"operations,omitempty"`
}

// BGPFilterPrefixLength bounds the prefix length of matching routes.
type BGPFilterPrefixLength struct {
	Min *int32 `json:"min,omitempty"`
	Max *int32 `json:"max,omitempty"`
}

// BGPFilterCommunityMatch matches routes carrying a community.
type BGPFilterCommunityMatch struct {
	Values []string `json:"values"`
}

// BGPFilterOperation modifies an accepted route; set exactly one field.
type BGPFilterOperation struct {
	AddCommunity  *BGPFilterAddCommunity  `json:"addCommunity,omitempty"`
	PrependASPath *BGPFilterPrependASPath `json:"prependASPath,omitempty"`
	SetPriority   *BGPFilterSetPriority   `json:"setPriority,omitempty"`
}

// BGPFilterAddCommunity adds a community to a route.
type BGPFilterAddCommunity struct {
	Value string `json:"value"`
}

// BGPFilterPrependASPath prepends AS numbers to a route's AS path.
type BGPFilterPrependASPath struct {
	Prefix []ASNumber `json:"prefix"`
}

// BGPFilterSetPriority sets a route's priority.
type BGPFilterSetPriority struct {
	Value int `json:"value"`
}

// NewBGPFilter returns an empty BGPFilter with its type set.
func NewBGPFilter() *BGPFilter {
	return &BGPFilter{TypeMeta: TypeMeta{Kind: KindBGPFilter, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *BGPFilter) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *BGPFilter) DeepCopy() *BGPFilter { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *BGPFilter) DeepCopyResource() Resource { return r.DeepCopy() }
