package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
)

// chaosClient is a client process of TestChaos: it registers its id,
// sends events to random peers with Send and logs, unbuffered so SIGKILL
// loses nothing written, every acknowledged send ("A") and every received
// event ("R"). SIGTERM ends it cleanly.
func chaosClient() int {
	id, peers := os.Getenv("CHAOS_ID"), strings.Split(os.Getenv("CHAOS_PEERS"), ",")
	logf, err := os.OpenFile(os.Getenv("CHAOS_LOG"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 1
	}
	var mu sync.Mutex
	logLine := func(format string, a ...any) {
		mu.Lock()
		fmt.Fprintf(logf, format+"\n", a...)
		mu.Unlock()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var c *client.Conn
	for c == nil { // the previous incarnation's id may not be released yet
		if c, err = client.Dial(ctx, os.Getenv("CHAOS_SOCKET"), client.WithMachines(id), client.WithBackoff(5*time.Millisecond, 50*time.Millisecond)); err != nil {
			select {
			case <-ctx.Done():
				return 0
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	c.OnEvent("E", func(ev client.Event) {
		var p struct {
			Inc string
			Seq int
		}
		ev.Decode(&p)
		logLine("R %s %s %d", ev.Source, p.Inc, p.Seq)
	})
	inc := strconv.Itoa(os.Getpid())
	for seq := 0; ctx.Err() == nil; seq++ {
		target := peers[rand.IntN(len(peers))]
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.Send(sctx, target, "E", map[string]any{"Inc": inc, "Seq": seq})
		cancel()
		if err == nil {
			logLine("A %s %d %s %d", target, time.Now().UnixNano(), inc, seq)
		} else if c.State() != client.StateConnected {
			time.Sleep(5 * time.Millisecond) // reconnecting; do not spin
		}
	}
	c.Close()
	logf.Close()
	return 0
}

type chaosProc struct {
	id  string
	cmd *exec.Cmd
}

// TestChaos runs client processes that send to each other while a driver
// kills them with SIGKILL and restarts the bus under them. Afterwards the
// bus has not crashed, every event the bus acknowledged reached its target
// exactly once unless that target was killed after the acknowledgement,
// and the bus's connections, machines, goroutines and files are back to
// their baseline. STATEBUS_CHAOS_SECONDS sets the length (default 4, or
// 120 with the build tag chaos: go test -tags chaos -run Chaos ./cmd/statebus).
func TestChaos(t *testing.T) {
	seconds := defaultChaosSeconds
	if s, err := strconv.Atoi(os.Getenv("STATEBUS_CHAOS_SECONDS")); err == nil {
		seconds = s
	}
	dir := shortDir(t)
	path := filepath.Join(dir, "bus.sock")
	bus := startServe(t, nil, "--socket", path)
	bus.listening(t)
	baseline := busMetrics(t, path)

	ids := []string{"c0", "c1", "c2", "c3"}
	var mu sync.Mutex
	kills := map[string][]int64{} // id -> kill times
	procs := map[string]*chaosProc{}
	var incarnation int
	start := func(id string) {
		incarnation++
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "STATEBUS_CHAOS_ROLE=client", "CHAOS_ID="+id, "CHAOS_PEERS="+strings.Join(ids, ","),
			"CHAOS_SOCKET="+path, fmt.Sprintf("CHAOS_LOG=%s/%s.%d.log", dir, id, incarnation))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[id] = &chaosProc{id: id, cmd: cmd}
	}
	for _, id := range ids {
		start(id)
	}
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	restartAt := time.Now().Add(time.Duration(seconds) * time.Second / 2)
	restarted := false
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(100+rand.IntN(150)) * time.Millisecond)
		if !restarted && time.Now().After(restartAt) {
			restarted = true
			bus.cmd.Process.Signal(syscall.SIGTERM)
			if code := bus.wait(t); code != 0 {
				t.Fatalf("bus exited %d on SIGTERM: %s", code, bus.stderr.String())
			}
			bus = startServe(t, nil, "--socket", path)
			bus.listening(t)
			continue
		}
		id := ids[rand.IntN(len(ids))]
		p := procs[id]
		mu.Lock()
		kills[id] = append(kills[id], time.Now().UnixNano())
		mu.Unlock()
		p.cmd.Process.Kill()
		p.cmd.Wait()
		start(id)
	}
	// Stopping a client is a death too: what it had not yet processed is
	// lost with it.
	mu.Lock()
	for _, id := range ids {
		kills[id] = append(kills[id], time.Now().UnixNano())
	}
	mu.Unlock()
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		// A client killed before it installed its handler dies of the signal.
		if err := p.cmd.Wait(); err != nil && !strings.Contains(err.Error(), "terminated") {
			t.Errorf("client %s: %v", p.id, err)
		}
	}
	select {
	case err := <-bus.done:
		t.Fatalf("the bus died: %v\n%s", err, bus.stderr.String())
	default:
	}
	checkChaosLogs(t, dir, kills)
	t.Logf("the bus counted %d queued lines dropped with dead peers", busMetrics(t, path).DroppedLines)
	deadlineBase := time.Now().Add(20 * time.Second)
	for {
		m := busMetrics(t, path)
		// The probe itself is one connection.
		if m.ConnectionCount == 1 && m.RegisteredMachines == 0 && m.Goroutines <= baseline.Goroutines+2 &&
			(m.OpenFiles < 0 || m.OpenFiles <= baseline.OpenFiles+1) {
			break
		}
		if time.Now().After(deadlineBase) {
			t.Fatalf("resources not back to baseline: now %+v, baseline %+v", m, baseline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func busMetrics(t *testing.T, path string) client.Metrics {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, path, client.WithReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkChaosLogs checks every acknowledged event against the receive logs.
func checkChaosLogs(t *testing.T, dir string, kills map[string][]int64) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	type key struct {
		target, inc string
		seq         int
	}
	received := map[key]int{}
	type ack struct {
		key
		at int64
	}
	var acks []ack
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		target := strings.SplitN(filepath.Base(f), ".", 2)[0]
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			switch {
			case len(fl) == 4 && fl[0] == "R":
				seq, _ := strconv.Atoi(fl[3])
				received[key{target, fl[2], seq}]++
			case len(fl) == 5 && fl[0] == "A":
				at, _ := strconv.ParseInt(fl[2], 10, 64)
				seq, _ := strconv.Atoi(fl[4])
				acks = append(acks, ack{key{fl[1], fl[3], seq}, at})
			}
		}
		fh.Close()
	}
	lost, excused := 0, 0
	for _, a := range acks {
		if received[a.key] > 0 {
			continue
		}
		// Excused if the target was killed after the ack, or just before it:
		// until the bus reads the dead connection's EOF it still routes to
		// its queue, and the ack is logged after it arrives.
		died := false
		for _, k := range kills[a.target] {
			if k >= a.at-int64(500*time.Millisecond) {
				died = true
			}
		}
		if died {
			excused++
		} else {
			lost++
		}
	}
	for k, n := range received {
		if n > 1 {
			t.Errorf("event %+v delivered %d times", k, n)
		}
	}
	if lost > 0 {
		t.Errorf("%d acknowledged events never reached their live target", lost)
	}
	if len(acks) < 100 {
		t.Errorf("only %d events acknowledged: the clients barely ran", len(acks))
	}
	t.Logf("%d events acknowledged, %d received, %d lost with a target killed after the ack", len(acks), len(received), excused)
	b, _ := json.Marshal(kills)
	t.Logf("kills: %s", b)
}
