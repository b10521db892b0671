package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// sizes are the workloads' parameters.
type sizes struct {
	RoundTrips int `json:"round_trips"` // pingpong, timed
	Warmup     int `json:"warmup"`      // pingpong, untimed
	Messages   int `json:"messages"`    // oneway, fanin and pairs: total events
	Fanin      int `json:"fanin_senders"`
	Pairs      int `json:"pairs"`
	Idle       int `json:"idle_connections"`
	Window     int `json:"window"` // credit window per receiver, in events
	Shapes     int `json:"shapes"` // line shapes each sender takes in turn
	// MonitorFilter is the Monitor payload of statebus-monitored ("" for
	// everything, with payloads).
	MonitorFilter string        `json:"monitor_filter,omitempty"`
	Stall         time.Duration `json:"stall_ns"`
}

// cell is one workload against one peer in one run.
type cell struct {
	Workload string `json:"workload"`
	Peer     string `json:"peer"`
	Run      int    `json:"run"`
	Skipped  string `json:"skipped,omitempty"`
	Err      string `json:"error,omitempty"`

	Messages  uint64  `json:"messages"` // events through the peer (pingpong: both ways)
	Seconds   float64 `json:"seconds"`
	MsgPerSec float64 `json:"msg_per_sec,omitempty"`

	Latency     *latencySummary `json:"latency,omitempty"`      // pingpong; conns: with the idle connections
	LatencyBase *latencySummary `json:"latency_base,omitempty"` // conns: before they opened

	BrokerCPU     float64 `json:"broker_cpu_s"`
	CPUPerMillion float64 `json:"broker_cpu_s_per_million"`
	PeakRSS       int64   `json:"broker_peak_rss_bytes"`
	RSSBefore     int64   `json:"rss_before_idle_bytes,omitempty"`
	RSSIdle       int64   `json:"rss_with_idle_bytes,omitempty"`
	RSSPerConn    float64 `json:"rss_per_idle_conn_bytes,omitempty"`

	Check checkResult `json:"check"`
	Acks  ackStats    `json:"acks"`

	// statebus-monitored: traces the monitor read, and how many the bus
	// told it it had missed (dropped because it fell behind).
	Traces       uint64 `json:"traces,omitempty"`
	TracesMissed uint64 `json:"traces_missed,omitempty"`

	WorkersCPU float64 `json:"workers_cpu_s"`
	OtherCPU   float64 `json:"other_cpu_fraction"` // of the machine, used by processes not ours
	StealCPU   float64 `json:"steal_cpu_fraction"`
	Load       string  `json:"loadavg_after"`
}

// runner runs cells.
type runner struct {
	e     *env
	sz    sizes
	peers []string
}

func (r *runner) timeout() time.Duration {
	return 60*time.Second + time.Duration(r.sz.Messages/20000+r.sz.RoundTrips/500)*time.Second
}

// workerProc starts a worker for sp.
func (r *runner) workerProc(name string, sp spec) (*proc, error) {
	sp.Stall, sp.Timeout = r.sz.Stall, r.timeout()
	b, _ := json.Marshal(sp)
	return startProc(name, nil, r.e.self, "-worker", string(b))
}

