package cni

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/gocalico/calico/internal/buildinfo"
	"github.com/gocalico/calico/internal/datastore"
)

// SupportedVersions are the CNI spec versions both plugins speak.
var SupportedVersions = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

// DefaultTimeout bounds one plugin invocation.
const DefaultTimeout = 2 * time.Minute

// Plugin holds what both plugins share. The zero value is not usable:
// use NewPlugin.
type Plugin struct {
	// Stdout receives results (os.Stdout in the binaries).
	Stdout io.Writer
	// Stderr receives logs when the config names no log file.
	Stderr io.Writer
	// Exec runs delegated (IPAM) plugins; nil: the real one.
	Exec invoke.Exec
	// Timeout bounds one invocation (DefaultTimeout when 0).
	Timeout time.Duration
	// RequestTimeout bounds each datastore request (the datastore
	// package's default when 0).
	RequestTimeout time.Duration
}

// NewPlugin returns a Plugin writing to the process's stdout and stderr.
func NewPlugin() *Plugin {
	return &Plugin{Stdout: os.Stdout, Stderr: os.Stderr}
}

// context bounds one invocation.
func (p *Plugin) context() (context.Context, context.CancelFunc) {
	t := p.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(context.Background(), t)
}

// logger builds the invocation's logger from the config: level
// log_level (default warning), to log_file_path or stderr. The returned
// func closes the log file.
func (p *Plugin) logger(cfg *Config, plugin string) (*slog.Logger, func()) {
	level := slog.LevelWarn
	switch strings.ToLower(cfg.LogLevel) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	w, closeFn := p.Stderr, func() {}
	if cfg.LogFilePath != "" {
		if f, err := os.OpenFile(cfg.LogFilePath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			w, closeFn = f, func() { f.Close() }
		}
	}
	if w == nil {
		w = io.Discard
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("plugin", plugin, "pid", os.Getpid())
	return log, closeFn
}

// connect opens the datastore named by cfg.
func (p *Plugin) connect(ctx context.Context, cfg *Config, log *slog.Logger) (datastore.Backend, error) {
	dc := cfg.Datastore
	if p.RequestTimeout > 0 {
		dc.RequestTimeout = p.RequestTimeout
		dc.DialTimeout = p.RequestTimeout
	}
	be, err := datastore.NewEtcd(ctx, dc, log)
	if err != nil {
		return nil, configErr("etcd_endpoints / datastore_socket / etcd TLS files: %v", err)
	}
	return be, nil
}

// ping checks that the datastore answers, and when it does not, says why
// for each endpoint (connection refused, no such socket, TLS failure, no
// answer in time); a refusal is told at once, not after the timeout.
func (p *Plugin) ping(r *run) error {
	timeout := r.cfg.Datastore.RequestTimeout
	if p.RequestTimeout > 0 {
		timeout = p.RequestTimeout
	}
	return datastore.Reach(r.ctx, r.be, r.cfg.Datastore, clusterInfoKey, timeout)
}

// clusterInfoKey is read to check that the datastore answers.
const clusterInfoKey = "/calico/resources/v3/projectcalico.org/clusterinformations/default"

// printResult writes r as the config's CNI version.
func (p *Plugin) printResult(r types.Result, cniVersion string) error {
	out, err := r.GetAsVersion(cniVersion)
	if err != nil {
		return types.NewError(types.ErrIncompatibleCNIVersion, "calico: result: "+err.Error(), "")
	}
	return out.PrintTo(p.Stdout)
}

// about is printed when a plugin binary runs without CNI_COMMAND.
func about(name string) string {
	return "CNI plugin " + name + " " + buildinfo.Version
}

// CalicoMain is the calico plugin's main: it dispatches on CNI_COMMAND,
// prints errors as CNI JSON and exits non-zero on failure.
func CalicoMain() {
	p := NewPlugin()
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add: p.CalicoAdd, Del: p.CalicoDel, Check: p.CalicoCheck, GC: p.CalicoGC, Status: p.CalicoStatus,
	}, SupportedVersions, about("calico"))
}

// IPAMMain is the calico-ipam plugin's main.
func IPAMMain() {
	p := NewPlugin()
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add: p.IPAMAdd, Del: p.IPAMDel, Check: p.IPAMCheck, GC: p.IPAMGC, Status: p.IPAMStatus,
	}, SupportedVersions, about("calico-ipam"))
}
