package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
)

// A pretty-printed payload, with "\r\n" and "\n" line breaks, an escaped
// newline inside a string, a big integer and a number with a trailing
// zero: on the wire it must be one line with every token as it was.
const (
	prettyPayload  = "{\n  \"n\": 1,\r\n  \"s\": \"a b\\n\",\n  \"big\": 123456789012345678901234567890,\n  \"f\": 1.50\n}\n"
	compactPayload = `{"n":1,"s":"a b\n","big":123456789012345678901234567890,"f":1.50}`
)

// prettyMarshaler marshals itself with line breaks.
type prettyMarshaler struct{}

func (prettyMarshaler) MarshalJSON() ([]byte, error) { return []byte(prettyPayload), nil }

// Every path that writes a payload writes it on one line, and the replies
// that follow still answer the right calls.
func TestMultiLinePayloadsOnEveryPath(t *testing.T) {
	b := startBus(t, server.Config{})
	a, c := dial(t, b, "a"), dial(t, b, "c")
	pretty := json.RawMessage(prettyPayload)
	received := make(chan string, 1)
	c.OnRequest("ECHO", func(ctx context.Context, ev client.Event) (any, error) {
		received <- string(ev.Payload)
		return pretty, nil // the handler's reply is multi-line too
	})
	c.OnRequest("PRETTY_REPLY", func(ctx context.Context, ev client.Event) (any, error) { return pretty, nil })
	c.OnRequest("MARSHALER", func(ctx context.Context, ev client.Event) (any, error) {
		received <- string(ev.Payload)
		return prettyMarshaler{}, nil
	})

	// expectEvent runs send and checks that c got the event with the
	// payload compacted.
	expectEvent := func(t *testing.T, name string, send func() error) {
		t.Helper()
		got := c.Expect(name)
		if err := send(); err != nil {
			t.Fatalf("send: %v", err)
		}
		ev, err := got.Wait(opCtx(t))
		if err != nil {
			t.Fatalf("event %s: %v", name, err)
		}
		if string(ev.Payload) != compactPayload {
			t.Fatalf("payload %q, want %q", ev.Payload, compactPayload)
		}
	}
	// expectAnswer checks a Request's answer and the payload the
	// handler saw.
	expectAnswer := func(t *testing.T, out []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		if string(out) != compactPayload {
			t.Fatalf("answer %q, want %q", out, compactPayload)
		}
		select {
		case p := <-received:
			if p != compactPayload {
				t.Fatalf("the handler got %q, want %q", p, compactPayload)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the handler was not called")
		}
	}
	// Afterwards the connection still pairs replies with their calls.
	t.Cleanup(func() {
		if err := a.Send(ctxT(t), "c", "NEXT", 1); err != nil {
			t.Errorf("a valid Send after the multi-line ones: %v", err)
		}
		if err := a.Send(ctxT(t), "nobody", "NEXT", 1); !errors.Is(err, client.ErrNotConnected) {
			t.Errorf("a Send to nobody after the multi-line ones: %v", err)
		}
		if n := a.Stats().AsyncErrors; n != 0 {
			t.Errorf("%d async errors", n)
		}
	})

	t.Run("Send", func(t *testing.T) {
		expectEvent(t, "SEND", func() error { return a.Send(opCtx(t), "c", "SEND", pretty) })
	})
	t.Run("SendAs", func(t *testing.T) {
		expectEvent(t, "SENDAS", func() error { return a.SendAs(opCtx(t), "unowned", "c", "SENDAS", pretty) })
	})
	t.Run("SendAsync", func(t *testing.T) {
		expectEvent(t, "ASYNC", func() error {
			if err := a.SendAsync("c", "ASYNC", pretty); err != nil {
				return err
			}
			return a.Flush(opCtx(t))
		})
	})
	t.Run("Publish", func(t *testing.T) {
		expectEvent(t, "PUB", func() error {
			n, err := a.Publish(opCtx(t), "PUB", pretty)
			if err == nil && n != 1 {
				t.Errorf("Publish reached %d machines, want 1", n)
			}
			return err
		})
	})
	t.Run("Request", func(t *testing.T) {
		out, err := a.Request(opCtx(t), "c", "ECHO", pretty)
		expectAnswer(t, out, err)
	})
	t.Run("Reply", func(t *testing.T) {
		out, err := a.Request(opCtx(t), "c", "PRETTY_REPLY", nil)
		if err != nil || string(out) != compactPayload {
			t.Fatalf("Request = %q, %v; want %q", out, err, compactPayload)
		}
	})
	t.Run("RequestAsync", func(t *testing.T) {
		type answer struct {
			out json.RawMessage
			err error
		}
		done := make(chan answer, 1)
		if err := a.RequestAsync("a", "c", "ECHO", pretty, 5*time.Second, func(out json.RawMessage, err error) {
			done <- answer{out, err}
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			expectAnswer(t, r.out, r.err)
		case <-time.After(10 * time.Second):
			t.Fatal("RequestAsync not completed")
		}
	})
	t.Run("Member", func(t *testing.T) {
		m, err := a.Bind(opCtx(t), "member", func(client.Event) {})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close(ctxT(t))
		expectEvent(t, "MEMBER", func() error { return m.Send(opCtx(t), "c", "MEMBER", pretty) })
		out, err := m.Request(opCtx(t), "c", "ECHO", pretty)
		expectAnswer(t, out, err)
	})
	t.Run("MarshalJSON", func(t *testing.T) {
		expectEvent(t, "MARSHALER", func() error { return a.Send(opCtx(t), "c", "MARSHALER", prettyMarshaler{}) })
		out, err := a.Request(opCtx(t), "c", "MARSHALER", prettyMarshaler{})
		expectAnswer(t, out, err)
	})
}

// A line over the bus's limit gets line_too_long, with no Id, and the
// bus closes the connection: the call fails with ErrDisconnected and the
// bus's error, and the Conn reconnects.
func TestLineTooLongFailsTheConnection(t *testing.T) {
	b := startBus(t, server.Config{MaxMessageBytes: 1024})
	a, c := dial(t, b, "a"), dial(t, b, "c")
	err := a.Send(ctxT(t), "c", "BIG", strings.Repeat("x", 2000))
	var be *client.Error
	if !errors.Is(err, client.ErrDisconnected) || !errors.As(err, &be) || be.Code != "line_too_long" {
		t.Fatalf("oversized Send: %v", err)
	}
	got := c.Expect("SMALL")
	waitFor(t, func() bool { return a.Send(ctxT(t), "c", "SMALL", 1) == nil })
	if _, err := got.Wait(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
