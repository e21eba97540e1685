package calicoctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	v3 "github.com/gocalico/calico/api/v3"
)

// format is an -o output format.
type format int

const (
	formatTable format = iota // ps-style table
	formatWide                // table with more columns
	formatYAML
	formatJSON
	formatName
)

func parseFormat(s string) (format, error) {
	switch strings.ToLower(s) {
	case "", "ps", "table":
		return formatTable, nil
	case "wide":
		return formatWide, nil
	case "yaml", "yml":
		return formatYAML, nil
	case "json":
		return formatJSON, nil
	case "name":
		return formatName, nil
	}
	return 0, usagef("unknown output format %q: use yaml, json, wide, name, or none for a table", s)
}

// resourceList is how several resources print in yaml and json, as
// upstream calicoctl prints them: an <Kind>List (with the list's revision)
// when they are of one kind, a plain List when kinds are mixed.
type resourceList struct {
	Kind       string        `json:"kind"`
	APIVersion string        `json:"apiVersion"`
	Metadata   v3.ListMeta   `json:"metadata"`
	Items      []v3.Resource `json:"items"`
}

func newResourceList(rs []v3.Resource, o printOptions) resourceList {
	l := resourceList{APIVersion: v3.APIVersion, Kind: "List", Items: rs}
	if rs == nil {
		l.Items = []v3.Resource{}
	}
	kind := o.listKind
	for _, r := range rs {
		if k := r.GetTypeMeta().Kind; kind == "" {
			kind = k
		} else if k != kind {
			return l
		}
	}
	if kind != "" {
		l.Kind = kind + "List"
	}
	if o.listRevision > 0 {
		l.Metadata.ResourceVersion = strconv.FormatInt(o.listRevision, 10)
	}
	return l
}

// printOptions say how get prints what it found.
type printOptions struct {
	format format
	// single: exactly one resource was asked for by name, so yaml and
	// json print the object itself rather than a List.
	single bool
	// namespaceColumn adds NAMESPACE to tables of namespaced kinds.
	namespaceColumn bool
	// listKind and listRevision describe a list of one kind.
	listKind     string
	listRevision int64
	// policies gives an endpoint's POLICIES cell (nil: empty cells).
	policies func(v3.Resource) string
	// globalAS is the AS number nodes without their own inherit.
	globalAS string
}

func printResources(w io.Writer, rs []v3.Resource, o printOptions) error {
	switch o.format {
	case formatYAML, formatJSON:
		var v any = newResourceList(rs, o)
		if o.single && len(rs) == 1 {
			v = rs[0]
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding output: %w", err)
		}
		if o.format == formatYAML {
			if b, err = yaml.JSONToYAML(b); err != nil {
				return fmt.Errorf("encoding output: %w", err)
			}
			_, err = w.Write(b)
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case formatName:
		for _, r := range rs {
			fmt.Fprintf(w, "%s.%s/%s\n", strings.ToLower(r.GetTypeMeta().Kind), v3.Group, r.GetObjectMeta().Name)
		}
		return nil
	}
	return printTables(w, rs, o)
}

// printTables prints one table per kind, in order of first appearance.
// An empty list of a kind prints that kind's header, as upstream does.
func printTables(w io.Writer, rs []v3.Resource, o printOptions) error {
	if len(rs) == 0 && o.listKind != "" {
		return printTable(w, o.listKind, nil, o)
	}
	var kinds []string
	byKind := map[string][]v3.Resource{}
	for _, r := range rs {
		k := r.GetTypeMeta().Kind
		if _, ok := byKind[k]; !ok {
			kinds = append(kinds, k)
		}
		byKind[k] = append(byKind[k], r)
	}
	for i, k := range kinds {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := printTable(w, k, byKind[k], o); err != nil {
			return err
		}
	}
	return nil
}

func printTable(w io.Writer, kind string, rs []v3.Resource, o printOptions) error {
	cols := columnsFor(kind, o.format == formatWide)
	if info, ok := v3.LookupKind(kind); ok && info.Namespaced && o.namespaceColumn {
		cols = append([]column{colNS}, cols...)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = c.header
	}
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, r := range rs {
		obj, err := jsonObject(r)
		if err != nil {
			return err
		}
		cells := make([]string, len(cols))
		for i, c := range cols {
			switch {
			case c.withOpts != nil:
				cells[i] = c.withOpts(obj, o)
			case !c.policies:
				cells[i] = c.value(obj)
			case o.policies != nil:
				cells[i] = o.policies(r)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// jsonObject returns r's JSON form as a generic object, numbers kept
// exact.
func jsonObject(r v3.Resource) (map[string]any, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %q: %w", r.GetTypeMeta().Kind, r.GetObjectMeta().Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("decoding %s %q: %w", r.GetTypeMeta().Kind, r.GetObjectMeta().Name, err)
	}
	return obj, nil
}
