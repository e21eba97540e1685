package calicoctl

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/resources"
)

// item is one resource read from a file, or named on the command line.
type item struct {
	file     string // file it came from ("" when named on the command line)
	doc      int    // document number within the file, from 1
	listItem int    // item number within a List document, from 1; 0 if none
	res      v3.Resource

	kind      string
	namespace string // filled in from -n for namespaced kinds
	name      string // computed for workload endpoints given without one
	// group orders writes: items of one group are written one after the
	// other, in input order (see runBatch).
	group string
}

// where names the item's origin for messages: "pools.yaml doc 2".
func (it item) where() string {
	switch {
	case it.file == "":
		return ""
	case it.listItem > 0:
		return fmt.Sprintf("%s doc %d item %d", it.file, it.doc, it.listItem)
	}
	return fmt.Sprintf("%s doc %d", it.file, it.doc)
}

// loadMode says how much checking load does.
type loadMode int

const (
	// loadIdentity decodes strictly and checks only what names the
	// resource (get, delete).
	loadIdentity loadMode = iota
	// loadWrite also defaults and validates every resource exactly as a
	// write would (apply, replace).
	loadWrite
	// loadCreate is loadWrite, and refuses a resourceVersion.
	loadCreate
)

// fileOptions are the -f/-R/-n flags of commands that read manifests.
type fileOptions struct {
	files     []string
	recursive bool
	namespace string
	nsSet     bool // -n was given explicitly
}

// load reads, decodes and checks every document of every file. It returns
// the items, or every problem found (each naming file, document and
// field); when problems is not empty nothing may be written. Documents are
// checked in parallel; items and problems keep the input order.
func load(stdin io.Reader, o fileOptions, mode loadMode) (items []item, problems []string) {
	srcs, err := readSources(stdin, o.files, o.recursive)
	if err != nil {
		return nil, []string{err.Error()}
	}
	type job struct {
		file string
		ch   chunk
	}
	var jobs []job
	for _, src := range srcs {
		for _, ch := range splitSource(src.data) {
			jobs = append(jobs, job{src.name, ch})
		}
	}
	type result struct {
		items    []item
		problems []string
	}
	results := make([]result, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for i := range next {
				results[i].items, results[i].problems = loadChunk(jobs[i].file, jobs[i].ch, o, mode)
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, r := range results {
		items = append(items, r.items...)
		problems = append(problems, r.problems...)
	}
	if len(problems) == 0 && len(items) == 0 {
		problems = append(problems, "no resources found in the given files")
	}
	return items, problems
}

// loadChunk decodes and checks the documents of one chunk of a file.
func loadChunk(file string, ch chunk, o fileOptions, mode loadMode) (items []item, problems []string) {
	docs, err := ch.documents()
	if err != nil {
		return nil, []string{fmt.Sprintf("%s doc %d: %s", file, ch.number, ch.fileLines(err.Error()))}
	}
	for _, d := range docs {
		it := item{file: file, doc: d.number, listItem: d.listItem}
		if msgs := it.decode(d.raw, o, mode); len(msgs) > 0 {
			for _, m := range msgs {
				problems = append(problems, it.where()+": "+ch.fileLines(m))
			}
			continue
		}
		items = append(items, it)
	}
	return items, problems
}

// decode fills it from one document, returning what is wrong with it.
func (it *item) decode(raw []byte, o fileOptions, mode loadMode) []string {
	r, err := v3.DecodeStrict(raw)
	if err != nil {
		return describe(err)
	}
	info, ok := v3.LookupKind(r.GetTypeMeta().Kind)
	if !ok {
		return []string{fmt.Sprintf("unknown kind %q", r.GetTypeMeta().Kind)}
	}
	m := r.GetObjectMeta()
	if info.Namespaced {
		switch {
		case m.Namespace == "":
			m.Namespace = o.namespace
		case o.nsSet && m.Namespace != o.namespace:
			return []string{fmt.Sprintf("%s %q: metadata.namespace %q does not match --namespace %q",
				info.Kind, m.Name, m.Namespace, o.namespace)}
		}
	}
	it.res, it.kind, it.namespace, it.name = r, info.Kind, m.Namespace, m.Name
	if mode == loadCreate && m.ResourceVersion != "" {
		return []string{fmt.Sprintf("%s %q: metadata.resourceVersion must not be set when creating "+
			"(remove it, or use apply or replace)", info.Kind, m.Name)}
	}
	if mode == loadIdentity {
		key, err := resources.Key(info, m.Namespace, m.Name)
		if err != nil {
			return []string{err.Error()}
		}
		it.group = key
		return nil
	}
	p, key, err := resources.Prepare(r)
	if err != nil {
		return describe(err)
	}
	it.name = p.GetObjectMeta().Name
	it.group = key
	if info.Kind == "IPPool" {
		// Pools are checked against each other for overlaps: write them
		// one at a time so that the check sees the pools before it.
		it.group = "IPPool"
	}
	return nil
}

// describe turns an error into one message per problem: a validation or
// decoding error gives one line per field, `IPPool "p1": spec.cidr
// "10.0.0.0/33": not a valid CIDR`.
func describe(err error) []string {
	var kind, name string
	var fields []v3.FieldError
	var ve *v3.ValidationError
	var de *v3.DecodeError
	switch {
	case errors.As(err, &ve):
		kind, name, fields = ve.Kind, ve.Name, ve.Errors
	case errors.As(err, &de):
		kind, name, fields = de.Kind, de.Name, de.Errors
	}
	if len(fields) == 0 {
		return []string{strings.TrimPrefix(err.Error(), "decode resource: ")}
	}
	who := kind
	if name != "" {
		who += fmt.Sprintf(" %q", name)
	}
	out := make([]string, 0, len(fields))
	for _, fe := range fields {
		out = append(out, who+": "+fe.String())
	}
	return out
}
