package calicoctl

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	v3 "github.com/gocalico/calico/api/v3"
)

// chunk is one YAML document of a file, or a whole JSON file. Splitting
// YAML here, rather than handing the whole file to v3.SplitDocuments,
// lets one broken document be reported with its number and file line while
// the other documents are still checked.
type chunk struct {
	number int // document number, from 1 (YAML)
	line   int // line of the file where the chunk starts, from 1
	data   []byte
	json   bool
}

// docRef is one resource document found in a chunk.
type docRef struct {
	number   int // document number, from 1
	listItem int // item number within a List, from 1; 0 if not a list item
	raw      []byte
}

// yamlSeparator matches a YAML document start line ("---", maybe with a
// comment).
var yamlSeparator = regexp.MustCompile(`(?m)^---[ \t]*(?:#.*)?\r?$`)

// splitSource cuts a file into chunks. Document numbers count every
// "---"-separated document (a leading separator does not start one).
func splitSource(data []byte) []chunk {
	if t := bytes.TrimSpace(data); len(t) > 0 && (t[0] == '[' || t[0] == '{') {
		return []chunk{{number: 1, line: 1, data: data, json: true}}
	}
	var chunks []chunk
	start := 0
	for _, loc := range yamlSeparator.FindAllIndex(data, -1) {
		chunks = append(chunks, chunk{line: lineAt(data, start), data: data[start:loc[0]]})
		start = loc[1]
	}
	chunks = append(chunks, chunk{line: lineAt(data, start), data: data[start:]})
	if len(chunks) > 1 && len(bytes.TrimSpace(stripComments(chunks[0].data))) == 0 {
		chunks = chunks[1:]
	}
	for i := range chunks {
		chunks[i].number = i + 1
	}
	return chunks
}

func lineAt(data []byte, off int) int { return 1 + bytes.Count(data[:off], []byte{'\n'}) }

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte{'\n'}) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l...)
		}
	}
	return out
}

// documents returns the resource documents of the chunk: one, none (an
// empty document), or the items of a List or JSON array.
func (c chunk) documents() ([]docRef, error) {
	docs, err := v3.SplitDocuments(c.data)
	if err != nil {
		if !c.json {
			// Say what is wrong with the YAML without the splitter's
			// document numbering, which counts from 0 within the chunk.
			if _, yerr := yaml.YAMLToJSON(c.data); yerr != nil {
				return nil, &yamlError{msg: yerr.Error()}
			}
		}
		return nil, err
	}
	out := make([]docRef, 0, len(docs))
	for _, d := range docs {
		r := docRef{number: c.number, listItem: d.Item + 1, raw: d.Raw}
		if c.json {
			r.number = d.Index + 1
		}
		out = append(out, r)
	}
	return out, nil
}

// yamlError is a YAML syntax error, shown without the converter's
// prefixes: "invalid YAML: line 3: could not find expected ':'".
type yamlError struct{ msg string }

func (e *yamlError) Error() string {
	m := strings.TrimPrefix(e.msg, "error converting YAML to JSON: ")
	m = strings.TrimPrefix(m, "yaml: ")
	return "invalid YAML: " + m
}

var yamlLine = regexp.MustCompile(`\bline (\d+)\b`)

// fileLines rewrites "line N" in a message from a line of the chunk to a
// line of the file, and puts a multi-line message on one line.
func (c chunk) fileLines(msg string) string {
	if c.line > 1 {
		msg = yamlLine.ReplaceAllStringFunc(msg, func(s string) string {
			n, err := strconv.Atoi(strings.TrimPrefix(s, "line "))
			if err != nil {
				return s
			}
			return "line " + strconv.Itoa(n+c.line-1)
		})
	}
	if strings.Contains(msg, "\n") {
		msg = strings.Join(strings.Fields(msg), " ")
	}
	return msg
}
