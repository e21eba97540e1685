package calicoctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/ipam"
	"github.com/gocalico/calico/internal/notimpl"
)

func newIPAMCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ipam",
		Short: "Show, check and repair IP address management",
		Long: `IP address management: how the IP pools' blocks are used, which addresses
are allocated and to whom, a consistency check that finds leaked addresses
and other leftovers (of a crashed plugin, a deleted node), their release,
and the cluster-wide IPAM configuration.`,
		Args: usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newIPAMShowCommand(a), newIPAMCheckCommand(a), newIPAMReleaseCommand(a), newIPAMConfigureCommand(a))
	return cmd
}

// ipamClient connects and returns an IPAM client, the context its
// requests run in (bounded by timeout), and a func that releases both.
func (a *app) ipamClient(cmd *cobra.Command, timeout time.Duration) (context.Context, *ipam.Client, func(), error) {
	ctx, c, _, done, err := a.ipamBackend(cmd, timeout)
	return ctx, c, done, err
}

// ipamBackend is ipamClient that also returns the backend.
func (a *app) ipamBackend(cmd *cobra.Command, timeout time.Duration) (context.Context, *ipam.Client, datastore.Backend, func(), error) {
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	c, done, err := a.connect(ctx)
	if err != nil {
		cancel()
		return nil, nil, nil, nil, err
	}
	return ctx, ipam.New(c.Backend(), a.logger()), c.Backend(), func() { done(); cancel() }, nil
}

func newIPAMShowCommand(a *app) *cobra.Command {
	var showBlocks, showConfig bool
	var ip string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show how the IP pools are used, or who holds an address",
		Long: `Without flags, show each IP pool's size and how many of its addresses are
in use. --show-blocks adds a line per block (with the host it is affine
to); --ip shows whether one address is allocated, to which handle, with
what attributes; --show-configuration shows the IPAM configuration.`,
		Example: `  calicoctl ipam show
  calicoctl ipam show --show-blocks
  calicoctl ipam show --ip=10.65.1.3
  calicoctl ipam show --show-configuration`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var addr netip.Addr
			if ip != "" {
				var err error
				if addr, err = netip.ParseAddr(ip); err != nil {
					return usagef("--ip %q: not an IP address", ip)
				}
			}
			ctx, c, be, done, err := a.ipamBackend(cmd, a.timeout)
			if err != nil {
				return err
			}
			defer done()
			switch {
			case showConfig:
				cfg, err := c.Config(ctx)
				if err != nil {
					return err
				}
				printBoxTable(a.stdout, [][]string{{"PROPERTY", "VALUE"},
					{"StrictAffinity", strconv.FormatBool(cfg.StrictAffinity)},
					{"AutoAllocateBlocks", strconv.FormatBool(cfg.AutoAllocateBlocks)},
					{"MaxBlocksPerHost", strconv.Itoa(cfg.MaxBlocksPerHost)}})
				// Fields kept from upstream's tools but not acted on.
				if kv, err := be.Get(ctx, notimpl.IPAMConfigKey); err == nil {
					for _, f := range notimpl.FindRaw(kv.Key, kv.Value) {
						fmt.Fprintf(a.stderr, "Warning: %s\n", f)
					}
				}
				return nil
			case addr.IsValid():
				info, err := c.Lookup(ctx, addr)
				if err != nil {
					return err
				}
				printIPInfo(a.stdout, info)
				return nil
			}
			usage, err := c.Usage(ctx)
			if err != nil {
				return err
			}
			printUsage(a.stdout, usage, showBlocks)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&showBlocks, "show-blocks", false, "also show each block")
	f.StringVar(&ip, "ip", "", "show who holds this address")
	f.BoolVar(&showConfig, "show-configuration", false, "show the IPAM configuration")
	return cmd
}

func printIPInfo(w io.Writer, info *ipam.IPInfo) {
	switch {
	case info.Pool == "" && !info.Block.IsValid():
		fmt.Fprintf(w, "IP %s is not in any configured pool\n", info.IP)
	case !info.Allocated:
		fmt.Fprintf(w, "IP %s is not assigned\n", info.IP)
	default:
		fmt.Fprintf(w, "IP %s is in use\n", info.IP)
		fmt.Fprintf(w, "Handle: %s\n", info.Handle)
		if len(info.Attrs) > 0 {
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range info.Attrs {
					if !yield(k) {
						return
					}
				}
			})
			fmt.Fprintln(w, "Attributes:")
			for _, k := range keys {
				fmt.Fprintf(w, "  %s: %s\n", k, info.Attrs[k])
			}
		}
	}
	if info.Block.IsValid() {
		host := info.BlockHost
		if host == "" {
			host = "(none)"
		}
		fmt.Fprintf(w, "Block: %s, affine to %s\n", info.Block, host)
	}
}

