package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// spec tells a worker process what to do. The orchestrator passes it as
// JSON on the command line; see runWorker for the conversation.
type spec struct {
	Role    string        `json:"role"` // send, recv, ping, pong, idle
	Peer    string        `json:"peer"`
	Addr    string        `json:"addr"`              // broker socket or URL; direct: the receiver's socket
	Index   int           `json:"index"`             // own sender (send, ping) or receiver (recv, pong) index
	Target  int           `json:"target"`            // send: the receiver index
	Sources []int         `json:"sources,omitempty"` // recv: the sender indices it expects
	Count   int           `json:"count"`             // messages per sender, or timed round trips
	Warmup  int           `json:"warmup,omitempty"`
	Window  int           `json:"window,omitempty"` // credit window in messages; 0: none
	Shapes  int           `json:"shapes,omitempty"` // send: line shapes in turn (see template)
	Credit  string        `json:"credit,omitempty"` // the receiver's credit socket
	Idle    int           `json:"idle,omitempty"`   // idle: connections to open
	Filter  string        `json:"filter,omitempty"` // monitor: the Monitor payload
	Stall   time.Duration `json:"stall"`            // give up after this long without progress
	Timeout time.Duration `json:"timeout"`
}

// workerResult is what a worker prints when it is done.
type workerResult struct {
	Role    string          `json:"role"`
	Start   int64           `json:"start_unix_ns,omitempty"` // first send
	End     int64           `json:"end_unix_ns,omitempty"`   // last send (send) or receive (recv)
	Sent    uint64          `json:"sent,omitempty"`
	Acks    ackStats        `json:"acks"`
	Check   checkResult     `json:"check"`
	Latency *latencySummary `json:"latency,omitempty"`
	Err     string          `json:"error,omitempty"`

	Traces       uint64 `json:"traces,omitempty"`        // monitor: traces read
	TracesMissed uint64 `json:"traces_missed,omitempty"` // monitor: dropped counts the bus reported
}

func senderName(i int) string   { return machineName('s', i) }
func receiverName(i int) string { return machineName('r', i) }

// relayKey pairs a sender's and a receiver's relay connections.
func relayKey(src, dst int) string { return fmt.Sprintf("%s-%s", senderName(src), receiverName(dst)) }

// openLink connects self to the peer; messages it sends go to target
// and are stamped with sender index src.
func openLink(ctx context.Context, sp *spec, self, target string, src int, sendOnly bool) (link, error) {
	t := newShapedTemplate(self, target, src, sp.Shapes)
	switch sp.Peer {
	case "statebus":
		return dialStatebus(ctx, sp.Addr, self, t, sendOnly)
	case "statebus-goclient":
		return dialGoclient(ctx, sp.Addr, self, target, t, sendOnly)
	case "redis":
		return dialRedis(ctx, sp.Addr, self, target, t, sendOnly)
	case "nats":
		return dialNATS(sp.Addr, self, target, t, sendOnly)
	case "relay":
		return dialRelay(ctx, sp.Addr, self+"-"+target, t)
	case "direct":
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", sp.Addr)
		if err != nil {
			return nil, err
		}
		return newStreamLink(c, t), nil
	}
	return nil, fmt.Errorf("bench: unknown peer %q", sp.Peer)
}

// runWorker is the worker process: it sets up, prints "ready", waits for
// "go" on stdin, runs, and prints "result " and its JSON. An idle worker
// holds its connections until stdin closes.
func runWorker(arg string) int {
	var sp spec
	if err := json.Unmarshal([]byte(arg), &sp); err != nil {
		fmt.Fprintln(os.Stderr, "bench worker:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), sp.Timeout)
	defer cancel()
	in := bufio.NewReader(os.Stdin)
	awaitGo := func() error {
		fmt.Println("ready")
		line, err := in.ReadString('\n')
		if err != nil || line != "go\n" {
			return fmt.Errorf("bench: no go signal (%q, %v)", line, err)
		}
		return nil
	}
	var res workerResult
	var err error
	switch sp.Role {
	case "send":
		res, err = runSender(ctx, &sp, awaitGo)
	case "recv":
		res, err = runReceiver(ctx, &sp, awaitGo)
	case "ping":
		res, err = runPing(ctx, &sp, awaitGo)
	case "pong":
		res, err = runPong(ctx, &sp, awaitGo)
	case "idle":
		err = runIdle(ctx, &sp, func() { fmt.Println("ready"); _, _ = io.Copy(io.Discard, in) })
	case "monitor":
		res, err = runMonitor(ctx, &sp, func() { fmt.Println("ready") }, in)
	default:
		err = fmt.Errorf("bench: unknown role %q", sp.Role)
	}
	res.Role = sp.Role
	if err != nil {
		res.Err = err.Error()
	}
	b, _ := json.Marshal(res)
	fmt.Printf("result %s\n", b)
	return 0
}

// dialCredit connects a sender to its receiver's credit socket.
func dialCredit(ctx context.Context, path string, src int) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("bench: credit socket: %w", err)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(src))
	if _, err := c.Write(b[:]); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, b[:1]); err != nil { // the receiver has it
		c.Close()
		return nil, fmt.Errorf("bench: credit handshake: %w", err)
	}
	return c, nil
}