// run runs one cell.
func (r *runner) run(workload, peer string, run int) cell {
	c := cell{Workload: workload, Peer: peer, Run: run}
	dir, err := os.MkdirTemp(r.e.dir, workload+"-"+peer+"-")
	if err != nil {
		c.Err = err.Error()
		return c
	}
	defer os.RemoveAll(dir)
	if workload == "conns" && peer == "direct" {
		c.Skipped = "n/a: no broker"
		return c
	}
	b, err := startBroker(r.e, peer, dir)
	if err != nil {
		if errors.Is(err, errSkip) {
			c.Skipped = strings.TrimPrefix(err.Error(), "skipped: ")
		} else {
			c.Err = err.Error()
		}
		return c
	}
	defer b.stop()
	var mon *proc
	if peer == "statebus-monitored" {
		if mon, err = r.startMonitor(b); err != nil {
			c.Err = err.Error()
			return c
		}
	}
	m0, cpu0 := readMachineCPU(), brokerCPU(b)
	t0 := time.Now()
	var workers []*proc
	switch workload {
	case "pingpong":
		workers, err = r.pingpong(&c, b, dir, &c.Latency)
		c.Messages = 2 * uint64(r.sz.RoundTrips+r.sz.Warmup)
	case "conns":
		workers, err = r.conns(&c, b, dir)
	case "oneway":
		workers, err = r.stream(&c, b, dir, 1, 1)
	case "fanin":
		workers, err = r.stream(&c, b, dir, r.sz.Fanin, 1)
	case "pairs":
		workers, err = r.stream(&c, b, dir, r.sz.Pairs, r.sz.Pairs)
	default:
		err = fmt.Errorf("bench: unknown workload %q", workload)
	}
	if err != nil {
		c.Err = err.Error()
	}
	wall := time.Since(t0).Seconds()
	c.BrokerCPU = brokerCPU(b) - cpu0
	m1 := readMachineCPU()
	if pid := b.pid(); pid != 0 {
		_, c.PeakRSS, _ = procMem(pid)
	}
	if mon != nil {
		if res, err := r.stopMonitor(mon); err != nil && c.Err == "" {
			c.Err = err.Error()
		} else {
			c.Traces, c.TracesMissed = res.Traces, res.TracesMissed
		}
		workers = append(workers, mon)
	}
	for _, w := range workers {
		w.stop()
		c.WorkersCPU += w.cpu
	}
	if c.Messages > 0 {
		c.CPUPerMillion = c.BrokerCPU / float64(c.Messages) * 1e6
	}
	ncpu := float64(runtime.NumCPU())
	if wall > 0 {
		c.OtherCPU = max(0, (m1.Busy-m0.Busy)-c.BrokerCPU-c.WorkersCPU) / (wall * ncpu)
		c.StealCPU = (m1.Steal - m0.Steal) / (wall * ncpu)
	}
	c.Load = loadAvg()
	return c
}

func brokerCPU(b *broker) float64 {
	if b.pid() == 0 {
		return 0
	}
	v, _ := procCPU(b.pid())
	return v
}

// window is the credit window per sender when n senders share a
// receiver, for peers that refuse or drop rather than block a sender.
func (r *runner) window(peer string, n int) int {
	switch peer {
	case "direct", "relay":
		return 0 // the kernel's socket buffers block the sender
	}
	if r.sz.Window <= 0 {
		return 0
	}
	return max(r.sz.Window/max(n, 1), 1)
}

// collect waits for every worker's result line.
func (r *runner) collect(ws []*proc) ([]workerResult, error) {
	var errs []error
	out := make([]workerResult, len(ws))
	for i, w := range ws {
		line, err := w.expect(r.timeout(), "result ")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "result ")), &out[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		if out[i].Err != "" {
			errs = append(errs, fmt.Errorf("%s: %s", w.name, out[i].Err))
		}
	}
	return out, errors.Join(errs...)
}

// launch starts groups of workers in order, each group once the one before
// is ready, then tells them all to go. A worker that first says
// "listening" (a direct pong) becomes ready once the next group connects.
func (r *runner) launch(groups ...[]spec) ([]*proc, error) {
	var all, listening []*proc
	for gi, g := range groups {
		for i, sp := range g {
			p, err := r.workerProc(fmt.Sprintf("%s-%d-%d", sp.Role, gi, i), sp)
			if err != nil {
				return all, err
			}
			all = append(all, p)
			line, err := p.expect(30*time.Second, "ready", "listening")
			if err != nil {
				return all, err
			}
			if line == "listening" {
				listening = append(listening, p)
			}
		}
	}
	for _, p := range listening {
		if _, err := p.expect(30*time.Second, "ready"); err != nil {
			return all, err
		}
	}
	for _, p := range all {
		if err := p.signalGo(); err != nil {
			return all, err
		}
	}
	return all, nil
}

