package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gocalico/calico/internal/datastore"
)

// Up builds a lab as cfg describes and returns it running and ready:
// namespaces, links, datastore, pools, endpoints and one calico-node per
// host, every agent ready and every host routing to every workload (its
// own, and with BGP every other host's). Each step is reported on
// progress (nil for none). On failure everything made so far is removed;
// an error of a lab that did not get ready says how far each host got.
func Up(ctx context.Context, cfg Config, progress io.Writer) (_ *Lab, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := preflight(cfg.Bin); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	if err := clearExisting(ctx, cfg, progress); err != nil {
		return nil, err
	}

	st := &state{
		Version:  stateVersion,
		Name:     cfg.Name,
		StateDir: cfg.StateDir,
		Bin:      cfg.Bin,
		IPv6:     !cfg.NoIPv6,
		LogLevel: cfg.LogLevel,
		Created:  time.Now().UTC().Truncate(time.Second),
		BGP:      cfg.BGP,
		Fabric:   Fabric{Namespace: fabricNamespace(cfg.Name), Bridge: fabricBridge, IPv4: fabricIPv4},
	}
	if st.IPv6 {
		st.Fabric.IPv6 = fabricIPv6
	}
	if cfg.EtcdCluster > 0 {
		st.Etcd = newEtcdMembers(cfg.StateDir, cfg.EtcdCluster)
	} else {
		st.Socket = socketPath(cfg.StateDir)
	}
	for i := 1; i <= cfg.Hosts; i++ {
		h := Host{Name: HostName(i), Index: i, Namespace: hostNamespace(cfg.Name, i), IPv4: hostIPv4(i)}
		if st.IPv6 {
			h.IPv6 = hostIPv6(i)
		}
		st.Hosts = append(st.Hosts, h)
	}
	l := newLab(st, progress)
	l.startTimeout = cfg.StartTimeout
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "logs"), 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if err := l.record(func(*state) {}); err != nil {
		os.RemoveAll(cfg.StateDir)
		return nil, err
	}
	defer func() {
		if err != nil {
			fmt.Fprintf(progress, "%s: up failed; removing what was made\n", cfg.Name)
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if derr := l.Down(dctx); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up: %w", derr))
			}
		}
	}()

	l.step("state in %s", cfg.StateDir)
	if err := l.addNamespace(ctx, st.Fabric.Namespace); err != nil {
		return nil, err
	}
	if err := buildFabric(st.Fabric); err != nil {
		return nil, err
	}
	l.step("fabric %s: bridge %s %s", st.Fabric.Namespace, st.Fabric.Bridge, joinAddrs(st.Fabric.IPv4, st.Fabric.IPv6))

	if err := l.StartDatastore(ctx); err != nil {
		return nil, err
	}
	if len(st.Etcd) > 0 {
		// What the embedded datastore's process creates at start.
		if err := l.initCluster(ctx); err != nil {
			return nil, err
		}
	}
	if err := l.createPools(ctx); err != nil {
		return nil, err
	}
	if st.IPv6 {
		l.step("ip pools %s and %s", PoolIPv4, PoolIPv6)
	} else {
		l.step("ip pool %s", PoolIPv4)
	}
	if cfg.FelixConfiguration != nil {
		if err := l.applyFelixConfiguration(ctx, cfg.FelixConfiguration); err != nil {
			return nil, err
		}
		l.step("FelixConfiguration default written")
	}

	if cfg.BGP != BGPNone {
		if err := l.writeBGPConfig(ctx, cfg); err != nil {
			return nil, err
		}
		l.step("bgp: %s", describeBGP(cfg))
	}
	if cfg.ExternalRouter {
		if err := l.startRouter(ctx); err != nil {
			return nil, err
		}
	}

	for _, h := range l.Hosts() {
		if err := l.addNamespace(ctx, h.Namespace); err != nil {
			return nil, err
		}
		if err := plugHost(st.Fabric, h); err != nil {
			return nil, err
		}
		l.step("host %s: namespace %s, eth0 %s", h.Name, h.Namespace, joinAddrs(h.IPv4, h.IPv6))
		for j := 1; j <= cfg.WorkloadsPerHost; j++ {
			w, err := l.NewWorkload(h.Name, j)
			if err != nil {
				return nil, err
			}
			if cfg.CNI {
				if _, err := l.AddWorkloadCNI(ctx, w); err != nil {
					return nil, err
				}
				continue
			}
			if err := l.AddWorkload(ctx, w); err != nil {
				return nil, err
			}
		}
	}
	for _, h := range l.Hosts() {
		if err := l.StartNode(ctx, h.Name); err != nil {
			return nil, err
		}
		node := l.mustHost(h.Name).Node
		if err := l.waitFor(ctx, node, "calico-node "+h.Name, l.startTimeout, l.nodeRegistered(h.Name)); err != nil {
			return nil, err
		}
		l.step("host %s: calico-node running (pid %d, log %s)", h.Name, node.PID, node.Log)
	}
	if cfg.BGP == BGPReflector {
		if err := l.makeReflectors(ctx, cfg.RouteReflectors); err != nil {
			return nil, err
		}
	}
	if err := l.waitReady(ctx, cfg.ReadyTimeout, cfg.FelixConfiguration); err != nil {
		return nil, err
	}
	l.step("up: %d host(s), %d workload(s); datastore %s", len(st.Hosts), len(l.Workloads()), l.Endpoints())
	return l, nil
}

func (l *Lab) mustHost(name string) Host {
	h, _ := l.Host(name)
	return h
}

// preflight checks what Up needs from the machine.
func preflight(bin string) error {
	if os.Geteuid() != 0 {
		return errors.New("a lab needs root (it creates network namespaces and veths): run it as root (sudo from an ordinary account)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("the ip command (iproute2) is not installed: apt-get install iproute2 (or make deps)")
	}
	for _, b := range []string{"calico-node", "calicoctl"} {
		p := filepath.Join(bin, b)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s not found in %s: build it first (make build)", b, bin)
		}
	}
	return nil
}

// clearExisting removes a stale lab of the same name, and a running one
// when cfg.Replace is set.
func clearExisting(ctx context.Context, cfg Config, progress io.Writer) error {
	if st, err := loadState(cfg.Name); err == nil {
		old := newLab(st, progress)
		if old.anyAlive(st) && !cfg.Replace {
			return fmt.Errorf("lab %q: %w (state %s): take it down with `calico-lab down --name %s`, or replace it",
				cfg.Name, ErrExists, stateFile(cfg.Name), cfg.Name)
		}
		fmt.Fprintf(progress, "%s: removing the previous lab of this name\n", cfg.Name)
	}
	_, err := Destroy(ctx, cfg.Name, progress)
	return err
}

func (l *Lab) addNamespace(ctx context.Context, ns string) error {
	// Recorded first: a half-made namespace is still removed on failure.
	if err := l.record(func(s *state) { s.addNamespace(ns) }); err != nil {
		return err
	}
	return createNamespace(ctx, ns)
}

// env is the environment of every lab process: the caller's, without any
// datastore or Calico settings, with the lab's datastore, and the lab's
// binaries first on PATH.
func (l *Lab) env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ETCD_") || strings.HasPrefix(k, "CALICO_") || k == "NODENAME" ||
			k == "NO_DEFAULT_POOLS" || k == "CLUSTER_TYPE" || k == "PATH" {
			continue
		}
		out = append(out, kv)
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	out = append(out, "PATH="+l.st.Bin+":"+path, datastore.EnvEndpoints+"="+l.Endpoints(), "CALICO_LAB="+l.st.Name)
	return append(out, extra...)
}
