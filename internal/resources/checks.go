package resources

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
)

// checkReferences runs the validation that needs the rest of the
// datastore: IP pools may not overlap, and a policy's tier must exist.
func (c *Client) checkReferences(ctx context.Context, r v3.Resource, creating bool) error {
	switch o := r.(type) {
	case *v3.IPPool:
		return c.checkPoolOverlap(ctx, o)
	case *v3.NetworkPolicy:
		return c.checkTier(ctx, o.Spec.Tier)
	case *v3.GlobalNetworkPolicy:
		return c.checkTier(ctx, o.Spec.Tier)
	case *v3.StagedNetworkPolicy:
		return c.checkTier(ctx, o.Spec.Tier)
	case *v3.StagedGlobalNetworkPolicy:
		return c.checkTier(ctx, o.Spec.Tier)
	}
	return nil
}

func (c *Client) checkTier(ctx context.Context, tier string) error {
	if tier == "" || tier == "default" {
		return nil
	}
	_, err := c.Get(ctx, "Tier", "", tier)
	if errors.Is(err, datastore.ErrNotFound) {
		return &v3.ValidationError{Kind: "Tier", Name: tier, Errors: []v3.FieldError{{
			Path: "spec.tier", Value: tier, Reason: "tier does not exist: create the Tier first",
		}}}
	}
	return err
}

func (c *Client) checkPoolOverlap(ctx context.Context, p *v3.IPPool) error {
	mine, err := netip.ParsePrefix(p.Spec.CIDR)
	if err != nil {
		return nil // Validate already reported it.
	}
	pools, _, err := c.List(ctx, "IPPool", ListOptions{})
	if err != nil {
		return fmt.Errorf("checking IP pool overlap: %w", err)
	}
	for _, r := range pools {
		other := r.(*v3.IPPool)
		if other.Metadata.Name == p.Metadata.Name {
			continue
		}
		theirs, err := netip.ParsePrefix(other.Spec.CIDR)
		if err != nil {
			continue
		}
		if mine.Overlaps(theirs) {
			return &v3.ValidationError{Kind: "IPPool", Name: p.Metadata.Name, Errors: []v3.FieldError{{
				Path: "spec.cidr", Value: p.Spec.CIDR,
				Reason: fmt.Sprintf("overlaps with IPPool %q (%s)", other.Metadata.Name, other.Spec.CIDR),
			}}}
		}
	}
	return nil
}

// checkImmutable rejects changes to fields that may not change after
// creation.
func checkImmutable(old, new v3.Resource) error {
	o, ok := old.(*v3.IPPool)
	if !ok {
		return nil
	}
	n := new.(*v3.IPPool)
	var errs []v3.FieldError
	if o.Spec.CIDR != n.Spec.CIDR {
		errs = append(errs, v3.FieldError{Path: "spec.cidr", Value: n.Spec.CIDR, Reason: fmt.Sprintf("may not change (was %s): create a new pool instead", o.Spec.CIDR)})
	}
	if o.Spec.BlockSize != n.Spec.BlockSize {
		errs = append(errs, v3.FieldError{Path: "spec.blockSize", Value: n.Spec.BlockSize, Reason: fmt.Sprintf("may not change (was %d)", o.Spec.BlockSize)})
	}
	if len(errs) > 0 {
		return &v3.ValidationError{Kind: "IPPool", Name: n.Metadata.Name, Errors: errs}
	}
	return nil
}
