package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/statebus/statebus/client"
)

// Exit codes shared by the client commands.
const (
	exitOK          = 0
	exitFailed      = 1 // the bus answered with a failure (not delivered, unhealthy, ...)
	exitUsage       = 2
	exitUnreachable = 3 // no bus at the address, or the connection broke
)

const exitCodesHelp = "Exit codes: 0 success, 1 the bus reported a failure, 2 usage error, 3 bus unreachable."

// busFlags are the flags every client command takes.
type busFlags struct {
	socket  string
	pipe    string
	timeout time.Duration
	json    bool
	token   string
}

func (b *busFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.socket, "socket", "", "connect to the Unix socket at `PATH`")
	fs.StringVar(&b.pipe, "pipe", "", "connect to pipe `NAME` (default XStateNet.MessageBus; on Unix $TMPDIR/CoreFxPipe_NAME)")
	fs.DurationVar(&b.timeout, "timeout", 5*time.Second, "give up after this long")
	fs.BoolVar(&b.json, "json", false, "print JSON instead of text")
	fs.StringVar(&b.token, "token", os.Getenv("STATEBUS_TOKEN"), "the bus's shared `token`, if it requires one (default $STATEBUS_TOKEN)")
}

// addr returns the address to dial: the socket, else the pipe name.
func (b *busFlags) addr() string {
	if b.socket != "" {
		return b.socket
	}
	return b.pipe
}

// dial connects with reconnection off: a command fails rather than wait.
func (b *busFlags) dial(ctx context.Context, ids ...string) (*client.Conn, error) {
	return b.dialWith(ctx, client.WithMachines(ids...))
}

// dialWith is dial with more client options.
func (b *busFlags) dialWith(ctx context.Context, opts ...client.Option) (*client.Conn, error) {
	return client.Dial(ctx, b.addr(), append([]client.Option{client.WithReconnect(false),
		client.WithDialTimeout(b.timeout), client.WithToken(b.token)}, opts...)...)
}

// run dials the bus, calls do with the connection under the --timeout
// context and maps an error to an exit code; do returns the code on
// success (exitFailed for an unhealthy bus, say).
func (b *busFlags) run(name string, stderr io.Writer, do func(ctx context.Context, c *client.Conn) (int, error)) int {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	c, err := b.dial(ctx)
	if err != nil {
		return failure(stderr, name, err)
	}
	defer c.Close()
	code, err := do(ctx, c)
	if err != nil {
		return failure(stderr, name, err)
	}
	return code
}

// oneLine joins the lines of a message (errors.Join's, say) with "; ",
// so that each message stays one line of output.
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// errorText is err's message for a user, on one line: without the client's
// "statebus: " prefix, which the command's name replaces.
func errorText(err error) string {
	return oneLine(strings.TrimPrefix(err.Error(), "statebus: "))
}

// failure prints err and maps it to an exit code.
func failure(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "statebus %s: %s\n", cmd, errorText(err))
	var be *client.Error
	switch {
	case errors.As(err, &be):
		return exitFailed
	case errors.Is(err, client.ErrDisconnected), errors.Is(err, client.ErrClosed):
		return exitUnreachable
	case errors.Is(err, context.DeadlineExceeded):
		return exitFailed
	default:
		return exitUnreachable
	}
}

// parsePayload reads the optional JSON argument: absent is null, "-"
// reads standard input. The payload is compacted to one line: the wire
// protocol is one JSON object per line, so a pretty-printed document or
// echo's trailing newline must not reach the bus as written.
func parsePayload(args []string, stdin io.Reader) (json.RawMessage, error) {
	if len(args) == 0 {
		return nil, nil
	}
	text := []byte(args[0])
	if args[0] == "-" {
		var err error
		if text, err = io.ReadAll(stdin); err != nil {
			return nil, err
		}
	}
	return compactJSON("payload", text)
}

// compactJSON checks that text is one JSON value and returns it on one
// line, insignificant white space removed; what names it in the error.
func compactJSON(what string, text []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, text); err != nil {
		return nil, fmt.Errorf("%s %q is not valid JSON (quote strings: '\"text\"')", what, text)
	}
	return json.RawMessage(buf.Bytes()), nil
}

// signalContext is canceled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func printJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "%s\n", b)
}

// defaultSender is the machine id a command sends as without --as.
func defaultSender() string { return fmt.Sprintf("statebus-cli-%d", os.Getpid()) }
