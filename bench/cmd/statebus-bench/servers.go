package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// runRelay is the byte-forwarding relay: the limit for any broker. Each
// client opens with a fixed-size hello naming a pairing key; the relay
// pairs the two connections with the same key and copies bytes between
// them both ways, untouched. It serves until SIGTERM or stdin closes.
func runRelay(path string) int {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench relay:", err)
		return 1
	}
	defer ln.Close()
	var mu sync.Mutex
	waiting := map[string]net.Conn{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				hello := make([]byte, relayHelloSize)
				if _, err := io.ReadFull(c, hello); err != nil {
					c.Close()
					return
				}
				key := strings.TrimSpace(string(hello))
				mu.Lock()
				other, ok := waiting[key]
				if ok {
					delete(waiting, key)
				} else {
					waiting[key] = c
				}
				mu.Unlock()
				if ok {
					go forward(c, other)
					go forward(other, c)
				}
			}()
		}
	}()
	fmt.Println("ready")
	waitForStop()
	return 0
}

// forward copies src to dst until either fails.
func forward(dst, src net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// runNATSD runs an embedded nats-server on a loopback port and prints its
// URL. It serves until SIGTERM or stdin closes.
func runNATSD() int {
	opts := &natsserver.Options{
		Host:           "127.0.0.1",
		Port:           natsserver.RANDOM_PORT,
		NoLog:          true,
		NoSigs:         true,
		MaxConn:        1 << 16,
		MaxPending:     64 << 20,
		WriteDeadline:  30 * time.Second,
		MaxControlLine: 4096,
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench natsd:", err)
		return 1
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		fmt.Fprintln(os.Stderr, "bench natsd: not ready")
		return 1
	}
	fmt.Printf("ready %s\n", s.ClientURL())
	waitForStop()
	s.Shutdown()
	return 0
}

// waitForStop returns on SIGTERM, SIGINT or the end of stdin.
func waitForStop() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		close(eof)
	}()
	select {
	case <-sig:
	case <-eof:
	}
}
