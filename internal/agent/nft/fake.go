package nft

import (
	"context"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

var _ transport = (*fakeTransport)(nil)

// fakeTransport takes batches without a kernel, for tests and benchmarks
// that do not run as root. It keeps what was sent as one line per
// message ("newsetelem", "newrule", ...), and can refuse a message the
// way the kernel refuses a whole transaction.
type fakeTransport struct {
	batches [][]string
	// fail, when set, is asked about every message; an error fails the
	// transaction.
	fail func(i int, kind string) error
}

func (f *fakeTransport) send(_ context.Context, msgs []netlink.Message) (map[int]error, error) {
	kinds := make([]string, 0, len(msgs))
	var failed map[int]error
	for i, m := range msgs {
		k := msgKind(m)
		kinds = append(kinds, k)
		if f.fail != nil {
			if err := f.fail(i, k); err != nil {
				if failed == nil {
					failed = map[int]error{}
				}
				failed[i] = err
			}
		}
	}
	if len(kinds) < 2 || kinds[0] != "batch-begin" || kinds[len(kinds)-1] != "batch-end" {
		return nil, fmt.Errorf("fake: not a batch: %v", kinds)
	}
	f.batches = append(f.batches, kinds[1:len(kinds)-1])
	return failed, nil
}

var msgKinds = map[int]string{
	unix.NFT_MSG_NEWTABLE: "newtable", unix.NFT_MSG_DELTABLE: "deltable",
	unix.NFT_MSG_NEWCHAIN: "newchain", unix.NFT_MSG_DELCHAIN: "delchain",
	unix.NFT_MSG_NEWRULE: "newrule", unix.NFT_MSG_DELRULE: "delrule",
	unix.NFT_MSG_NEWSET: "newset", unix.NFT_MSG_DELSET: "delset",
	unix.NFT_MSG_NEWSETELEM: "newsetelem", unix.NFT_MSG_DELSETELEM: "delsetelem",
}

func msgKind(m netlink.Message) string {
	switch t := int(m.Header.Type); t {
	case unix.NFNL_MSG_BATCH_BEGIN:
		return "batch-begin"
	case unix.NFNL_MSG_BATCH_END:
		return "batch-end"
	default:
		if k, ok := msgKinds[t&0xff]; ok && t>>8 == unix.NFNL_SUBSYS_NFTABLES {
			return k
		}
		return fmt.Sprintf("type-%#x", t)
	}
}