// pingpong runs one pingpong between two workers, recording into lat.
func (r *runner) pingpong(c *cell, b *broker, dir string, lat **latencySummary) ([]*proc, error) {
	sp := spec{Peer: b.peer, Addr: b.addr, Count: r.sz.RoundTrips, Warmup: r.sz.Warmup}
	if b.peer == "direct" {
		sp.Addr = filepath.Join(dir, "direct-pp.sock")
	}
	pong, ping := sp, sp
	pong.Role, ping.Role = "pong", "ping"
	ws, err := r.launch([]spec{pong}, []spec{ping})
	if err != nil {
		return ws, err
	}
	res, err := r.collect(ws)
	if len(res) == 2 {
		*lat = res[1].Latency
		c.Check.merge(res[1].Check)
		c.Check.merge(res[0].Check)
		c.Acks = sumAcks(append(res, workerResult{Acks: c.Acks}))
		if res[1].End > res[1].Start {
			c.Seconds = float64(res[1].End-res[1].Start) / 1e9
		}
	}
	return ws, err
}

// stream runs senders senders spread over receivers receivers, each
// receiver getting from senders/receivers of them.
func (r *runner) stream(c *cell, b *broker, dir string, senders, receivers int) ([]*proc, error) {
	per := r.sz.Messages / senders
	perRecv := senders / receivers
	var recvs, sends []spec
	for j := range receivers {
		sp := spec{Role: "recv", Peer: b.peer, Addr: b.addr, Index: j, Count: per,
			Window: r.window(b.peer, perRecv), Credit: filepath.Join(dir, fmt.Sprintf("credit-%d.sock", j))}
		if b.peer == "direct" {
			sp.Addr = filepath.Join(dir, fmt.Sprintf("direct-%d.sock", j))
		}
		for i := range senders {
			if i%receivers == j {
				sp.Sources = append(sp.Sources, i)
			}
		}
		recvs = append(recvs, sp)
	}
	for i := range senders {
		j := i % receivers
		sends = append(sends, spec{Role: "send", Peer: b.peer, Addr: recvs[j].Addr, Index: i, Target: j,
			Count: per, Window: recvs[j].Window, Credit: recvs[j].Credit, Shapes: r.sz.Shapes})
	}
	ws, err := r.launch(recvs, sends)
	if err != nil {
		return ws, err
	}
	res, err := r.collect(ws)
	var start, end int64
	for _, w := range res {
		if w.Role == "send" && w.Start != 0 && (start == 0 || w.Start < start) {
			start = w.Start
		}
		if w.Role == "recv" {
			end = max(end, w.End)
			c.Check.merge(w.Check)
		}
	}
	c.Acks = sumAcks(res)
	c.Messages = c.Check.Received
	if end > start && start > 0 {
		c.Seconds = float64(end-start) / 1e9
		c.MsgPerSec = float64(c.Messages) / c.Seconds
	}
	return ws, err
}

// conns measures pingpong before and while Idle registered connections
// are open, and the broker's RSS per idle connection.
func (r *runner) conns(c *cell, b *broker, dir string) ([]*proc, error) {
	ws, err := r.pingpong(c, b, dir, &c.LatencyBase)
	for _, w := range ws {
		_ = w.wait(10 * time.Second)
	}
	if err != nil {
		return ws, err
	}
	c.RSSBefore, _, _ = procMem(b.pid())
	idle, err := r.workerProc("idle", spec{Role: "idle", Peer: b.peer, Addr: b.addr, Idle: r.sz.Idle})
	if err != nil {
		return ws, err
	}
	ws = append(ws, idle)
	if _, err := idle.expect(r.timeout(), "ready"); err != nil {
		return ws, err
	}
	time.Sleep(500 * time.Millisecond) // let the broker settle (a tool, not a test)
	c.RSSIdle, _, _ = procMem(b.pid())
	c.RSSPerConn = float64(c.RSSIdle-c.RSSBefore) / float64(r.sz.Idle)
	more, err := r.pingpong(c, b, dir, &c.Latency)
	ws = append(ws, more...)
	c.Messages = 4 * uint64(r.sz.RoundTrips+r.sz.Warmup)
	return ws, err
}

func sumAcks(res []workerResult) ackStats {
	var s ackStats
	for _, w := range res {
		s.Acked += w.Acks.Acked
		s.Refused += w.Acks.Refused
		for k, v := range w.Acks.Codes {
			if s.Codes == nil {
				s.Codes = map[string]uint64{}
			}
			s.Codes[k] += v
		}
		if s.First == "" {
			s.First = w.Acks.First
		}
	}
	return s
}
