//go:build !windows

package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testOutbox is an outbox writing to one end of a real connection, with
// its failures recorded.
type testOutbox struct {
	*outbox
	peer  net.Conn // the other end, for the test to read or close
	st    stats
	mu    sync.Mutex
	fails []error
}

func (t *testOutbox) failures() []error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]error(nil), t.fails...)
}

// unixPair returns the two ends of a real Unix socket connection.
func unixPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sbo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func newTestOutbox(t *testing.T, nc, peer net.Conn, timeout time.Duration) *testOutbox {
	to := &testOutbox{outbox: new(outbox), peer: peer}
	to.init(nc, func() time.Duration { return timeout }, &to.st, func(err error) {
		to.mu.Lock()
		to.fails = append(to.fails, err)
		to.mu.Unlock()
	})
	t.Cleanup(func() {
		// The writer goroutine, if any, must end: close the socket and
		// wait for the write side to be given up.
		nc.Close()
		to.close()
	})
	return to
}

// push queues line as producers do and flushes.
func (o *outbox) push(line string) {
	o.mu.Lock()
	o.reserveLocked(len(line))
	o.out = append(o.out, line...)
	o.mu.Unlock()
	o.flush()
}

// idle waits until no flush or writer owns the write side.
func (o *outbox) idle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o.mu.Lock()
		busy := o.flushing
		o.mu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the write side was never given up")
		}
		time.Sleep(time.Millisecond)
	}
}

// readLines reads n lines from r within the deadline.
func readLines(t *testing.T, c net.Conn, n int) []string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	rd := bufio.NewReaderSize(c, 1<<16)
	lines := make([]string, 0, n)
	for len(lines) < n {
		s, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d lines: %v", len(lines), err)
		}
		lines = append(lines, strings.TrimSuffix(s, "\n"))
	}
	return lines
}

// Lines from several producers arrive whole, each producer's in order,
// across chunk boundaries and with lines larger than a chunk; the bytes
// written are counted.
func TestOutboxOrdering(t *testing.T) {
	for _, kind := range []string{"unix", "pipe"} {
		t.Run(kind, func(t *testing.T) {
			var nc, peer net.Conn
			if kind == "unix" {
				nc, peer = unixPair(t)
			} else {
				nc, peer = net.Pipe() // no raw writer: every flush hands over to the writer goroutine
				t.Cleanup(func() { nc.Close(); peer.Close() })
			}
			o := newTestOutbox(t, nc, peer, 10*time.Second)
			const producers, each = 4, 300
			total := 0
			var wg sync.WaitGroup
			for p := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						pad := strings.Repeat("x", (i*977)%5000)
						if i%97 == 0 {
							pad = strings.Repeat("y", chunkSize+100) // bigger than a chunk
						}
						o.push(fmt.Sprintf("%d %d %s\n", p, i, pad))
					}
				}()
			}
			lines := readLines(t, peer, producers*each)
			wg.Wait()
			next := make([]int, producers)
			for _, l := range lines {
				var p, i int
				if _, err := fmt.Sscanf(l, "%d %d", &p, &i); err != nil {
					t.Fatalf("torn line %.60q", l)
				}
				if i != next[p] {
					t.Fatalf("producer %d: line %d after %d", p, i, next[p]-1)
				}
				next[p]++
				total += len(l) + 1
			}
			o.idle(t)
			if got := o.st.bytesOut.Load(); got != uint64(total) {
				t.Fatalf("bytesOut %d, wrote %d", got, total)
			}
			if q := o.queued(); q != 0 {
				t.Fatalf("%d bytes still queued", q)
			}
			if f := o.failures(); len(f) != 0 {
				t.Fatalf("failures: %v", f)
			}
		})
	}
}

