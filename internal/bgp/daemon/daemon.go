// Package daemon runs and supervises one BIRD 2 process for calico-node:
// it checks every new configuration with `bird -p` before it replaces
// the running one (written to a temporary file and renamed, so no reader
// ever sees half a file), applies it over the control socket, keeps the
// last good configuration when a new one is rejected, restarts BIRD with
// capped backoff when it dies, and stops it at the end without
// withdrawing routes from its peers (BIRD's graceful restart shutdown).
package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults of Config.
const (
	DefaultBinary = "bird"
	DefaultDir    = "/var/run/calico"
	minBackoff    = 500 * time.Millisecond
	maxBackoff    = 30 * time.Second
	// stopTimeout bounds how long a stopping BIRD may take before it is
	// killed.
	stopTimeout = 5 * time.Second
	// configureTimeout bounds how long a running BIRD may take to
	// answer a reconfiguration (retrying while its socket is not
	// there yet) before it is restarted.
	configureTimeout = 5 * time.Second
)

// File names inside Config.Dir.
const (
	ConfigFile = "bird.conf"
	SocketFile = "bird.ctl"
	PIDFile    = "bird.pid"
	StatusFile = "bird.status.json"
)

// Controller is what the daemon needs of BIRD's control socket.
type Controller interface {
	// Configure makes the BIRD listening on socket load the
	// configuration file path, returning BIRD's reason when it refuses.
	Configure(ctx context.Context, socket, path string) error
	// GracefulShutdown asks the BIRD listening on socket to shut down
	// for a graceful restart: its peers keep its routes until it is
	// back or their restart timers run out.
	GracefulShutdown(ctx context.Context, socket string) error
}

// Config configures a Daemon.
type Config struct {
	// Binary is the BIRD 2 executable (default "bird", looked up on
	// PATH, then /usr/sbin/bird).
	Binary string
	// Dir holds the configuration file, the control socket, the PID
	// file and the status file (default /var/run/calico). It is made if
	// missing.
	Dir string
	// Socket is the control socket (default Dir/bird.ctl).
	Socket string
	// Control talks to the control socket (default SocketControl).
	Control Controller
	// Log may be nil.
	Log *slog.Logger
	// OnStatus, when set, is called (from any goroutine) whenever the
	// status changes.
	OnStatus func(Status)
}

// Status is the daemon's state, as the status file and health report it.
type Status struct {
	// Running is true while a BIRD process started by the daemon runs.
	Running bool `json:"running"`
	PID     int  `json:"pid,omitempty"`
	// Restarts counts BIRD processes started after the first.
	Restarts int `json:"restarts"`
	// ConfigHash is the SHA-256 of the configuration BIRD runs (or will
	// run at its next start).
	ConfigHash string `json:"configHash,omitempty"`
	// Applied is when that configuration was applied.
	Applied time.Time `json:"applied,omitzero"`
	// Rejected is the reason the newest configuration was not applied
	// ("" when the newest one is the one running), and RejectedAt when.
	Rejected   string    `json:"rejected,omitempty"`
	RejectedAt time.Time `json:"rejectedAt,omitzero"`
	// LastExit says how the previous BIRD process ended, if it ended
	// without being asked to.
	LastExit string `json:"lastExit,omitempty"`
}

// ErrRejected wraps the reason a configuration was not applied.
var ErrRejected = errors.New("BIRD configuration rejected")

// Daemon supervises one BIRD process. Apply may be called from any
// goroutine; Run runs the process.
type Daemon struct {
	cfg  Config
	log  *slog.Logger
	conf string // Dir/bird.conf

	mu      sync.Mutex // serialises Apply and process changes
	status  Status
	good    []byte // the last configuration that passed checks
	proc    *process
	applied chan struct{} // closed by the first successful Apply
	once    sync.Once
	// waiting is closed when Run starts waiting for the first
	// configuration: what Run did before it is done (tests wait on it).
	waiting chan struct{}
}

// New returns a Daemon for cfg. Nothing starts until Run.
func New(cfg Config) (*Daemon, error) {
	if cfg.Control == nil {
		cfg.Control = SocketControl{}
	}
	if cfg.Dir == "" {
		cfg.Dir = DefaultDir
	}
	if cfg.Socket == "" {
		cfg.Socket = filepath.Join(cfg.Dir, SocketFile)
	}
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary
	}
	bin, err := lookBinary(cfg.Binary)
	if err != nil {
		return nil, err
	}
	cfg.Binary = bin
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Daemon{
		cfg:     cfg,
		log:     cfg.Log,
		conf:    filepath.Join(cfg.Dir, ConfigFile),
		applied: make(chan struct{}),
		waiting: make(chan struct{}),
	}, nil
}

