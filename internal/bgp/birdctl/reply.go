package birdctl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Line is one line of a BIRD reply: its 4-digit code and its text
// without the code and separator. Continuation lines (a leading space on
// the wire) carry the code of the line before them.
type Line struct {
	Code int
	Text string
}

// ReplyError is a reply BIRD ended with a run-time (8xxx) or parse
// (9xxx) error code, or with a code the caller did not expect.
type ReplyError struct {
	Code int
	Text string
}

func (e *ReplyError) Error() string { return fmt.Sprintf("bird: %04d %s", e.Code, e.Text) }

// maxLine bounds one line of a reply; BIRD's own CLI buffer is smaller.
const maxLine = 64 << 10

var errLineTooLong = errors.New("reply line too long")

// readLine reads one line without its newline (and without a '\r'
// before it). A line without a newline before EOF is an error: the reply
// was cut off.
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine+1 {
			return "", errLineTooLong
		}
		switch {
		case err == nil:
			buf = buf[:len(buf)-1]
			if n := len(buf); n > 0 && buf[n-1] == '\r' {
				buf = buf[:n-1]
			}
			return string(buf), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// parseLine classifies one wire line. prev is the code of the line before
// (for continuations). final is true for the line that ends a reply (code
// followed by a space or by nothing); skip is true for spontaneous
// printouts ('+'), which belong to no reply.
func parseLine(raw string, prev int) (l Line, final, skip bool, err error) {
	if raw == "" {
		return Line{}, false, false, errors.New("empty reply line")
	}
	switch raw[0] {
	case ' ':
		if prev < 0 {
			return Line{}, false, false, fmt.Errorf("continuation line %q before any coded line", clip(raw))
		}
		return Line{Code: prev, Text: raw[1:]}, false, false, nil
	case '+':
		return Line{}, false, true, nil
	}
	if len(raw) < 4 {
		return Line{}, false, false, fmt.Errorf("malformed reply line %q", clip(raw))
	}
	code, ok := digits4(raw[:4])
	if !ok {
		return Line{}, false, false, fmt.Errorf("malformed reply line %q", clip(raw))
	}
	if len(raw) == 4 {
		return Line{Code: code}, true, false, nil
	}
	switch raw[4] {
	case '-':
		return Line{Code: code, Text: raw[5:]}, false, false, nil
	case ' ':
		return Line{Code: code, Text: raw[5:]}, true, false, nil
	}
	return Line{}, false, false, fmt.Errorf("malformed reply line %q", clip(raw))
}

func digits4(s string) (int, bool) {
	for i := 0; i < 4; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// readReply reads lines up to and including the final one. The final
// line is part of the result. A final 8xxx or 9xxx code is returned as a
// *ReplyError together with the lines.
func readReply(r *bufio.Reader) ([]Line, error) {
	var lines []Line
	prev := -1
	for {
		raw, err := readLine(r)
		if err != nil {
			return lines, err
		}
		l, final, skip, err := parseLine(raw, prev)
		if err != nil {
			return lines, err
		}
		if skip {
			continue
		}
		lines = append(lines, l)
		prev = l.Code
		if final {
			if l.Code >= 8000 {
				return lines, &ReplyError{Code: l.Code, Text: l.Text}
			}
			return lines, nil
		}
	}
}
