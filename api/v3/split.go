package v3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// Document is one resource document cut from a user's file.
type Document struct {
	// Index is the 0-based position of the document as the user counts
	// them: YAML documents separated by "---" (empty ones included), or
	// elements of a top-level JSON array.
	Index int
	// Item is the 0-based position within the items of a List document,
	// or -1 when the document is not a list item.
	Item int
	// Raw is the document's text: the YAML or JSON as given, or the JSON
	// of a list item.
	Raw []byte
}

// Location describes where the document is, for error messages:
// "document 2" or "document 0 item 3".
func (d Document) Location() string {
	if d.Item >= 0 {
		return fmt.Sprintf("document %d item %d", d.Index, d.Item)
	}
	return fmt.Sprintf("document %d", d.Index)
}

// docSeparator matches a YAML document start line.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(?:#.*)?\r?$`)

// SplitDocuments cuts a file into resource documents. It accepts
// multi-document YAML, a single JSON object, a JSON array of objects, and
// a "List" (kind List or <Kind>List) whose items each become a document.
// Empty documents are skipped without renumbering the others.
func SplitDocuments(data []byte) ([]Document, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, fmt.Errorf("split documents: JSON array: %w", err)
		}
		var docs []Document
		for i, it := range items {
			if isEmptyDoc(it) {
				continue
			}
			docs = append(docs, Document{Index: i, Item: -1, Raw: it})
		}
		return docs, nil
	}
	var chunks [][]byte
	if len(trimmed) > 0 && trimmed[0] == '{' {
		chunks = [][]byte{data}
	} else {
		chunks = splitYAML(data)
	}
	var docs []Document
	for i, c := range chunks {
		if isEmptyDoc(c) {
			continue
		}
		items, isList, err := listItems(c)
		if err != nil {
			return nil, fmt.Errorf("split documents: document %d: %w", i, err)
		}
		if !isList {
			docs = append(docs, Document{Index: i, Item: -1, Raw: c})
			continue
		}
		for j, it := range items {
			docs = append(docs, Document{Index: i, Item: j, Raw: it})
		}
	}
	return docs, nil
}

// splitYAML cuts YAML at "---" lines. A leading separator does not start a
// counted document unless something other than comments precedes it.
func splitYAML(data []byte) [][]byte {
	locs := docSeparator.FindAllIndex(data, -1)
	var chunks [][]byte
	start := 0
	for _, l := range locs {
		chunks = append(chunks, data[start:l[0]])
		start = l[1]
	}
	chunks = append(chunks, data[start:])
	if len(chunks) > 1 && isEmptyDoc(chunks[0]) {
		chunks = chunks[1:]
	}
	return chunks
}

// isEmptyDoc reports whether a document holds nothing but blank lines,
// comments, a document end marker or null.
func isEmptyDoc(b []byte) bool {
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "..." || line == "null" || line == "~" || strings.HasPrefix(line, "#") {
			continue
		}
		return false
	}
	return true
}

// listItems returns the JSON of each item if doc is a List.
func listItems(doc []byte) ([][]byte, bool, error) {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, false, err
	}
	var head struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if json.Unmarshal(j, &head) != nil || !strings.HasSuffix(head.Kind, "List") {
		return nil, false, nil // not a list; decoding will explain problems
	}
	items := make([][]byte, 0, len(head.Items))
	for _, it := range head.Items {
		items = append(items, []byte(it))
	}
	return items, true, nil
}
