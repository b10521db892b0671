package nats

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	natsio "github.com/nats-io/nats.go"

	"github.com/statebus/statebus/internal/server"
)

// The conformance suite pins what a client sees of ownership, RequestIds,
// MaxPendingRequests, remote_error texts and late Replies across two hosts;
// the tests here pin the details it does not: every kind of source check,
// that each way a remote Request ends frees its pending slot exactly once,
// and what the target's host is told when the requester's side ends one.

// wire is a raw connection to a host's bus.
type wire struct {
	t  *testing.T
	nc net.Conn
	rd *bufio.Reader
}

func (h *host) wire(t *testing.T, ids ...string) *wire {
	t.Helper()
	nc, err := net.Dial("unix", h.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	w := &wire{t: t, nc: nc, rd: bufio.NewReader(nc)}
	for _, id := range ids {
		w.ok(fmt.Sprintf(`{"Type":0,"Payload":%q}`, id))
	}
	return w
}

func (w *wire) send(line string) {
	w.t.Helper()
	w.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := w.nc.Write([]byte(line + "\n")); err != nil {
		w.t.Fatal(err)
	}
}

// line returns the next line the bus wrote, within 10s.
func (w *wire) line() string {
	w.t.Helper()
	w.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := w.rd.ReadString('\n')
	if err != nil {
		w.t.Fatalf("reading a line: %v", err)
	}
	return strings.TrimSuffix(s, "\n")
}

// expect reads the next line and checks that it contains want.
func (w *wire) expect(want string) string {
	w.t.Helper()
	got := w.line()
	if !strings.Contains(got, want) {
		w.t.Fatalf("bus wrote\n  %s\nwant a line containing\n  %s", got, want)
	}
	return got
}

// ok sends line and expects a success reply.
func (w *wire) ok(line string) {
	w.t.Helper()
	w.send(line)
	w.expect(`"Success":true`)
}

// quiet checks that the bus writes nothing for d.
func (w *wire) quiet(d time.Duration) {
	w.t.Helper()
	w.nc.SetReadDeadline(time.Now().Add(d))
	if s, err := w.rd.ReadString('\n'); err == nil {
		w.t.Fatalf("unexpected line %s", s)
	}
	w.rd = bufio.NewReader(w.nc) // drop the timed-out read's state
}

func request(src, dst string, id, timeoutMs int) string {
	to := ""
	if timeoutMs > 0 {
		to = fmt.Sprintf(`,"TimeoutMs":%d`, timeoutMs)
	}
	return fmt.Sprintf(`{"Type":"Request","Payload":{"SourceMachineId":%q,"TargetMachineId":%q,"EventName":"Q"%s},"Id":%d}`, src, dst, to, id)
}

const notOwner = `"Error":"Not the owner of machine id: owned-a","Kind":"Reply","Code":"not_owner"`

// A source owned on another host is refused with not_owner for every
// kind of send, to targets on either host, before anything is delivered;
// a source nobody owns still works, and the id is usable as a source once
// its owner releases it.
func TestBridgeSourceOwnedElsewhere(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta")
	meshed(t, a, b)
	owner := a.wire(t, "owned-a")
	ta := a.wire(t, "ta")
	tb := b.wire(t, "tb")
	waitFor(t, 5*time.Second, "beta to see alpha's ids", func() bool { return b.sees("owned-a", "alpha") && b.sees("ta", "alpha") })
	spoofer := b.wire(t)
	for _, line := range []string{
		`{"Type":2,"Payload":{"SourceMachineId":"owned-a","TargetMachineId":"ta","EventName":"E"}}`,
		`{"Type":2,"Payload":{"SourceMachineId":"owned-a","TargetMachineId":"tb","EventName":"E"}}`,
		`{"Type":"Publish","Payload":{"SourceMachineId":"owned-a","EventName":"E"}}`,
		request("owned-a", "ta", 1, 0),
		request("owned-a", "tb", 2, 0),
		`{"Type":1,"Payload":"owned-a"}`,
	} {
		spoofer.send(line)
		spoofer.expect(notOwner)
	}
	// The same lines again: the route cache must not remember a verdict.
	spoofer.send(`{"Type":2,"Payload":{"SourceMachineId":"owned-a","TargetMachineId":"tb","EventName":"E"}}`)
	spoofer.expect(notOwner)
	ta.quiet(100 * time.Millisecond)
	tb.quiet(10 * time.Millisecond)
	if !a.srv.Hosts("owned-a") {
		t.Fatal("the refused Unregister released owned-a on alpha")
	}
	// A source nobody owns is still fine.
	spoofer.ok(`{"Type":2,"Payload":{"SourceMachineId":"free","TargetMachineId":"tb","EventName":"E"}}`)
	tb.expect(`"SourceMachineId":"free"`)

	owner.ok(`{"Type":1,"Payload":"owned-a"}`)
	waitFor(t, 5*time.Second, "beta to forget owned-a", func() bool { return !b.sees("owned-a", "alpha") })
	spoofer.ok(`{"Type":2,"Payload":{"SourceMachineId":"owned-a","TargetMachineId":"tb","EventName":"E"}}`)
	tb.expect(`"SourceMachineId":"owned-a"`)
}

// Every way a Request to another host ends gives its slot of
// MaxPendingRequests back exactly once: after each, one more Request is
// accepted and the next is refused again.
func TestBridgeRemotePendingReleasedOnce(t *testing.T) {
	n := startNATS(t)
	cfg := server.Config{MaxPendingRequests: 2}
	a, b := startHostWith(t, n, "alpha", "", cfg), startHostWith(t, n, "beta", "", cfg)
	meshed(t, a, b)
	asker := a.wire(t, "asker")
	tgt := b.wire(t, "t", "t2")
	waitFor(t, 5*time.Second, "alpha to see t", func() bool { return a.sees("t", "beta") && a.sees("t2", "beta") })
	id := 0
	ask := func(dst string, timeoutMs int) {
		t.Helper()
		id++
		asker.send(request("asker", dst, id, timeoutMs))
		tgt.expect(`"Kind":"Request"`)
	}
	refused := func() {
		t.Helper()
		id++
		asker.send(request("asker", "t", id, 0))
		asker.expect(fmt.Sprintf(`"Code":"too_many_requests","Id":%d`, id))
	}
	// One slot is taken for good; the other is freed by each case.
	ask("t2", 60000)
	rid := 1
	for _, end := range []struct {
		name   string
		finish func() // ends the second pending request, numbered rid on beta
		reply  string // what the asker then gets
	}{
		{"answer", func() { tgt.ok(fmt.Sprintf(`{"Type":"Reply","Payload":{"RequestId":%d,"Payload":1}}`, rid)) }, `"Success":true`},
		{"remote error", func() { tgt.ok(fmt.Sprintf(`{"Type":"Reply","Payload":{"RequestId":%d,"Error":"no"}}`, rid)) }, `"Code":"remote_error"`},
		{"timeout", func() {}, `"Code":"timeout"`},
		{"target gone", func() { tgt.ok(`{"Type":1,"Payload":"t"}`); tgt.ok(`{"Type":0,"Payload":"t"}`) }, `"Code":"target_disconnected"`},
	} {
		timeout := 0
		if end.name == "timeout" {
			timeout = 100
		}
		ask("t", timeout)
		rid++
		refused()
		end.finish()
		asker.expect(end.reply)
		waitFor(t, 5*time.Second, "alpha to see t", func() bool { return a.sees("t", "beta") })
		ask("t", 60000) // the freed slot
		rid++
		refused() // and only that one
		// Free it again (answer) for the next case.
		tgt.ok(fmt.Sprintf(`{"Type":"Reply","Payload":{"RequestId":%d}}`, rid))
		asker.expect(`"Success":true`)
		t.Logf("%s: released once", end.name)
	}

	// The link dropping fails the pending requests and frees both slots.
	ask("t", 60000)
	n.stop()
	asker.expect(`"Code":"target_disconnected"`)
	asker.expect(`"Code":"target_disconnected"`)
	n.start()
	meshed(t, a, b)
	waitFor(t, 10*time.Second, "alpha to see t again", func() bool { return a.sees("t", "beta") && a.sees("t2", "beta") })
	ask("t", 60000)
	ask("t2", 60000)
	refused()
}

// When the requester's connection goes, the target's host drops the
// request at once: a Reply then gets unknown_request, as locally.
func TestBridgeRequesterGoneDropsRemoteRequest(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta")
	meshed(t, a, b)
	asker := a.wire(t, "asker")
	tgt := b.wire(t, "t")
	waitFor(t, 5*time.Second, "alpha to see t", func() bool { return a.sees("t", "beta") })
	asker.send(request("asker", "t", 1, 60000))
	tgt.expect(`"RequestId":1},"Error":null,"Kind":"Request"`)
	asker.nc.Close()
	waitFor(t, 5*time.Second, "beta to drop the request", func() bool { return b.srv.Snapshot().PendingRequests == 0 })
	tgt.send(`{"Type":"Reply","Payload":{"RequestId":1}}`)
	tgt.expect(`"Error":"Unknown or expired request: 1","Kind":"Reply","Code":"unknown_request"`)
	b.br.mu.Lock()
	left := len(b.br.inflight)
	b.br.mu.Unlock()
	a.br.mu.Lock()
	pending := len(a.br.pending)
	a.br.mu.Unlock()
	if left != 0 || pending != 0 {
		t.Fatalf("left behind: %d inflight on beta, %d pending on alpha", left, pending)
	}
}

// ghost is another host's bus played by hand on a raw NATS connection: it
// heartbeats, owns the ids it is given and hands the test what comes on
// its host subject.
type ghost struct {
	nc   *natsio.Conn
	msgs chan *natsio.Msg
}

func startGhost(t *testing.T, n *natsServer, h *host, ids ...string) *ghost {
	t.Helper()
	nc, err := natsio.Connect(n.url())
	if err != nil {
		t.Fatal(err)
	}
	g := &ghost{nc: nc, msgs: make(chan *natsio.Msg, 64)}
	if _, err := nc.ChanSubscribe(h.br.hostSubject("ghost"), g.msgs); err != nil {
		t.Fatal(err)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(testHeartbeat)
		defer tick.Stop()
		for {
			nc.PublishMsg(&natsio.Msg{Subject: "statebus.hb", Header: natsio.Header{hdrHost: {"ghost"}, hdrEpoch: {"e1"}}})
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-stopped; nc.Close() })
	h.br.mu.Lock()
	kv := h.br.kv
	h.br.mu.Unlock()
	for _, id := range ids {
		if _, err := kv.Create(ctxFor(t, 5*time.Second), token(id), []byte("e1 ghost")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, h.name+" to see "+id+" on ghost", func() bool { return h.sees(id, "ghost") })
	}
	return g
}

// next returns the next message for the ghost's machines, checking its op.
func (g *ghost) next(t *testing.T, op string) *natsio.Msg {
	t.Helper()
	select {
	case m := <-g.msgs:
		if got := m.Header.Get(hdrOp); got != op {
			t.Fatalf("ghost got op %q, want %q", got, op)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("ghost got no %s", op)
	}
	return nil
}

// A target host that does not answer at all: the requester's host gives up
// answerGrace after the timeout (it leaves the timeout to the target's bus
// until then) and tells the target's host to drop the request.
func TestBridgeTargetHostSilent(t *testing.T) {
	n := startNATS(t)
	a := startHost(t, n, "alpha")
	g := startGhost(t, n, a, "phantom")
	asker := a.wire(t, "asker")
	start := time.Now()
	asker.send(request("asker", "phantom", 1, 100))
	req := g.next(t, "req")
	if to := req.Header.Get(hdrTimeout); to != "100" {
		t.Fatalf("the request carries timeout %q, want 100", to)
	}
	asker.expect(`{"Success":false,"Data":null,"Error":"Request timed out: phantom","Kind":"Reply","Code":"timeout","Id":1}`)
	if d := time.Since(start); d < 100*time.Millisecond+answerGrace {
		t.Fatalf("gave up after %v, before the target's own timeout plus %v", d, answerGrace)
	}
	if c := g.next(t, "cancel"); c.Header.Get(hdrReq) != req.Reply {
		t.Fatalf("cancel names %q, want the request's reply subject %q", c.Header.Get(hdrReq), req.Reply)
	}
}

// Answers are read as a bus of this version writes them (with the RequestId
// the target saw) and as an older one did (no RequestId; an empty text for
// an answer with "Error":"").
func TestBridgeAnswerHeaders(t *testing.T) {
	n := startNATS(t)
	a := startHost(t, n, "alpha")
	g := startGhost(t, n, a, "phantom")
	asker := a.wire(t, "asker")
	for i, c := range []struct {
		answer *natsio.Msg
		want   string
	}{
		{&natsio.Msg{Header: natsio.Header{hdrRequestID: {"77"}}, Data: []byte(`{"v":1}`)},
			`{"Success":true,"Data":{"RequestId":77,"SourceMachineId":"phantom","Payload":{"v":1}},"Error":null,"Kind":"Reply","Id":%d}`},
		{&natsio.Msg{Data: []byte(`{"v":2}`)},
			`{"Success":true,"Data":{"RequestId":0,"SourceMachineId":"phantom","Payload":{"v":2}},"Error":null,"Kind":"Reply","Id":%d}`},
		{&natsio.Msg{Header: natsio.Header{hdrCode: {"remote_error"}, hdrRequestID: {"78"}}, Data: []byte("Target replied with an error")},
			`{"Success":false,"Data":null,"Error":"Target replied with an error","Kind":"Reply","Code":"remote_error","Id":%d}`},
		{&natsio.Msg{Header: natsio.Header{hdrCode: {"remote_error"}}},
			`{"Success":false,"Data":null,"Error":"Target replied with an error","Kind":"Reply","Code":"remote_error","Id":%d}`},
		{&natsio.Msg{Header: natsio.Header{hdrCode: {"remote_error"}}, Data: []byte("no such key")},
			`{"Success":false,"Data":null,"Error":"no such key","Kind":"Reply","Code":"remote_error","Id":%d}`},
	} {
		asker.send(request("asker", "phantom", i, 60000))
		c.answer.Subject = g.next(t, "req").Reply
		if err := g.nc.PublishMsg(c.answer); err != nil {
			t.Fatal(err)
		}
		if got, want := asker.line(), fmt.Sprintf(c.want, i); got != want {
			t.Fatalf("answer %d: bus wrote\n  %s\nwant\n  %s", i, got, want)
		}
	}
}