// lookBinary finds BIRD: as given, on PATH, or in /usr/sbin (not on every
// PATH).
func lookBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if !strings.Contains(name, "/") {
		if p, err := exec.LookPath(filepath.Join("/usr/sbin", name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("BIRD executable %q not found (install bird2: make deps)", name)
}

// Socket returns the control socket's path.
func (d *Daemon) Socket() string { return d.cfg.Socket }

// Status returns the current status.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// Apply checks conf with `bird -p` and makes it BIRD's configuration: the
// file is replaced atomically and a running BIRD reconfigured. When BIRD
// refuses it, the previous good configuration stays in place and running,
// and the error wraps ErrRejected with BIRD's reason. Applying the
// configuration already in place does nothing.
func (d *Daemon) Apply(ctx context.Context, conf []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	hash := hashOf(conf)
	if d.good != nil && hash == d.status.ConfigHash {
		if d.status.Rejected != "" {
			// Back to the good configuration: nothing is pending.
			d.status.Rejected, d.status.RejectedAt = "", time.Time{}
			d.publish()
		}
		return nil
	}
	if err := os.MkdirAll(d.cfg.Dir, 0o750); err != nil {
		return fmt.Errorf("BIRD directory: %w", err)
	}
	tmp := d.conf + ".new"
	if err := writeFileSync(tmp, conf); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := d.check(ctx, tmp); err != nil {
		os.Remove(tmp)
		return d.reject(err)
	}
	if err := os.Rename(tmp, d.conf); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replacing %s: %w", d.conf, err)
	}
	if d.proc != nil && d.proc.running() {
		err := d.configure(ctx)
		var refused *Refused
		switch {
		case errors.As(err, &refused):
			// Passed the parse check but BIRD refused it: put the
			// good one back so that a restart runs it too.
			if d.good != nil {
				if werr := writeAtomic(d.conf, d.good); werr != nil {
					d.log.Error("restoring the previous BIRD configuration failed", "file", d.conf, "error", werr)
				}
			}
			return d.reject(err)
		case err != nil && ctx.Err() == nil:
			// BIRD runs but does not answer on its socket (the
			// socket file vanished, or BIRD hangs): restart it on
			// the new file. SIGKILL sends no notification, so its
			// peers keep its routes meanwhile.
			d.log.Error("BIRD does not answer on its control socket; restarting it", "socket", d.cfg.Socket, "error", err)
			d.proc.kill()
		case err != nil:
			return err
		}
	}
	d.good = bytes.Clone(conf)
	d.status.ConfigHash = hash
	d.status.Applied = time.Now().UTC()
	d.status.Rejected, d.status.RejectedAt = "", time.Time{}
	d.publish()
	d.log.Info("BIRD configuration applied", "file", d.conf, "sha256", hash[:12], "running", d.proc != nil && d.proc.running())
	d.once.Do(func() { close(d.applied) })
	return nil
}

func (d *Daemon) reject(err error) error {
	d.status.Rejected = err.Error()
	d.status.RejectedAt = time.Now().UTC()
	d.publish()
	d.log.Error("BIRD configuration rejected; keeping the previous one", "reason", err.Error())
	return fmt.Errorf("%w: %w", ErrRejected, err)
}

// check runs `bird -p -c path`.
func (d *Daemon) check(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, d.cfg.Binary, "-p", "-c", path).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(msg)
	}
	return nil
}

