package calicoctl

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// stdinName is how standard input is named in messages.
const stdinName = "<stdin>"

// source is the content of one input file.
type source struct {
	name string // as the user named it (or found it in a directory)
	data []byte
}

// manifestExt reports whether a file found in a directory is read: only
// YAML and JSON manifests are, as with kubectl.
func manifestExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// readSources reads every file named by -f, in the order given. "-" is
// standard input (at most once); a directory stands for the manifests in it
// in name order, descending into subdirectories when recursive is set.
func readSources(stdin io.Reader, names []string, recursive bool) ([]source, error) {
	var out []source
	usedStdin := false
	for _, n := range names {
		if n == "-" {
			if usedStdin {
				return nil, errors.New("-f -: standard input can be read only once")
			}
			usedStdin = true
			if stdin == nil {
				return nil, errors.New("-f -: no standard input")
			}
			b, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading standard input: %w", err)
			}
			out = append(out, source{name: stdinName, data: b})
			continue
		}
		fi, err := os.Stat(n)
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", n, unwrapPathError(err))
		}
		if !fi.IsDir() {
			b, err := os.ReadFile(n)
			if err != nil {
				return nil, fmt.Errorf("-f %s: %w", n, unwrapPathError(err))
			}
			out = append(out, source{name: n, data: b})
			continue
		}
		files, err := dirManifests(n, recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, unwrapPathError(err))
			}
			out = append(out, source{name: f, data: b})
		}
	}
	return out, nil
}

// dirManifests lists the manifests in dir, sorted by path.
func dirManifests(dir string, recursive bool) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("-f %s: %w", path, unwrapPathError(err))
		}
		if d.IsDir() {
			if path != dir && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if manifestExt(d.Name()) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}

// unwrapPathError drops the path from an *fs.PathError: callers name the
// file themselves.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
