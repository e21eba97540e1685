package resources

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/buildinfo"
	"github.com/gocalico/calico/internal/datastore"
)

// EnsureInitialized creates, each only if missing, what every Calico
// datastore has: ClusterInformation "default" (a new cluster GUID,
// datastoreReady true, this build's version, clusterType) and the tiers
// default, kube-admin and kube-baseline. It changes nothing that exists,
// except that the ClusterInformation's calicoVersion and clusterType are
// brought up to date (upstream calico-node does the same at start).
func (c *Client) EnsureInitialized(ctx context.Context, clusterType string) error {
	var errs []error
	if err := c.ensureClusterInformation(ctx, clusterType); err != nil {
		errs = append(errs, err)
	}
	for _, t := range []struct {
		name   string
		order  float64
		action v3.Action
	}{
		{"default", v3.DefaultTierOrder, v3.Deny},
		{v3.KubeAdminTierName, v3.KubeAdminTierOrder, v3.Pass},
		{v3.KubeBaselineTierName, v3.KubeBaselineTierOrder, v3.Pass},
	} {
		tier := v3.NewTier()
		tier.Metadata.Name = t.name
		order, action := t.order, t.action
		tier.Spec.Order = &order
		tier.Spec.DefaultAction = &action
		if err := c.CreateIfMissing(ctx, tier); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CreateIfMissing creates r unless a resource of that kind and name exists.
func (c *Client) CreateIfMissing(ctx context.Context, r v3.Resource) error {
	_, err := c.Create(ctx, r)
	if err == nil || errors.Is(err, datastore.ErrExists) {
		return nil
	}
	return err
}

func (c *Client) ensureClusterInformation(ctx context.Context, clusterType string) error {
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := c.Get(ctx, "ClusterInformation", "", "default")
		if errors.Is(err, datastore.ErrNotFound) {
			ci := v3.NewClusterInformation()
			ci.Metadata.Name = "default"
			ci.Spec.ClusterGUID = newClusterGUID()
			ci.Spec.ClusterType = clusterType
			ci.Spec.CalicoVersion = buildinfo.Version
			ready := true
			ci.Spec.DatastoreReady = &ready
			if _, err = c.Create(ctx, ci); errors.Is(err, datastore.ErrExists) {
				continue
			}
			return err
		}
		if err != nil {
			return err
		}
		ci := cur.(*v3.ClusterInformation)
		if ci.Spec.CalicoVersion == buildinfo.Version && (clusterType == "" || ci.Spec.ClusterType == clusterType) {
			return nil
		}
		ci.Spec.CalicoVersion = buildinfo.Version
		if clusterType != "" {
			ci.Spec.ClusterType = clusterType
		}
		if _, err = c.Update(ctx, ci); errors.Is(err, datastore.ErrConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("ClusterInformation default: too many concurrent updates")
}

// newClusterGUID returns 32 hex digits, the form upstream uses.
func newClusterGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