func printUsage(w io.Writer, usage []ipam.PoolUsage, blocks bool) {
	rows := [][]string{{"GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"}}
	// Pools may hold 2^80 addresses and more: counted in big numbers.
	pct := func(n, of *big.Int) string {
		if of.Sign() == 0 {
			return "0"
		}
		p := new(big.Int).Mul(n, big.NewInt(100))
		p.Add(p, new(big.Int).Rsh(of, 1)).Quo(p, of)
		return fmt.Sprintf("%s (%s%%)", n, p)
	}
	line := func(group, cidr string, size *big.Int, inUse int) []string {
		used := big.NewInt(int64(inUse))
		free := new(big.Int).Sub(size, used)
		return []string{group, cidr, size.String(), pct(used, size), pct(free, size)}
	}
	for _, p := range usage {
		if p.Name != "" {
			rows = append(rows, line("IP Pool", p.CIDR.String(), new(big.Int).Lsh(big.NewInt(1), uint(p.SizeBits)), p.InUse))
		}
		if !blocks {
			continue
		}
		for _, b := range p.Blocks {
			group := "Block"
			if p.Name == "" {
				group = "Block (no pool)"
			}
			rows = append(rows, line(group, b.CIDR.String(), big.NewInt(int64(b.Size)), b.InUse))
		}
	}
	printBoxTable(w, rows)
	if blocks {
		hosts := [][]string{{"BLOCK", "AFFINITY"}}
		for _, p := range usage {
			for _, b := range p.Blocks {
				h := "(none)"
				if b.Host != "" {
					h = "host:" + b.Host
				}
				hosts = append(hosts, []string{b.CIDR.String(), h})
			}
		}
		if len(hosts) > 1 {
			fmt.Fprintln(w)
			printBoxTable(w, hosts)
		}
	}
}

