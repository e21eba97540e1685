package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pkg is one package with tests and its race-enabled test binary.
type pkg struct {
	importPath string
	dir        string // the package's directory: tests run there
	moduleDir  string // where go commands for it run
	binary     string
}

// listPackages returns the packages with tests that cfg names: the main
// module's patterns without test/e2e, plus test/upstream's if asked.
func listPackages(ctx context.Context, cfg config) ([]pkg, error) {
	root, err := goOutput(ctx, "", "list", "-m", "-f", "{{.Dir}}")
	if err != nil {
		return nil, err
	}
	root = strings.TrimSpace(root)
	out, err := listIn(ctx, root, cfg.pkgs)
	if err != nil {
		return nil, err
	}
	var pkgs []pkg
	for _, p := range out {
		rel, _ := filepath.Rel(root, p.dir)
		if rel == filepath.Join("test", "e2e") || strings.HasPrefix(rel, filepath.Join("test", "e2e")+string(filepath.Separator)) {
			continue
		}
		pkgs = append(pkgs, p)
	}
	if cfg.upstream {
		up, err := listIn(ctx, filepath.Join(root, "test", "upstream"), []string{"./..."})
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, up...)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no packages with tests in %q", cfg.pkgs)
	}
	binDir := filepath.Join(cfg.out, "bin")
	for i := range pkgs {
		pkgs[i].binary = filepath.Join(binDir, strings.ReplaceAll(pkgs[i].importPath, "/", "_")+".test")
	}
	return pkgs, nil
}

// listIn lists the packages with tests matching patterns in the module at dir.
func listIn(ctx context.Context, dir string, patterns []string) ([]pkg, error) {
	args := append([]string{"list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}\t{{.Dir}}{{end}}"}, patterns...)
	out, err := goOutput(ctx, dir, args...)
	if err != nil {
		return nil, err
	}
	var pkgs []pkg
	for line := range strings.Lines(out) {
		path, pdir, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok {
			continue
		}
		pkgs = append(pkgs, pkg{importPath: path, dir: pdir, moduleDir: dir})
	}
	return pkgs, nil
}

// buildAll builds every package's test binary with -race, one package at
// a time (the go command builds each on every core), and test2json.
func buildAll(ctx context.Context, pkgs []pkg, binDir string) error {
	test2json = filepath.Join(binDir, "test2json")
	if _, err := goOutput(ctx, "", "build", "-o", test2json, "cmd/test2json"); err != nil {
		return err
	}
	for _, p := range pkgs {
		if _, err := goOutput(ctx, p.moduleDir, "test", "-race", "-c", "-o", p.binary, p.importPath); err != nil {
			return err
		}
	}
	return nil
}

// goOutput runs the go command in dir and returns its standard output.
func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), dirOrCwd(dir), err, stderr.String())
	}
	return stdout.String(), nil
}

func dirOrCwd(dir string) string {
	if dir != "" {
		return dir
	}
	wd, _ := os.Getwd()
	return wd
}
