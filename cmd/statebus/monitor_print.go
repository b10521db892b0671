package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/protocol"
)

// ANSI colours of the text output, used on a terminal only and never
// when NO_COLOR is set.
const (
	ansiReset  = "\x1b[0m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

// tracePrinter prints traces as text lines or NDJSON.
type tracePrinter struct {
	w     io.Writer
	json  bool
	color bool
	fd    int // the terminal's, for its width; -1 when not one
	fail  error
}

func newTracePrinter(w io.Writer, asJSON bool) *tracePrinter {
	p := &tracePrinter{w: w, json: asJSON, fd: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.fd = int(f.Fd())
		p.color = os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	}
	return p
}

// width is the terminal's width, 0 when not a terminal (nothing is cut).
func (p *tracePrinter) width() int {
	if p.fd < 0 {
		return 0
	}
	w, _, err := term.GetSize(p.fd)
	if err != nil {
		return 0
	}
	return w
}

func (p *tracePrinter) err() error { return p.fail }

// print writes one trace; false once writing failed.
func (p *tracePrinter) print(t *client.Trace) bool {
	if p.fail != nil {
		return false
	}
	var line []byte
	if p.json {
		var err error
		if line, err = marshalLine(t); err != nil {
			p.fail = err
			return false
		}
	} else {
		line = []byte(traceLine(t, p.width(), p.color) + "\n")
	}
	if _, err := p.w.Write(line); err != nil {
		p.fail = err
		return false
	}
	return true
}

// segment is a piece of a text line and its colour ("" for none).
type segment struct{ text, color string }

// traceLine renders t on one line: time, kind, who, event, outcome and
// payload; the payload is cut so the line fits width (0: no limit).
func traceLine(t *client.Trace, width int, color bool) string {
	segs := []segment{{t.Time.Local().Format("15:04:05.000"), ansiDim}, {"  ", ""}}
	if t.Type == client.TraceDropped {
		why := "monitor too slow"
		if t.Local {
			why = "output too slow; dropped by statebus monitor"
		}
		segs = append(segs, segment{fmt.Sprintf("... %d traces dropped (%s)", t.Count, why), ansiYellow})
		return render(segs, color)
	}
	segs = append(segs, segment{fmt.Sprintf("%-10s", t.Type), ansiCyan}, segment{" " + who(t), ""})
	if t.Event != "" {
		segs = append(segs, segment{"  " + clean(t.Event), ""})
	}
	if t.RequestID != 0 {
		segs = append(segs, segment{" #" + strconv.FormatUint(t.RequestID, 10), ""})
	}
	outcome, oc := t.Outcome, ""
	if t.Failed() {
		oc = ansiRed
		if t.Type == client.TraceFailure && t.Error != "" {
			outcome += ": " + clean(t.Error)
		}
	} else if t.Type == client.TracePublish {
		outcome += " to " + strconv.Itoa(t.Recipients)
	}
	segs = append(segs, segment{"  ", ""}, segment{outcome, oc})
	if pl := payloadText(t); pl != "" {
		segs = append(segs, segment{"  " + fit(pl, width, plainLen(segs)+2), ""})
	}
	return render(segs, color)
}

// who is the machines a trace is about: "a -> b", an id, or the peer.
func who(t *client.Trace) string {
	switch t.Type {
	case client.TraceEvent, client.TraceRequest, client.TraceReply:
		return clean(t.Source) + " -> " + clean(t.Target)
	case client.TracePublish:
		return clean(t.Source) + " -> *"
	case client.TraceConnect, client.TraceDisconnect, client.TraceFailure:
		s := "conn " + strconv.FormatUint(t.Conn, 10)
		if t.Pid > 0 {
			s += " pid " + strconv.Itoa(t.Pid)
		}
		if t.Uid >= 0 && t.Type == client.TraceConnect {
			s += " uid " + strconv.Itoa(t.Uid)
		}
		return s
	default:
		return clean(t.Source)
	}
}

// payloadText is the payload as printed: a state trace's value and
// status, then its context; "" when there is none.
func payloadText(t *client.Trace) string {
	if t.Payload == nil {
		return ""
	}
	if t.Type == client.TraceState && !t.Truncated {
		var st struct {
			Value   json.RawMessage
			Status  string
			Context json.RawMessage
		}
		if json.Unmarshal(t.Payload, &st) == nil {
			s := (&client.MachineState{Value: st.Value, Status: st.Status}).String()
			if len(st.Context) > 0 && string(st.Context) != "null" {
				s += "  " + string(st.Context)
			}
			return clean(s)
		}
	}
	if t.Truncated {
		// The first bytes, as a JSON string: print them as sent.
		var prefix string
		if json.Unmarshal(t.Payload, &prefix) == nil {
			return clean(prefix) + " ... (" + strconv.Itoa(t.PayloadBytes) + " bytes)"
		}
	}
	return clean(string(t.Payload))
}

// fit cuts s to the room left on a line of width characters after used
// ones, ending in "…" when cut; width 0 (no terminal) keeps it whole. A
// very narrow room still shows a little.
func fit(s string, width, used int) string {
	if width <= 0 {
		return s
	}
	n := max(width-used, 12)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func plainLen(segs []segment) int {
	n := 0
	for _, s := range segs {
		n += utf8.RuneCountInString(s.text)
	}
	return n
}

func render(segs []segment, color bool) string {
	var b strings.Builder
	for _, s := range segs {
		if color && s.color != "" {
			b.WriteString(s.color + s.text + ansiReset)
		} else {
			b.WriteString(s.text)
		}
	}
	return b.String()
}

// clean replaces control characters, so one trace stays one line and
// cannot drive the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// marshalLine is v's JSON on one line, ending in a newline, without
// HTML escaping.
func marshalLine(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func nowText() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// replay prints the recording at path through filter.
func replay(path string, filter client.MonitorFilter, out *tracePrinter, stderr io.Writer) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "statebus monitor: %v\n", err)
		return exitFailed
	}
	defer f.Close()
	rd := protocol.NewReader(f, 64<<20)
	line, err := rd.ReadLine()
	var h recordHeader
	if err != nil || json.Unmarshal(line, &h) != nil || h.Format != recordFormat {
		fmt.Fprintf(stderr, "statebus monitor: %s is not a statebus monitor recording (no %q header line)\n", path, recordFormat)
		return exitFailed
	}
	if h.Version != recordVersion {
		fmt.Fprintf(stderr, "statebus monitor: %s is a recording of version %d; this statebus reads version %d\n", path, h.Version, recordVersion)
		return exitFailed
	}
	fmt.Fprintf(stderr, "statebus monitor: replaying %s (recorded %s from %s)\n", path, h.RecordedAt, h.Bus)
	for n := 2; ; n++ {
		line, err := rd.ReadLine()
		if errors.Is(err, io.EOF) {
			return exitOK
		}
		if err != nil {
			fmt.Fprintf(stderr, "statebus monitor: %s:%d: %v\n", path, n, err)
			return exitFailed
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var t client.Trace
		if err := json.Unmarshal(line, &t); err != nil {
			fmt.Fprintf(stderr, "statebus monitor: %s:%d: not a trace: %v\n", path, n, err)
			return exitFailed
		}
		if t, ok := filter.Apply(t); ok && !out.print(&t) {
			return exitOK
		}
	}
}
