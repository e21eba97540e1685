package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Down stops the lab's processes (SIGTERM, then SIGKILL), ends anything
// else running in its namespaces, deletes the namespaces and removes the
// state. It carries on past errors and returns them all.
func (l *Lab) Down(ctx context.Context) error {
	_ = l.Close()
	st := l.snapshot()
	var errs []error
	for _, h := range st.Hosts {
		if l.alive(h.Node) {
			l.step("stopping calico-node on %s (pid %d)", h.Name, h.Node.PID)
			errs = append(errs, l.stop(ctx, h.Node, 10*time.Second))
		}
	}
	if r := st.Router; r != nil {
		for _, p := range []Process{r.BGPD, r.Zebra} {
			if l.alive(p) {
				l.step("stopping %s on the external router (pid %d)", filepath.Base(p.Argv[0]), p.PID)
				errs = append(errs, l.stop(ctx, p, 10*time.Second))
			}
		}
	}
	if l.alive(st.Datastore) {
		l.step("stopping the datastore (pid %d)", st.Datastore.PID)
		errs = append(errs, l.stop(ctx, st.Datastore, 10*time.Second))
	}
	for _, m := range st.Etcd {
		if l.alive(m.Process) {
			l.step("stopping etcd member %s (pid %d)", m.Name, m.Process.PID)
			errs = append(errs, l.stop(ctx, m.Process, 10*time.Second))
		}
	}
	errs = append(errs, removeNamespaces(ctx, st.Name, st.Namespaces, l.progress))
	errs = append(errs, removeState(st.Name, st.StateDir))
	l.step("down")
	return errors.Join(errs...)
}

// Destroy removes whatever is left of the lab called name: a lab from its
// state file, or namespaces and a state directory without one. It
// reports whether there was anything to remove.
func Destroy(ctx context.Context, name string, progress io.Writer) (bool, error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	if progress == nil {
		progress = io.Discard
	}
	if l, err := Load(name); err == nil {
		l.SetProgress(progress)
		return true, l.Down(ctx)
	}
	nss, err := ownedNamespaces(name)
	if err != nil {
		return false, err
	}
	_, statErr := os.Stat(defaultDir(name))
	if len(nss) == 0 && statErr != nil {
		return false, nil
	}
	fmt.Fprintf(progress, "%s: removing leftovers (%d namespaces)\n", name, len(nss))
	return true, errors.Join(removeNamespaces(ctx, name, nil, progress), removeState(name, ""))
}

// ownedNamespaces lists the existing namespaces named like the lab's.
func ownedNamespaces(name string) ([]string, error) {
	all, err := listNamespaces()
	if err != nil {
		return nil, err
	}
	re := namespaceRE(name)
	var out []string
	for _, ns := range all {
		if re.MatchString(ns) {
			out = append(out, ns)
		}
	}
	return out, nil
}

// removeNamespaces deletes the recorded namespaces and any other of the
// lab's names, workloads first, ending whatever still runs in them.
func removeNamespaces(ctx context.Context, name string, recorded []string, progress io.Writer) error {
	found, err := ownedNamespaces(name)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var all []string
	for _, ns := range append(append([]string(nil), recorded...), found...) {
		if !seen[ns] {
			seen[ns] = true
			all = append(all, ns)
		}
	}
	// Reverse creation order: workloads, hosts, then the fabric.
	var errs []error
	for i := len(all) - 1; i >= 0; i-- {
		ns := all[i]
		if !namespaceExists(ns) {
			continue
		}
		if err := killStray(ctx, ns); err != nil {
			errs = append(errs, err)
		}
		if err := deleteNamespace(ns); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(progress, "%s: deleted namespace %s\n", name, ns)
	}
	return errors.Join(errs...)
}

// removeState deletes the lab's state directory (and stateDir when it is
// elsewhere), and RunDir when no lab is left.
func removeState(name, stateDir string) error {
	var errs []error
	if stateDir != "" && stateDir != defaultDir(name) {
		errs = append(errs, os.RemoveAll(stateDir))
	}
	errs = append(errs, os.RemoveAll(defaultDir(name)))
	_ = os.Remove(RunDir) // only when empty
	return errors.Join(errs...)
}
