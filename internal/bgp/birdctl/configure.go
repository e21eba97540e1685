package birdctl

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Reply codes of `configure` (BIRD's doc/reply_codes).
const (
	codeReconfigured = 3 // done
	codeReconfInProg = 4 // accepted; protocols are being restarted
	codeReconfQueued = 5 // accepted; runs after the one in progress
	// 0006 (ignored, BIRD is shutting down) and anything else fail.
	codeConfigOK = 20 // configure check: the file parses
)

// Configure makes BIRD load the configuration file at path (as BIRD sees
// it: absolute paths are safest). It returns nil once BIRD has accepted
// the file: reconfigured (0003), reconfiguring (0004) or queued behind a
// reconfiguration in progress (0005). A rejected file (parse error,
// missing file: 8002) returns a *ReplyError whose Text is BIRD's message,
// "file:line:col message"; BIRD keeps running the old configuration.
func (c *Client) Configure(ctx context.Context, path string) error {
	if path == "" || strings.ContainsAny(path, "\"\r\n") {
		return fmt.Errorf("bird configure %q: path must be non-empty without quotes or line breaks", path)
	}
	lines, err := c.Command(ctx, `configure "`+path+`"`)
	if err != nil {
		var re *ReplyError
		if errors.As(err, &re) {
			return fmt.Errorf("bird configure %s: rejected: %w", path, err)
		}
		return fmt.Errorf("bird configure %s: %w", path, err)
	}
	last := lines[len(lines)-1]
	switch last.Code {
	case codeReconfigured, codeReconfInProg, codeReconfQueued:
		return nil
	}
	return fmt.Errorf("bird configure %s: %w", path, &ReplyError{Code: last.Code, Text: last.Text})
}

// CheckConfig asks BIRD to parse the file at path without loading it
// (`configure check`). A rejected file returns a *ReplyError as in
// Configure.
func (c *Client) CheckConfig(ctx context.Context, path string) error {
	if path == "" || strings.ContainsAny(path, "\"\r\n") {
		return fmt.Errorf("bird configure check %q: path must be non-empty without quotes or line breaks", path)
	}
	lines, err := c.Command(ctx, `configure check "`+path+`"`)
	if err != nil {
		return fmt.Errorf("bird configure check %s: %w", path, err)
	}
	if last := lines[len(lines)-1]; last.Code != codeConfigOK {
		return fmt.Errorf("bird configure check %s: %w", path, &ReplyError{Code: last.Code, Text: last.Text})
	}
	return nil
}
