package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// peers, in table order. statebus-goclient runs the same bus as statebus
// but its clients use the public Go client package.
var allPeers = []string{"statebus", "statebus-goclient", "statebus-monitored", "direct", "relay", "redis", "nats"}

// defaultPeers are the peers run without -peers: all but
// statebus-monitored (statebus with one monitor attached, for issue 13's
// "monitoring costs at most 20 %").
var defaultPeers = []string{"statebus", "statebus-goclient", "direct", "relay", "redis", "nats"}

// env is what every cell needs: where things are.
type env struct {
	dir      string // temp dir for sockets, configs and logs
	self     string // this executable, re-run as workers and servers
	statebus string // the built statebus binary
	redis    string // redis-server, or "" when absent
}

// errSkip marks a cell that cannot run here.
var errSkip = errors.New("skipped")

// broker is the process in the middle (none for direct).
type broker struct {
	peer string
	addr string
	p    *proc
}

func (b *broker) pid() int {
	if b.p == nil {
		return 0
	}
	return b.p.pid()
}

func (b *broker) stop() {
	if b.p != nil {
		b.p.terminate()
	}
}

// buildStatebus builds ../cmd/statebus (the main module) into dir.
func buildStatebus(dir string) (string, error) {
	out := filepath.Join(dir, "statebus")
	mainDir, err := mainModuleDir()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/statebus")
	cmd.Dir = mainDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: building statebus: %v\n%s", err, b)
	}
	return out, nil
}

// mainModuleDir finds the statebus checkout: the parent of the bench
// module, found from the working directory.
func mainModuleDir() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for ; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/statebus/statebus\n") {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", errors.New("bench: run from inside the statebus checkout (the main module's go.mod was not found)")
		}
	}
}

// startBroker starts a fresh broker for peer in dir.
func startBroker(e *env, peer, dir string) (*broker, error) {
	switch peer {
	case "direct":
		return &broker{peer: peer}, nil
	case "statebus", "statebus-goclient":
		return startStatebus(e, dir, peer)
	case "statebus-monitored":
		return startStatebus(e, dir, "statebus")
	case "relay":
		sock := filepath.Join(dir, "relay.sock")
		p, err := startProc("relay", nil, e.self, "-relay", sock)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(10*time.Second, "ready"); err != nil {
			p.stop()
			return nil, err
		}
		return &broker{peer: peer, addr: sock, p: p}, nil
	case "nats":
		p, err := startProc("nats-server", nil, e.self, "-natsd")
		if err != nil {
			return nil, err
		}
		line, err := p.expect(20*time.Second, "ready ")
		if err != nil {
			p.stop()
			return nil, err
		}
		return &broker{peer: peer, addr: strings.TrimPrefix(line, "ready "), p: p}, nil
	case "redis":
		return startRedis(e, dir)
	}
	return nil, fmt.Errorf("bench: unknown peer %q", peer)
}

// startStatebus starts the bus for peer: "statebus" (workers speak the raw
// wire) or "statebus-goclient" (workers use the Go client package).
func startStatebus(e *env, dir, peer string) (*broker, error) {
	sock := filepath.Join(dir, "statebus.sock")
	cfg := filepath.Join(dir, "appsettings.json")
	// MaxConnections must cover the conns workload's idle connections.
	const settings = `{"Logging":{"LogLevel":{"Default":"Warning"}},"MessageBus":{"MaxConnections":20000,"ConnectionAlertPercent":100}}`
	if err := os.WriteFile(cfg, []byte(settings), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc("statebus", []string{"MessageBus__MaxConnections=20000"}, e.statebus,
		"serve", "--socket", sock, "--config", cfg)
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(20*time.Second, "statebus listening on"); err != nil {
		p.stop()
		return nil, err
	}
	return &broker{peer: peer, addr: sock, p: p}, nil
}

func startRedis(e *env, dir string) (*broker, error) {
	if e.redis == "" {
		return nil, fmt.Errorf("%w: redis-server not installed (run bench/setup.sh)", errSkip)
	}
	sock := filepath.Join(dir, "redis.sock")
	p, err := startProc("redis-server", nil, e.redis,
		"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--maxclients", "15000",
		"--protected-mode", "no", "--daemonize", "no", "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, err
	}
	b := &broker{peer: "redis", addr: sock, p: p}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if err := redisPing(ctx, sock); err == nil {
			return b, nil
		}
		select {
		case <-ctx.Done():
			p.stop()
			return nil, fmt.Errorf("bench: redis-server did not answer: %s", p.stderr())
		case <-p.done:
			return nil, fmt.Errorf("bench: redis-server exited: %s", p.stderr())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func redisPing(ctx context.Context, sock string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(appendCommand(nil, []byte("PING"))); err != nil {
		return err
	}
	rr := respReader{bufio.NewReader(c)}
	kind, _, _, err := rr.next()
	if err != nil {
		return err
	}
	if kind != '+' {
		return fmt.Errorf("bench: redis PING answered %q", kind)
	}
	return nil
}

// checkoutCommit names the commit the bus is built from, "+dirty" when
// the bus's own sources have local changes.
func checkoutCommit() string {
	dir, err := mainModuleDir()
	if err != nil {
		return "?"
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "?"
	}
	c := strings.TrimSpace(string(out))
	st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--", "cmd", "internal", "client", "go.mod").Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "+dirty"
	}
	return c
}
