package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

func runSelfTest(args []string, stdout, stderr io.Writer) int {
	var b busFlags
	fs := newFlagSet("self-test", "[--socket PATH | --pipe NAME]",
		"Checks a bus end to end through real sockets with two clients: registration, routing both\nways, typed errors, id ownership, request/reply, publish, health and clean-up after a\ndisconnect. Without --socket or --pipe it starts a bus of its own on a temporary socket;\nwith them it tests the running bus there, sending only to its own machine ids (so it\nskips publish, which would reach every machine). Exits 1 if any step fails.", stderr)
	b.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 0, 0); !ok {
		return code
	}
	private := b.socket == "" && b.pipe == ""
	if private {
		dir, err := os.MkdirTemp("", "statebus-selftest")
		if err != nil {
			fmt.Fprintln(stderr, "statebus self-test:", err)
			return exitFailed
		}
		defer os.RemoveAll(dir)
		b.socket = filepath.Join(dir, "bus.sock")
		stopBus, err := startSelfTestBus(b.socket)
		if err != nil {
			fmt.Fprintln(stderr, "statebus self-test: starting a bus:", err)
			return exitFailed
		}
		defer stopBus()
		fmt.Fprintf(stdout, "started a bus on %s\n", b.socket)
	} else {
		fmt.Fprintf(stdout, "testing the bus at %s\n", client.Resolve(b.addr()))
	}
	t := &selfTest{b: &b, out: stdout, private: private, suffix: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)}
	t.run()
	if t.failed > 0 {
		fmt.Fprintf(stdout, "FAIL: %d of %d steps failed\n", t.failed, t.steps)
		return exitFailed
	}
	fmt.Fprintf(stdout, "OK: all %d steps passed\n", t.steps)
	return exitOK
}