// When the socket takes only part of a flush, the writer goroutine writes
// the rest, in order, while the reader reads slowly; then it exits.
func TestOutboxPartialWrites(t *testing.T) {
	nc, peer := unixPair(t)
	nc.(*net.UnixConn).SetWriteBuffer(4096)
	peer.(*net.UnixConn).SetReadBuffer(4096)
	o := newTestOutbox(t, nc, peer, 10*time.Second)
	const n = 200
	line := strings.Repeat("p", 1000)
	for i := range n {
		o.push(fmt.Sprintf("%04d %s\n", i, line))
	}
	// The socket holds a few KiB: most of it is queued or with the writer.
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	rd := bufio.NewReaderSize(peer, 512)
	for i := range n {
		s, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if want := fmt.Sprintf("%04d %s\n", i, line); s != want {
			t.Fatalf("line %d: %.20q", i, s)
		}
	}
	o.idle(t)
	if got, want := o.st.bytesOut.Load(), uint64(n*(len(line)+6)); got != want {
		t.Fatalf("bytesOut %d, want %d", got, want)
	}
}

// A socket whose reader has stopped: a flush returns without blocking,
// lines keep queueing, and after the write timeout the outbox fails once,
// as a timeout, counting every line it could not write as dropped.
func TestOutboxFullSocket(t *testing.T) {
	nc, peer := unixPair(t)
	nc.(*net.UnixConn).SetWriteBuffer(4096)
	peer.(*net.UnixConn).SetReadBuffer(4096)
	o := newTestOutbox(t, nc, peer, 200*time.Millisecond)
	const n = 500
	line := strings.Repeat("f", 999) + "\n"
	for range n {
		o.push(line) // returns: a flush never waits for the socket
	}
	waitCond(t, "the write timeout to fail the outbox", func() bool { return len(o.failures()) == 1 })
	var ne net.Error
	if err := o.failures()[0]; !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("failure %v, want a timeout", err)
	}
	o.idle(t)
	// What the peer can still read plus what was dropped is everything.
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(peer)
	read := strings.Count(string(got), "\n")
	if dropped := int(o.st.dropped.Load()); read+dropped != n {
		t.Fatalf("read %d + dropped %d lines, queued %d", read, dropped, n)
	}
	// Dead: more lines are not written, and teardown does not block.
	o.push(line)
	o.close()
	if len(o.failures()) != 1 {
		t.Fatalf("failed more than once: %v", o.failures())
	}
}

// The peer goes away in the middle of a flush: the outbox fails once,
// the queue is emptied, and the failure is what the socket said.
func TestOutboxFailureMidFlush(t *testing.T) {
	nc, peer := unixPair(t)
	nc.(*net.UnixConn).SetWriteBuffer(4096)
	o := newTestOutbox(t, nc, peer, 10*time.Second)
	line := strings.Repeat("m", 2000) + "\n"
	for range 50 {
		o.push(line)
	}
	// Read a little, then hang up with input unread.
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf [3000]byte
	if _, err := io.ReadFull(peer, buf[:]); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	for i := 0; len(o.failures()) == 0 && i < 1000; i++ {
		o.push(line) // keep writing until the socket reports the hang-up
		if len(o.failures()) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	waitCond(t, "the hang-up to fail the outbox", func() bool { return len(o.failures()) == 1 })
	o.idle(t)
	if o.queued() != 0 {
		t.Fatalf("%d bytes left queued after the failure", o.queued())
	}
	if o.st.dropped.Load() == 0 {
		t.Fatal("no line counted as dropped")
	}
	o.close()
}

// A failure declared by someone who does not own the write side (a
// requester that does not read its replies) closes the socket; the writer
// that owns it then fails on its next write and gives the write side up.
func TestOutboxFailedByAnotherGoroutine(t *testing.T) {
	nc, peer := unixPair(t)
	nc.(*net.UnixConn).SetWriteBuffer(4096)
	peer.(*net.UnixConn).SetReadBuffer(4096)
	o := newTestOutbox(t, nc, peer, 10*time.Second)
	line := strings.Repeat("w", 999) + "\n"
	for range 100 {
		o.push(line) // the writer goroutine now blocks on the full socket
	}
	o.mu.Lock()
	owned := o.flushing
	o.mu.Unlock()
	if !owned {
		t.Fatal("no writer owns the write side of a full socket")
	}
	o.fail(errNotReading, nil, 0, 0)
	o.idle(t) // the writer saw the closed socket and gave up
	o.close()
	if f := o.failures(); len(f) != 1 || !errors.Is(f[0], errNotReading) {
		t.Fatalf("failures %v, want one errNotReading", f)
	}
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
