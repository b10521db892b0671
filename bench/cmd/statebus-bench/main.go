// Command statebus-bench runs the same workloads against statebus and
// against its peers (a direct socket pair, a byte relay, Redis pub/sub,
// NATS) in one run, and prints a table with ratios and a JSON file of every
// figure. Every client and broker is a separate process; see
// docs/performance.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

var allWorkloads = []string{"pingpong", "oneway", "fanin", "pairs", "conns"}

func main() {
	if code, ok := runChild(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(benchMain(os.Args[1:]))
}

// runChild runs the process as a worker, the relay or the NATS server
// when args ask for it (the tool re-executes itself for each).
func runChild(args []string) (code int, ok bool) {
	switch {
	case len(args) == 2 && args[0] == "-worker":
		return runWorker(args[1]), true
	case len(args) == 2 && args[0] == "-relay":
		return runRelay(args[1]), true
	case len(args) == 1 && args[0] == "-natsd":
		return runNATSD(), true
	}
	return 0, false
}

type options struct {
	workloads []string
	peers     []string
	runs      int
	sz        sizes
	out       string
	binary    string // a statebus binary to measure instead of building the checkout
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("statebus-bench", flag.ContinueOnError)
	workloads := fs.String("workloads", strings.Join(allWorkloads, ","), "workloads to run")
	peers := fs.String("peers", strings.Join(defaultPeers, ","), "peers to run (also: statebus-monitored, statebus with one monitor attached that reads every trace)")
	runs := fs.Int("runs", 3, "runs of every cell; the table shows medians")
	quick := fs.Bool("quick", false, "small sizes and one run: under a minute")
	o := &options{}
	fs.IntVar(&o.sz.RoundTrips, "roundtrips", 20000, "pingpong: timed round trips")
	fs.IntVar(&o.sz.Warmup, "warmup", 2000, "pingpong: untimed round trips first")
	fs.IntVar(&o.sz.Messages, "messages", 500000, "oneway, fanin, pairs: events in all")
	fs.IntVar(&o.sz.Fanin, "fanin", 8, "fanin: senders")
	fs.IntVar(&o.sz.Pairs, "pairs", 16, "pairs: sender/receiver pairs")
	fs.IntVar(&o.sz.Idle, "idle", 10000, "conns: idle registered connections")
	fs.StringVar(&o.sz.MonitorFilter, "monitor-filter", "", "statebus-monitored: the monitor's filter, a Monitor payload such as '{\"Payload\":false}' (default: every trace with its payload)")
	fs.IntVar(&o.sz.Shapes, "shapes", 1, "oneway, fanin, pairs: each sender's lines take this many shapes in turn (event names of as many lengths, same line length); 1: all alike")
	fs.IntVar(&o.sz.Window, "window", 8192, "credit window per receiver for peers that refuse or drop instead of blocking (0: none)")
	fs.DurationVar(&o.sz.Stall, "stall", 10*time.Second, "give up on a cell after this long without progress")
	fs.StringVar(&o.out, "out", "results.json", "JSON file for every figure")
	fs.StringVar(&o.binary, "statebus", "", "measure this statebus binary instead of building the checkout (to compare two builds)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.runs = *runs
	if *quick {
		def := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		def("runs", &o.runs, 1)
		def("roundtrips", &o.sz.RoundTrips, 5000)
		def("warmup", &o.sz.Warmup, 500)
		def("messages", &o.sz.Messages, 100000)
		def("idle", &o.sz.Idle, 2000)
	}
	var err error
	if o.workloads, err = pick("workload", *workloads, allWorkloads); err != nil {
		return nil, err
	}
	if o.peers, err = pick("peer", *peers, allPeers); err != nil {
		return nil, err
	}
	if o.runs < 1 || o.sz.RoundTrips < 1 || o.sz.Messages < o.sz.Pairs || o.sz.Fanin < 1 || o.sz.Pairs < 1 {
		return nil, fmt.Errorf("bench: sizes and runs must be positive")
	}
	return o, nil
}

func pick(what, list string, all []string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(all, s) {
			return nil, fmt.Errorf("bench: unknown %s %q (one of %s)", what, s, strings.Join(all, ","))
		}
		out = append(out, s)
	}
	return out, nil
}

func benchMain(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	raiseFileLimit()
	dir, err := os.MkdirTemp("", "sbbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	e := &env{dir: dir}
	if e.self, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if o.binary != "" {
		if e.statebus, err = filepath.Abs(o.binary); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	} else {
		fmt.Fprintln(os.Stderr, "building statebus ...")
		if e.statebus, err = buildStatebus(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		e.redis = p
	}
	rep := &report{
		Command: "statebus-bench " + strings.Join(args, " "),
		Commit:  checkoutCommit(),
		Binary:  o.binary,
		Started: time.Now().UTC().Format(time.RFC3339),
		CPUs:    runtime.NumCPU(), Runs: o.runs, Sizes: o.sz,
		LoadBefore: loadAvg(), Workloads: o.workloads, Peers: o.peers,
	}
	r := &runner{e: e, sz: o.sz, peers: o.peers}
	total := o.runs * len(o.workloads) * len(o.peers)
	n := 0
	m0 := readMachineCPU()
	t0 := time.Now()
	for run := 1; run <= o.runs; run++ {
		for _, w := range o.workloads {
			for _, p := range o.peers {
				n++
				fmt.Fprintf(os.Stderr, "[%d/%d] run %d %-8s %-17s ", n, total, run, w, p)
				start := time.Now()
				c := r.run(w, p, run)
				fmt.Fprintf(os.Stderr, "%s (%.1fs)\n", progressLine(c), time.Since(start).Seconds())
				rep.Cells = append(rep.Cells, c)
			}
		}
	}
	m1 := readMachineCPU()
	rep.Seconds = time.Since(t0).Seconds()
	rep.LoadAfter = loadAvg()
	rep.BusyFraction = (m1.Busy - m0.Busy) / (rep.Seconds * float64(runtime.NumCPU()))
	rep.StealFraction = (m1.Steal - m0.Steal) / (rep.Seconds * float64(runtime.NumCPU()))
	rep.summarize()
	rep.print(os.Stdout)
	if o.out != "" {
		if err := rep.writeJSON(o.out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		abs, _ := filepath.Abs(o.out)
		fmt.Fprintf(os.Stderr, "every figure: %s\n", abs)
	}
	return 0
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit so the
// conns workload's idle connections fit; the children inherit it.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