func startSelfTestBus(path string) (stop func(), err error) {
	srv, err := server.New(server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

type selfTest struct {
	b             *busFlags
	out           io.Writer
	private       bool // the bus is our own: publish reaches no one else
	suffix        string
	steps, failed int
	a, c          *client.Conn
	idA, idB      string
}

// step runs one check and prints its outcome.
func (t *selfTest) step(name string, fn func(ctx context.Context) error) bool {
	t.steps++
	ctx, cancel := context.WithTimeout(context.Background(), t.b.timeout)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	took := time.Since(start).Round(10 * time.Microsecond)
	if err != nil {
		t.failed++
		fmt.Fprintf(t.out, "FAIL  %-38s %v (%s)\n", name, err, took)
		return false
	}
	fmt.Fprintf(t.out, "PASS  %-38s (%s)\n", name, took)
	return true
}

func (t *selfTest) run() {
	t.idA, t.idB = "selftest-a-"+t.suffix, "selftest-b-"+t.suffix
	ok := t.step("connect and register two clients", func(ctx context.Context) error {
		var err error
		if t.a, err = t.b.dial(ctx, t.idA); err != nil {
			return err
		}
		t.c, err = t.b.dial(ctx, t.idB)
		return err
	})
	defer func() {
		if t.a != nil {
			t.a.Close()
		}
		if t.c != nil {
			t.c.Close()
		}
	}()
	if !ok {
		return
	}
	t.step("route an event A -> B, payload verbatim", func(ctx context.Context) error {
		return t.route(ctx, t.a, t.c, t.idB, json.RawMessage(`{"n":123456789012345678901234567890,"s":"caf\u00e9"}`))
	})
	t.step("route an event B -> A", func(ctx context.Context) error {
		return t.route(ctx, t.c, t.a, t.idA, json.RawMessage(`[1,2,3]`))
	})
	t.step("unknown target is a typed error", func(ctx context.Context) error {
		err := t.a.Send(ctx, "selftest-nobody-"+t.suffix, "PING", nil)
		if !errors.Is(err, client.ErrNotConnected) {
			return fmt.Errorf("got %v, want target not connected", err)
		}
		return nil
	})
	t.step("a live id cannot be taken", func(ctx context.Context) error {
		err := t.c.Register(ctx, t.idA)
		if !errors.Is(err, client.ErrIDTaken) {
			return fmt.Errorf("got %v, want id taken", err)
		}
		return nil
	})
	t.step("request/reply", func(ctx context.Context) error {
		remove := t.c.OnRequest("SELFTEST_ADD", func(ctx context.Context, ev client.Event) (any, error) {
			var in []int
			if err := ev.Decode(&in); err != nil {
				return nil, err
			}
			return in[0] + in[1], nil
		})
		defer remove()
		out, err := t.a.Request(ctx, t.idB, "SELFTEST_ADD", []int{20, 22})
		if err != nil {
			return err
		}
		if string(out) != "42" {
			return fmt.Errorf("reply %s, want 42", out)
		}
		return nil
	})
	t.step("queued events arrive in order", func(ctx context.Context) error {
		return t.inOrder(ctx, 100)
	})
	if t.private {
		t.step("publish reaches the other client", t.publish)
	} else {
		// On a bus in use a publish would reach every machine on it.
		fmt.Fprintf(t.out, "SKIP  %-38s (would reach every machine on this bus; self-test without --socket/--pipe checks it)\n", "publish")
	}
	t.step("health and machine list", func(ctx context.Context) error {
		h, err := t.a.Health(ctx)
		if err != nil {
			return err
		}
		if !h.IsHealthy || h.ConnectionCount < 2 || h.RegisteredMachines < 2 {
			return fmt.Errorf("health %+v", h)
		}
		list, err := t.a.ListMachines(ctx)
		if err != nil {
			return err
		}
		ids := make([]string, len(list))
		for i, m := range list {
			ids[i] = m.ID
		}
		if !slices.Contains(ids, t.idA) || !slices.Contains(ids, t.idB) {
			return fmt.Errorf("machines %v lack %s or %s", ids, t.idA, t.idB)
		}
		return nil
	})
	t.step("disconnect releases the client's ids", func(ctx context.Context) error {
		t.c.Close()
		t.c = nil
		for {
			list, err := t.a.ListMachines(ctx)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(list, func(m client.MachineInfo) bool { return m.ID == t.idB }) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s still registered after its connection closed", t.idB)
			case <-time.After(5 * time.Millisecond):
			}
		}
		if err := t.a.Send(ctx, t.idB, "PING", nil); !errors.Is(err, client.ErrNotConnected) {
			return fmt.Errorf("send to the departed client: %v, want target not connected", err)
		}
		return nil
	})
}

// publish checks that a Publish from A reaches B. Only on the private
// bus: it goes to every machine.
func (t *selfTest) publish(ctx context.Context) error {
	got := t.c.Expect("SELFTEST_NEWS")
	n, err := t.a.Publish(ctx, "SELFTEST_NEWS", "hello")
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("published to %d machines", n)
	}
	ev, err := got.Wait(ctx)
	if err != nil {
		return err
	}
	if ev.Source != t.idA {
		return fmt.Errorf("event from %q", ev.Source)
	}
	return nil
}

// inOrder queues n events from A to B without waiting and checks that B
// gets them all, in order.
func (t *selfTest) inOrder(ctx context.Context, n int) error {
	got := make(chan int, n)
	remove := t.c.OnEvent("SELFTEST_SEQ", func(ev client.Event) {
		var i int
		if ev.Decode(&i) == nil {
			got <- i
		}
	})
	defer remove()
	for i := range n {
		if err := t.a.SendAsync(t.idB, "SELFTEST_SEQ", i); err != nil {
			return err
		}
	}
	if err := t.a.Flush(ctx); err != nil {
		return err
	}
	for want := range n {
		select {
		case i := <-got:
			if i != want {
				return fmt.Errorf("got event %d where %d was due", i, want)
			}
		case <-ctx.Done():
			return fmt.Errorf("%d of %d events arrived", want, n)
		}
	}
	return nil
}

// route sends from one client to another and checks what arrives.
func (t *selfTest) route(ctx context.Context, from, to *client.Conn, target string, payload json.RawMessage) error {
	got := to.Expect("SELFTEST_PING")
	if err := from.Send(ctx, target, "SELFTEST_PING", payload); err != nil {
		return err
	}
	ev, err := got.Wait(ctx)
	if err != nil {
		return err
	}
	if ev.Target != target || !bytes.Equal(ev.Payload, payload) {
		return fmt.Errorf("received %s for %s, want %s for %s", ev.Payload, ev.Target, payload, target)
	}
	return nil
}