func runSender(ctx context.Context, sp *spec, awaitGo func() error) (workerResult, error) {
	var res workerResult
	l, err := openLink(ctx, sp, senderName(sp.Index), receiverName(sp.Target), sp.Index, true)
	if err != nil {
		return res, err
	}
	defer l.close()
	var credit net.Conn
	if sp.Window > 0 {
		if credit, err = dialCredit(ctx, sp.Credit, sp.Index); err != nil {
			return res, err
		}
		defer credit.Close()
	}
	if err := awaitGo(); err != nil {
		return res, err
	}
	res.Start = time.Now().UnixNano()
	var credited uint64
	var cb [8]byte
	for seq := uint64(0); seq < uint64(sp.Count); seq++ {
		if sp.Window > 0 && seq-credited >= uint64(sp.Window) {
			if err := l.flush(); err != nil {
				return res, err
			}
			for seq-credited >= uint64(sp.Window) {
				_ = credit.SetReadDeadline(time.Now().Add(sp.Stall))
				if _, err := io.ReadFull(credit, cb[:]); err != nil {
					res.Sent = seq
					return res, fmt.Errorf("bench: sender stalled at %d, credited %d: %w", seq, credited, err)
				}
				credited = binary.BigEndian.Uint64(cb[:])
			}
		}
		if err := l.send(seq); err != nil {
			res.Sent = seq
			return res, err
		}
	}
	res.Sent = uint64(sp.Count)
	if err := l.flush(); err != nil {
		return res, err
	}
	res.End = time.Now().UnixNano()
	res.Acks, err = l.finish(ctx)
	return res, err
}

// srcState is a receiver's view of one sender.
type srcState struct {
	check  *seqCheck
	n      uint64
	mu     sync.Mutex
	credit net.Conn
}

func (s *srcState) sendCredit(n uint64) {
	s.mu.Lock()
	c := s.credit
	s.mu.Unlock()
	if c == nil {
		return
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	_, _ = c.Write(b[:])
}

// serveCredit accepts the senders' credit connections on ln.
func serveCredit(ln net.Listener, states map[int]*srcState) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		var b [4]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			c.Close()
			continue
		}
		s := states[int(binary.BigEndian.Uint32(b[:]))]
		if s == nil {
			c.Close()
			continue
		}
		s.mu.Lock()
		s.credit = c
		s.mu.Unlock()
		_, _ = c.Write([]byte{1})
	}
}

// receiverLinks opens the receiver's links: one per sender for the direct
// pair and the relay (each sender has its own stream), else one.
func receiverLinks(ctx context.Context, sp *spec) (links []link, accept func() ([]link, error), err error) {
	self := receiverName(sp.Index)
	switch sp.Peer {
	case "direct":
		_ = os.Remove(sp.Addr)
		ln, err := net.Listen("unix", sp.Addr)
		if err != nil {
			return nil, nil, err
		}
		// Senders dial once every receiver is ready: accept after go.
		accept = func() ([]link, error) {
			defer ln.Close()
			var ls []link
			for range sp.Sources {
				c, err := ln.Accept()
				if err != nil {
					return ls, err
				}
				ls = append(ls, newStreamLink(c, nil))
			}
			return ls, nil
		}
		return nil, accept, nil
	case "relay":
		for _, src := range sp.Sources {
			l, err := dialRelay(ctx, sp.Addr, relayKey(src, sp.Index), nil)
			if err != nil {
				return nil, nil, err
			}
			links = append(links, l)
		}
		return links, nil, nil
	}
	l, err := openLink(ctx, sp, self, "", 0, false)
	if err != nil {
		return nil, nil, err
	}
	return []link{l}, nil, nil
}

func runReceiver(ctx context.Context, sp *spec, awaitGo func() error) (workerResult, error) {
	var res workerResult
	states := map[int]*srcState{}
	for _, s := range sp.Sources {
		states[s] = &srcState{check: newSeqCheck(sp.Count)}
	}
	if sp.Window > 0 {
		_ = os.Remove(sp.Credit)
		ln, err := net.Listen("unix", sp.Credit)
		if err != nil {
			return res, err
		}
		defer ln.Close()
		go serveCredit(ln, states)
	}
	links, accept, err := receiverLinks(ctx, sp)
	if err != nil {
		return res, err
	}
	if err := awaitGo(); err != nil {
		return res, err
	}
	if accept != nil {
		if links, err = accept(); err != nil {
			return res, err
		}
	}
	return receiveAll(sp, links, states)
}

// receiveAll reads every link until each has delivered its share, or
// nothing arrives for sp.Stall.
func receiveAll(sp *spec, links []link, states map[int]*srcState) (workerResult, error) {
	var res workerResult
	step := uint64(max(sp.Window/4, 1))
	perLink := sp.Count * len(sp.Sources) / max(len(links), 1)
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var stalled atomic.Bool
	var wg sync.WaitGroup
	errs := make([]error, len(links))
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < perLink; n++ {
				src, seq, err := l.recv()
				if err != nil {
					errs[i] = err
					return
				}
				last.Store(time.Now().UnixNano())
				s := states[src]
				if s == nil {
					errs[i] = fmt.Errorf("bench: message from unexpected sender %d", src)
					return
				}
				s.check.see(seq)
				s.n++
				if sp.Window > 0 && s.n%step == 0 {
					s.sendCredit(s.n)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			if time.Since(time.Unix(0, last.Load())) > sp.Stall {
				stalled.Store(true)
				for _, l := range links {
					l.close()
				}
				<-done
				break wait
			}
		}
	}
	res.End = last.Load()
	for _, s := range states {
		res.Check.add(s.check)
	}
	for _, l := range links {
		l.close()
	}
	if stalled.Load() {
		return res, fmt.Errorf("bench: receiver stalled: nothing for %v with %d lost", sp.Stall, res.Check.Lost)
	}
	return res, errors.Join(errs...)
}
