// Command testreport runs the stages of `make test` and reports on them:
// it reads `go test -json` (or any command's output), prints progress as
// go test does (a line per package, the whole output of each failed test,
// each skipped test with its reason), records each stage's result under a
// directory, and prints a summary of all stages.
//
//	testreport run -stage NAME [-dir DIR] [-- COMMAND [ARG...]]
//	testreport summary [-dir DIR] STAGE...
//
// run runs COMMAND (or reads its output from standard input), writes
// DIR/NAME.json and exits non-zero when the stage failed. summary prints
// the table of the stages' results (DIR/summary.txt too) and exits
// non-zero when any failed or recorded nothing.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "summary":
		err = summaryCmd(os.Args[2:])
	default:
		usage()
	}
	if errors.Is(err, errFailed) {
		os.Exit(1) // what failed is printed already
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testreport run -stage NAME [-dir DIR] [-- COMMAND [ARG...]]\n       testreport summary [-dir DIR] STAGE...")
	os.Exit(2)
}

// errFailed is returned when the stage or the run failed: what failed has
// been printed already.
var errFailed = errors.New("failed")

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	stage := fs.String("stage", "", "name of the stage (the result goes to DIR/NAME.json)")
	dir := fs.String("dir", "test-results", "directory of the stages' results")
	quiet := fs.Duration("quiet", time.Minute, "print what is running after this long without output")
	fs.Parse(args)
	if *stage == "" {
		return errors.New("run: -stage is required")
	}
	command := fs.Args()
	start := time.Now()
	fmt.Printf("==> stage %s\n", *stage)
	c := NewCollector(os.Stdout, *stage, start)

	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case now := <-tick.C:
				c.Heartbeat(now, *quiet)
			case <-stop:
				return
			}
		}
	}()
	var exitCode int
	var name string
	if len(command) == 0 {
		name = "(standard input)"
		readLines(os.Stdin, c.Line)
	} else {
		name = strings.Join(command, " ")
		if len(name) > 200 {
			name = name[:200] + "..."
		}
		exitCode = runCommand(command, c)
	}
	close(stop)
	r := c.Finish(name, exitCode, time.Since(start), time.Now())
	if err := writeResult(*dir, r); err != nil {
		return fmt.Errorf("stage %s: writing its result: %w", *stage, err)
	}
	fmt.Printf("==> stage %s: %s", *stage, r.Status)
	if r.Tests.Run > 0 || r.Packages != (Packages{}) {
		fmt.Printf(" (%d tests: %d passed, %d skipped, %d failed)", r.Tests.Run, r.Tests.Passed, r.Tests.Skipped, r.Tests.Failed)
	}
	fmt.Printf(" in %s\n", duration(r.Seconds))
	if r.Status != Passed {
		return errFailed
	}
	return nil
}

// runCommand runs command, its standard output and standard error going to
// c, and returns its exit status. Interrupts are passed on to it, so that
// what it leaves is still recorded.
func runCommand(command []string, c *Collector) int {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin = os.Stdin
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		var stderr io.ReadCloser
		if stderr, err = cmd.StderrPipe(); err == nil {
			if err = cmd.Start(); err == nil {
				return wait(cmd, stdout, stderr, c)
			}
		}
	}
	c.Text(fmt.Sprintf("testreport: %s: %v", command[0], err), time.Now())
	return 127
}

func wait(cmd *exec.Cmd, stdout, stderr io.Reader, c *Collector) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	defer close(done)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); readLines(stdout, c.Line) }()
	go func() { defer wg.Done(); readLines(stderr, c.Text) }()
	wg.Wait() // before Wait, which closes the pipes
	err := cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if code := exit.ExitCode(); code > 0 {
			return code
		}
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
	}
	c.Text(fmt.Sprintf("testreport: %v", err), time.Now())
	return 1
}

// readLines calls line for every line of r, however long.
func readLines(r io.Reader, line func(string, time.Time)) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		l, err := br.ReadString('\n')
		if l != "" {
			line(l, time.Now())
		}
		if err != nil {
			return
		}
	}
}

func summaryCmd(args []string) error {
	fs := flag.NewFlagSet("summary", flag.ExitOnError)
	dir := fs.String("dir", "test-results", "directory of the stages' results")
	fs.Parse(args)
	if fs.NArg() == 0 {
		return errors.New("summary: name the stages, in order")
	}
	var buf bytes.Buffer
	ok := writeSummary(&buf, *dir, loadStages(*dir, fs.Args()))
	fmt.Printf("\n==> summary (%s)\n", *dir)
	os.Stdout.Write(buf.Bytes())
	if err := os.WriteFile(filepath.Join(*dir, "summary.txt"), buf.Bytes(), 0o644); err != nil {
		return err
	}
	if !ok {
		return errFailed
	}
	return nil
}
