package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/statebus/statebus/internal/soak"
)

func runBench(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "soak" {
		fmt.Fprintln(stderr, "Usage: statebus bench soak [flags]")
		fmt.Fprintln(stderr, "\nThe throughput and latency comparison with Redis, NATS and the limits is the bench")
		fmt.Fprintln(stderr, "module's tool; see docs/performance.md.")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return exitOK
		}
		return exitUsage
	}
	var b busFlags
	fs := newFlagSet("bench soak", "[--duration D] [--out DIR] [--socket PATH | --pipe NAME]",
		"Holds a steady mixed load (events, requests, publishes) on a bus and samples its memory,\ngoroutines, open files, queues and request latency, writing soak.csv and soak.svg. Without\n--socket or --pipe it starts a bus of its own. Exits 1 if memory, goroutines or files grew.", stderr)
	b.register(fs)
	duration := fs.Duration("duration", 10*time.Minute, "how long to hold the load")
	interval := fs.Duration("interval", 5*time.Second, "between samples")
	pairs := fs.Int("pairs", 4, "sender/receiver pairs")
	rate := fs.Int("rate", 2000, "events per second per sender")
	out := fs.String("out", ".", "`DIR` for soak.csv and soak.svg")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 0, 0); !ok {
		return code
	}
	ctx, stop := signalContext()
	defer stop()
	addr := b.addr()
	if addr == "" {
		dir, err := os.MkdirTemp("", "statebus-soak")
		if err != nil {
			fmt.Fprintln(stderr, "statebus bench soak:", err)
			return exitFailed
		}
		defer os.RemoveAll(dir)
		addr = filepath.Join(dir, "bus.sock")
		stopBus, err := startChildBus(addr)
		if err != nil {
			fmt.Fprintln(stderr, "statebus bench soak: starting a bus:", err)
			return exitFailed
		}
		defer stopBus()
	}
	fmt.Fprintf(stderr, "soaking %s for %s: %d pairs at %d events/s each\n", addr, *duration, *pairs, *rate)
	samples, err := soak.Run(ctx, soak.Options{Addr: addr, Duration: *duration, Interval: *interval, Pairs: *pairs, Rate: *rate, Progress: stdout})
	if err != nil {
		fmt.Fprintln(stderr, "statebus bench soak:", err)
		if len(samples) == 0 {
			return exitUnreachable
		}
	}
	if err := writeSoak(*out, samples, fmt.Sprintf("statebus soak: %d pairs x %d events/s, %s", *pairs, *rate, duration.String())); err != nil {
		fmt.Fprintln(stderr, "statebus bench soak:", err)
		return exitFailed
	}
	lines, flat := soak.Drift(samples, 0.2)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(*out, "soak.csv"), filepath.Join(*out, "soak.svg"))
	if !flat {
		return exitFailed
	}
	return exitOK
}

func writeSoak(dir string, samples []soak.Sample, title string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "soak.csv"))
	if err != nil {
		return err
	}
	if err := soak.WriteCSV(f, samples); err != nil {
		f.Close()
		return err
	}
	f.Close()
	g, err := os.Create(filepath.Join(dir, "soak.svg"))
	if err != nil {
		return err
	}
	defer g.Close()
	return soak.WriteSVG(g, samples, title)
}

// startChildBus runs "statebus serve" on path as a child process, so the
// bus's figures are its own, and waits until it listens.
func startChildBus(path string) (stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "serve", "--socket", path, "--log-level", "Warning")
	cmd.Env = append(os.Environ(), "MessageBus__MaxConnections=1000")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.Contains(line, "listening")
		io.Copy(io.Discard, out)
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("the bus did not start")
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the bus did not start within 20s")
	}
	return func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}, nil
}