func newIPAMCheckCommand(a *app) *cobra.Command {
	var output string
	var showProblemIPs bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check IPAM for leaked addresses and leftovers",
		Long: `Read every block, handle and affinity, and the WorkloadEndpoints and Nodes that
use addresses, and report what does not add up:

  - leaked addresses: allocated, but no WorkloadEndpoint or Node uses them;
  - allocations whose handle is missing;
  - handles whose counts disagree with the blocks (a writer died between
    its two writes);
  - affinities left pending, without their block, or to another host's block;
  - blocks affine to a host that has no Node.

With -o, the report is written to a file as JSON, for
"calicoctl ipam release --from-report". The exit status is 0 whether or not
problems were found; the summary says how many.`,
		Example: `  calicoctl ipam check
  calicoctl ipam check --show-problem-ips -o report.json
  calicoctl ipam release --from-report report.json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := a.ipamClient(cmd, a.timeout*10)
			if err != nil {
				return err
			}
			defer done()
			r, err := c.Check(ctx)
			if err != nil {
				return err
			}
			printReport(a.stdout, r, showProblemIPs)
			if output != "" {
				v, err := json.MarshalIndent(r, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(output, append(v, '\n'), 0o644); err != nil {
					return fmt.Errorf("write the report: %w", err)
				}
				fmt.Fprintf(a.stdout, "Report written to %s\n", output)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "", "write the report to this file (JSON)")
	f.BoolVar(&showProblemIPs, "show-problem-ips", false, "list each leaked address")
	return cmd
}

func printReport(w io.Writer, r *ipam.Report, ips bool) {
	fmt.Fprintf(w, "Found %d allocated addresses, %d in use by WorkloadEndpoints or Nodes.\n", r.Allocations, r.InUse)
	fmt.Fprintf(w, "Found %d leaked addresses (allocated, not in use).\n", len(r.Leaked))
	if ips {
		for _, l := range r.Leaked {
			fmt.Fprintf(w, "  %s  handle %q  %s\n", l.IP, l.Handle, attrString(l.Attrs))
		}
	}
	fmt.Fprintf(w, "Found %d allocations whose handle is missing.\n", len(r.MissingHandles))
	for _, m := range r.MissingHandles {
		fmt.Fprintf(w, "  %s  handle %q\n", m.IP, m.Handle)
	}
	fmt.Fprintf(w, "Found %d handles whose counts disagree with the blocks.\n", len(r.DanglingHandles))
	for _, h := range r.DanglingHandles {
		fmt.Fprintf(w, "  %s  counts %v, blocks hold %v\n", h.Handle, h.Counts, h.Actual)
	}
	fmt.Fprintf(w, "Found %d stray affinities.\n", len(r.StrayAffinities))
	for _, s := range r.StrayAffinities {
		fmt.Fprintf(w, "  %s of %s: %s\n", s.Block, s.Host, s.Problem)
	}
	fmt.Fprintf(w, "Found %d blocks affine to hosts that have no Node.\n", len(r.OrphanBlocks))
	for _, b := range r.OrphanBlocks {
		fmt.Fprintf(w, "  %s of %s\n", b.Block, b.Host)
	}
	if len(r.Unreadable) > 0 {
		fmt.Fprintf(w, "Skipped %d unreadable keys:\n", len(r.Unreadable))
		for _, k := range r.Unreadable {
			fmt.Fprintf(w, "  %s\n", k)
		}
	}
	fmt.Fprintf(w, "Check complete: %d problems.\n", r.Problems())
}

func attrString(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

func newIPAMReleaseCommand(a *app) *cobra.Command {
	var ip, report string
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Release one address, or what a check report found",
		Long: `--ip releases one allocated address (whoever holds it: make sure nothing
uses it). --from-report repairs what "calicoctl ipam check -o" found: it
releases the leaked addresses that are still the same allocation (the
report records each allocation's sequence number, so an address released
and given out again since is left alone), sets handles to what the blocks
hold, confirms or deletes stray affinities, and releases the empty blocks
of hosts that have no Node.`,
		Example: `  calicoctl ipam release --ip=10.65.1.3
  calicoctl ipam release --from-report report.json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (ip == "") == (report == "") {
				return usagef("give exactly one of --ip and --from-report")
			}
			var addr netip.Addr
			var r ipam.Report
			if ip != "" {
				var err error
				if addr, err = netip.ParseAddr(ip); err != nil {
					return usagef("--ip %q: not an IP address", ip)
				}
			} else {
				v, err := os.ReadFile(report)
				if err != nil {
					return fmt.Errorf("read the report: %w", err)
				}
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("report %s: %w", report, err)
				}
				if r.Version != ipam.ReportVersion {
					return fmt.Errorf("report %s: version %q, this calicoctl reads %q", report, r.Version, ipam.ReportVersion)
				}
			}
			ctx, c, done, err := a.ipamClient(cmd, a.timeout*10)
			if err != nil {
				return err
			}
			defer done()
			if addr.IsValid() {
				left, err := c.ReleaseIPs(ctx, []netip.Addr{addr})
				if err != nil {
					return err
				}
				if len(left) > 0 {
					return fmt.Errorf("IP %s is not assigned", addr)
				}
				fmt.Fprintf(a.stdout, "Successfully released IP %s\n", addr)
				return nil
			}
			rep, err := c.ReleaseReport(ctx, &r)
			if rep != nil {
				fmt.Fprintf(a.stdout, "Released %d leaked addresses; left %d that changed since the check.\n", len(rep.Released), len(rep.Changed))
				fmt.Fprintf(a.stdout, "Fixed %d handles and %d affinities; released %d blocks of missing nodes.\n",
					len(rep.HandlesFixed), len(rep.AffinitiesFixed), len(rep.BlocksReleased))
				for _, s := range rep.Skipped {
					fmt.Fprintf(a.stdout, "Left: %s\n", s)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&ip, "ip", "", "the address to release")
	f.StringVar(&report, "from-report", "", "a report written by \"calicoctl ipam check -o\"")
	return cmd
}

func newIPAMConfigureCommand(a *app) *cobra.Command {
	var strict string
	var maxBlocks int
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Change the IPAM configuration",
		Long: `Set strict affinity (a host never borrows addresses from another host's
blocks) and the cap on blocks per host (0: none; a cap needs strict
affinity).`,
		Example: `  calicoctl ipam configure --strictaffinity=true
  calicoctl ipam configure --strictaffinity=true --max-blocks-per-host=4`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strict == "" && !cmd.Flags().Changed("max-blocks-per-host") {
				return usagef("nothing to change: give --strictaffinity and/or --max-blocks-per-host")
			}
			ctx, c, done, err := a.ipamClient(cmd, a.timeout)
			if err != nil {
				return err
			}
			defer done()
			cfg, err := c.Config(ctx)
			if err != nil {
				return err
			}
			if strict != "" {
				v, err := strconv.ParseBool(strict)
				if err != nil {
					return usagef("--strictaffinity %q: use true or false", strict)
				}
				cfg.StrictAffinity = v
			}
			if cmd.Flags().Changed("max-blocks-per-host") {
				if maxBlocks < 0 {
					return usagef("--max-blocks-per-host %d: must be 0 or more", maxBlocks)
				}
				cfg.MaxBlocksPerHost = maxBlocks
			}
			if cfg.MaxBlocksPerHost > 0 && !cfg.StrictAffinity {
				return usagef("--max-blocks-per-host needs strict affinity (--strictaffinity=true)")
			}
			if err := c.SetConfig(ctx, cfg); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "Successfully set IPAM configuration")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&strict, "strictaffinity", "", "true or false")
	f.IntVar(&maxBlocks, "max-blocks-per-host", 0, "the most blocks one host may claim (0: no cap)")
	return cmd
}
