package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// pingLink opens the link of one side of a round trip: the ping side is
// sender 0 talking to receiver 0, the pong side the other way round.
func pingLink(ctx context.Context, sp *spec, ping bool) (link, error) {
	self, target := senderName(0), receiverName(0)
	if !ping {
		self, target = target, self
	}
	switch sp.Peer {
	case "relay":
		return dialRelay(ctx, sp.Addr, relayKey(0, 0), newTemplate(self, target, 0))
	case "direct":
		if ping {
			break
		}
		_ = os.Remove(sp.Addr)
		ln, err := net.Listen("unix", sp.Addr)
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		fmt.Println("listening") // the orchestrator starts ping now
		c, err := ln.Accept()
		if err != nil {
			return nil, err
		}
		return newStreamLink(c, newTemplate(self, target, 0)), nil
	}
	return openLink(ctx, sp, self, target, 0, false)
}

// runPing times Count round trips after Warmup untimed ones.
func runPing(ctx context.Context, sp *spec, awaitGo func() error) (workerResult, error) {
	var res workerResult
	l, err := pingLink(ctx, sp, true)
	if err != nil {
		return res, err
	}
	defer l.close()
	if err := awaitGo(); err != nil {
		return res, err
	}
	total := sp.Warmup + sp.Count
	lat := make([]int64, 0, sp.Count)
	check := newSeqCheck(total)
	res.Start = time.Now().UnixNano()
	for i := range total {
		t0 := time.Now()
		if err := l.send(uint64(i)); err != nil {
			return res, err
		}
		if err := l.flush(); err != nil {
			return res, err
		}
		_, seq, err := l.recv()
		if err != nil {
			return res, fmt.Errorf("bench: round trip %d: %w", i, err)
		}
		d := time.Since(t0)
		check.see(seq)
		if seq != uint64(i) {
			return res, fmt.Errorf("bench: round trip %d answered with %d", i, seq)
		}
		if i >= sp.Warmup {
			lat = append(lat, int64(d))
		}
	}
	res.End = time.Now().UnixNano()
	res.Sent = uint64(total)
	res.Check.add(check)
	s := summarize(lat)
	res.Latency = &s
	res.Acks, err = l.finish(ctx)
	return res, err
}

// runPong answers every message with the same sequence number.
func runPong(ctx context.Context, sp *spec, awaitGo func() error) (workerResult, error) {
	var res workerResult
	l, err := pingLink(ctx, sp, false)
	if err != nil {
		return res, err
	}
	defer l.close()
	if err := awaitGo(); err != nil {
		return res, err
	}
	total := sp.Warmup + sp.Count
	check := newSeqCheck(total)
	for range total {
		_, seq, err := l.recv()
		if err != nil {
			return res, err
		}
		check.see(seq)
		if err := l.send(seq); err != nil {
			return res, err
		}
		if err := l.flush(); err != nil {
			return res, err
		}
	}
	res.End = time.Now().UnixNano()
	res.Sent = uint64(total)
	res.Check.add(check)
	res.Acks, err = l.finish(ctx)
	return res, err
}

// runIdle opens sp.Idle registered (subscribed) connections to the broker,
// calls ready, and holds them until hold returns.
func runIdle(ctx context.Context, sp *spec, hold func()) error {
	conns := make([]net.Conn, 0, sp.Idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	network, addr := "unix", sp.Addr
	if sp.Peer == "nats" {
		network, addr = "tcp", strings.TrimPrefix(sp.Addr, "nats://")
	}
	const batch = 500 // dial, then greet, a batch at a time
	for start := 0; start < sp.Idle; start += batch {
		end := min(start+batch, sp.Idle)
		var d net.Dialer
		for i := start; i < end; i++ {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return fmt.Errorf("bench: idle connection %d: %w", i, err)
			}
			conns = append(conns, c)
			if err := idleGreet(sp.Peer, c, i); err != nil {
				return fmt.Errorf("bench: idle connection %d: %w", i, err)
			}
		}
		for i := start; i < end; i++ {
			if err := idleAwait(sp.Peer, conns[i]); err != nil {
				return fmt.Errorf("bench: idle connection %d: %w", i, err)
			}
		}
	}
	hold()
	return nil
}

// idleGreet writes what registers idle connection i with the broker.
func idleGreet(peer string, c net.Conn, i int) error {
	id := fmt.Sprintf("idle-%05d", i)
	var b []byte
	switch peer {
	case "statebus", "statebus-goclient":
		b = fmt.Appendf(nil, "{\"Type\":0,\"Payload\":%q}\n", id)
	case "redis":
		b = appendCommand(nil, []byte("SUBSCRIBE"), []byte(id))
	case "nats":
		b = fmt.Appendf(nil, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB %s %d\r\nPING\r\n", id, i+1)
	case "relay":
		b = make([]byte, relayHelloSize)
		copy(b, id)
		for j := len(id); j < relayHelloSize-1; j++ {
			b[j] = ' '
		}
		b[relayHelloSize-1] = '\n'
	default:
		return fmt.Errorf("bench: no idle connections for %s", peer)
	}
	_, err := c.Write(b)
	return err
}

// idleAwait reads the broker's answer to idleGreet.
func idleAwait(peer string, c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	r := bufio.NewReaderSize(c, 512)
	switch peer {
	case "statebus", "statebus-goclient":
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, `{"Success":true`) {
			return fmt.Errorf("register refused: %s", strings.TrimSpace(line))
		}
	case "redis":
		rr := respReader{r}
		if _, _, _, err := rr.next(); err != nil {
			return err
		}
	case "nats":
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(line, "-ERR") {
				return fmt.Errorf("nats: %s", strings.TrimSpace(line))
			}
			if strings.HasPrefix(line, "PONG") {
				break
			}
		}
	}
	if r.Buffered() > 0 {
		return fmt.Errorf("unexpected %d more bytes", r.Buffered())
	}
	return nil
}
