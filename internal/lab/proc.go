package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStat is what the lab reads from /proc/<pid>/stat.
type procStat struct {
	State     byte   // R, S, D, Z, ...
	StartTime uint64 // clock ticks after boot
}

// parseProcStat parses the contents of /proc/<pid>/stat. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from
// the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("no ')' in stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("stat has %d fields after the command", len(f))
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("stat starttime %q: %w", f[19], err)
	}
	return procStat{State: f[0][0], StartTime: st}, nil
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// startProcess starts argv inside the named namespace with `ip netns
// exec` (which execs in place, so the PID is the daemon's, and gives the
// daemon a /sys of its namespace), in a session of its own, with stdout
// and stderr appended to logPath. The process outlives this one.
func (l *Lab) startProcess(ns string, argv []string, env []string, logPath string) (Process, error) {
	return l.startProcessIn(ns, "", argv, env, logPath)
}

// startProcessIn is startProcess with the working directory dir ("" for
// this process's).
func (l *Lab) startProcessIn(ns, dir string, argv []string, env []string, logPath string) (Process, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return Process{}, fmt.Errorf("log file: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- calico-lab: %s: ip netns exec %s %s\n", time.Now().Format(time.RFC3339), ns, strings.Join(argv, " "))
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Process{}, fmt.Errorf("start %s in %s: %w", argv[0], ns, err)
	}
	p := Process{PID: cmd.Process.Pid, Namespace: ns, Argv: argv, Log: logPath}
	// Reap it when it ends, so this process never keeps a zombie.
	done := make(chan struct{})
	l.mu.Lock()
	l.reaped[p.PID] = done
	l.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	st, err := readProcStat(p.PID)
	if err != nil {
		// It has already ended: not ours to look up any more. Once it
		// is reaped, its log is complete.
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		return p, fmt.Errorf("%s in %s exited at once; last lines of %s:\n%s", argv[0], ns, logPath, tail(logPath, 15))
	}
	p.StartTime = st.StartTime
	return p, nil
}

// alive reports whether p is still the running process the lab started.
func (l *Lab) alive(p Process) bool {
	if p.PID <= 0 {
		return false
	}
	l.mu.Lock()
	done, ok := l.reaped[p.PID]
	l.mu.Unlock()
	if ok {
		select {
		case <-done:
			return false
		default:
		}
	}
	st, err := readProcStat(p.PID)
	if err != nil {
		return false
	}
	return st.State != 'Z' && st.State != 'X' && (p.StartTime == 0 || st.StartTime == p.StartTime)
}

// signal sends sig to p if it is still the process the lab started.
func (l *Lab) signal(p Process, sig syscall.Signal) error {
	if !l.alive(p) {
		return nil
	}
	if err := syscall.Kill(p.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to pid %d: %w", sig, p.PID, err)
	}
	return nil
}

// waitExit polls until p has ended or ctx is done.
func (l *Lab) waitExit(ctx context.Context, p Process) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for l.alive(p) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pid %d (%s) still running: %w", p.PID, p.Argv[0], ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// stop ends p: SIGTERM, then after grace SIGKILL to its process group
// (its own session, so only what it started), then waits.
func (l *Lab) stop(ctx context.Context, p Process, grace time.Duration) error {
	if !l.alive(p) {
		return nil
	}
	if err := l.signal(p, syscall.SIGTERM); err != nil {
		return err
	}
	gctx, cancel := context.WithTimeout(ctx, grace)
	err := l.waitExit(gctx, p)
	cancel()
	if err == nil {
		return nil
	}
	if l.alive(p) {
		if err := syscall.Kill(-p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill process group %d: %w", p.PID, err)
		}
	}
	return l.waitExit(ctx, p)
}

// killStray ends any process left in a lab namespace that the lab did not
// record (a command run with exec, a child of a daemon): SIGTERM, a short
// wait, then SIGKILL. Each is found by its namespace, so nothing outside
// the lab is touched.
func killStray(ctx context.Context, ns string) error {
	pids, err := pidsInNamespace(ns)
	if err != nil || len(pids) == 0 {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		pids, err = pidsInNamespace(ns)
		if err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for range 100 {
		pids, err = pidsInNamespace(ns)
		if err != nil || len(pids) == 0 {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("namespace %s: processes %v did not end", ns, pids)
}