// configure reloads the running BIRD, retrying while its socket is not
// there yet (a BIRD that is just starting).
func (d *Daemon) configure(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, configureTimeout)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		err := d.cfg.Control.Configure(ctx, d.cfg.Socket, d.conf)
		if err == nil || errors.Is(err, ErrRejected) || !d.proc.running() {
			return err
		}
		var refused *Refused
		if errors.As(err, &refused) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("reconfiguring BIRD over %s: %w", d.cfg.Socket, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// Refused is returned by a Controller when BIRD answered and refused the
// configuration (as opposed to not answering).
type Refused struct{ Reason string }

func (r *Refused) Error() string { return r.Reason }

// Run starts BIRD once the first configuration has been applied, restarts
// it with capped backoff when it ends, and stops it when ctx ends (a
// graceful-restart shutdown, so peers keep the routes). A BIRD left
// running by an earlier calico-node (its PID file names a live bird
// using this socket) is stopped first.
func (d *Daemon) Run(ctx context.Context) error {
	close(d.waiting)
	select {
	case <-ctx.Done():
		return nil
	case <-d.applied:
	}
	d.killStale()
	backoff := time.Duration(0)
	for first := true; ; first = false {
		p, err := d.start(!first)
		if err != nil {
			d.log.Error("starting BIRD failed", "error", err)
		} else {
			started := time.Now()
			select {
			case <-ctx.Done():
				d.stop(p)
				return nil
			case <-p.done:
			}
			d.mu.Lock()
			d.status.Running, d.status.PID = false, 0
			d.status.LastExit = p.exitReason()
			d.publish()
			d.mu.Unlock()
			d.log.Error("BIRD exited; restarting", "exit", p.exitReason(), "ranFor", time.Since(started).Round(time.Millisecond))
			if time.Since(started) > 2*maxBackoff {
				backoff = 0 // it ran well for a while
			}
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// start starts BIRD on the current configuration file. A restarted BIRD
// runs with -R: it keeps the kernel routes it finds until its sessions
// are back (graceful restart recovery).
func (d *Daemon) start(restart bool) (*process, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// A stale socket file makes BIRD fail to bind.
	os.Remove(d.cfg.Socket)
	argv := []string{"-f", "-R", "-c", d.conf, "-s", d.cfg.Socket, "-P", filepath.Join(d.cfg.Dir, PIDFile)}
	p, err := startProcess(d.cfg.Binary, argv, d.log.With("component", "bird"))
	if err != nil {
		return nil, err
	}
	d.proc = p
	d.status.Running, d.status.PID = true, p.pid
	if restart {
		d.status.Restarts++
	}
	d.publish()
	d.log.Info("BIRD started", "pid", p.pid, "config", d.conf, "socket", d.cfg.Socket)
	return p, nil
}

// stop shuts p down for a graceful restart, killing it if it does not
// end in time.
func (d *Daemon) stop(p *process) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := d.cfg.Control.GracefulShutdown(ctx, d.cfg.Socket); err != nil {
		d.log.Warn("graceful BIRD shutdown failed; killing it", "error", err)
		p.kill()
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		d.log.Warn("BIRD did not stop in time; killing it", "pid", p.pid)
		p.kill()
		<-p.done
	}
	d.mu.Lock()
	d.status.Running, d.status.PID = false, 0
	d.publish()
	d.mu.Unlock()
	d.log.Info("BIRD stopped", "pid", p.pid)
}

// killStale kills a BIRD left behind by an earlier run: the PID file's
// process, if it is a bird serving this socket. SIGKILL, so that it
// sends no notification and its peers keep its routes (graceful restart).
func (d *Daemon) killStale() {
	b, err := os.ReadFile(filepath.Join(d.cfg.Dir, PIDFile))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || filepath.Base(args[0]) != filepath.Base(d.cfg.Binary) || !containsPair(args, "-s", d.cfg.Socket) {
		return
	}
	d.log.Warn("stopping a BIRD left by an earlier run", "pid", pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return
	}
	for range 100 {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func containsPair(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}

// publish writes the status file and calls OnStatus. Called with mu held.
func (d *Daemon) publish() {
	st := d.status
	if b, err := marshalStatus(st); err == nil {
		if err := os.MkdirAll(d.cfg.Dir, 0o750); err == nil {
			if err := writeAtomic(filepath.Join(d.cfg.Dir, StatusFile), b); err != nil {
				d.log.Warn("writing the BGP status file failed", "error", err)
			}
		}
	}
	if d.cfg.OnStatus != nil {
		d.cfg.OnStatus(st)
	}
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeFileSync writes b to path and syncs it.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeAtomic replaces path with b: written beside it, then renamed.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, b); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// process is one running BIRD.
type process struct {
	pid     int
	done    chan struct{}
	waitErr error
	proc    *os.Process
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *process) kill() { _ = p.proc.Signal(syscall.SIGKILL) }

func (p *process) exitReason() string {
	if p.waitErr == nil {
		return "exited with status 0"
	}
	return p.waitErr.Error()
}

// startProcess starts BIRD with its output logged line by line. The
// child gets SIGKILL if calico-node dies (Pdeathsig): a BIRD must not
// outlive the process that configures it, and SIGKILL sends no
// notification, so its peers keep its routes until it is back. Pdeathsig
// follows the thread that started the child, so that thread stays locked
// to the starting goroutine for the child's whole life.
func startProcess(bin string, argv []string, log *slog.Logger) (*process, error) {
	started := make(chan error, 1)
	p := &process{done: make(chan struct{})}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(bin, argv...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		pr, pw, err := os.Pipe()
		if err != nil {
			started <- err
			return
		}
		cmd.Stdout, cmd.Stderr = pw, pw
		if err := cmd.Start(); err != nil {
			pr.Close()
			pw.Close()
			started <- fmt.Errorf("start %s: %w", bin, err)
			return
		}
		pw.Close()
		p.pid, p.proc = cmd.Process.Pid, cmd.Process
		logged := make(chan struct{})
		go func() {
			defer close(logged)
			logLines(pr, log)
		}()
		started <- nil
		p.waitErr = cmd.Wait()
		<-logged
		pr.Close()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// logLines logs BIRD's output. BIRD prefixes its own timestamps; the
// level follows BIRD's class tag.
func logLines(r io.Reader, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "<ERR>") || strings.Contains(line, "<BUG>") || strings.Contains(line, "<FATAL>"):
			log.Error(line)
		case strings.Contains(line, "<WARN>") || strings.Contains(line, "<RMT>"):
			log.Warn(line)
		case strings.Contains(line, "<TRACE>") || strings.Contains(line, "<DBG>"):
			log.Debug(line)
		default:
			log.Info(line)
		}
	}
}
