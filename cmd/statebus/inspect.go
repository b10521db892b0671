package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/statebus/statebus/client"
)

func runMachines(args []string, stdout, stderr io.Writer) int {
	var b busFlags
	fs := newFlagSet("machines", "", "Lists the machines registered on the bus, with the state each last reported (STATE: the\nstate value, and the status when it is not active; \"-\" when none). "+exitCodesHelp, stderr)
	b.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 0, 0); !ok {
		return code
	}
	return b.run("machines", stderr, func(ctx context.Context, c *client.Conn) (int, error) {
		list, err := c.ListMachines(ctx)
		if err != nil {
			return 0, err
		}
		if b.json {
			printJSON(stdout, list)
			return exitOK, nil
		}
		printMachines(stdout, stderr, list)
		return exitOK, nil
	})
}

func printMachines(stdout, stderr io.Writer, list []client.MachineInfo) {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tSTATE\tPID\tPEER PID\tUID\tPROCESS\tCONN\tSINCE")
	for _, m := range list {
		if m.Host != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t(on host %s)\t-\t-\n", m.ID, stateCell(m.State), m.Host)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", m.ID, stateCell(m.State), m.ProcessID, known(m.PeerPID), known(m.PeerUID),
			m.ProcessName, m.ConnectionID, m.RegisteredAt.Local().Format("2006-01-02 15:04:05"))
	}
	tw.Flush()
	if len(list) == 0 {
		fmt.Fprintln(stderr, "(no machines registered)")
	}
}

// maxStateCell bounds the STATE column.
const maxStateCell = 40

// stateCell is a machine's reported state for the STATE column: "-" when
// it reported none, cut to maxStateCell characters.
func stateCell(s *client.MachineState) string {
	if s == nil {
		return "-"
	}
	v := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s.String())
	if v == "" {
		return "-"
	}
	if r := []rune(v); len(r) > maxStateCell {
		v = string(r[:maxStateCell-3]) + "..."
	}
	return v
}

// known prints an OS-reported id, "-" when unknown.
func known(id int) string {
	if id < 0 {
		return "-"
	}
	return strconv.Itoa(id)
}

func runHealth(args []string, stdout, stderr io.Writer) int {
	var b busFlags
	fs := newFlagSet("health", "", "Prints the bus's health and metrics; exits 1 when unhealthy, 3 when unreachable.", stderr)
	b.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 0, 0); !ok {
		return code
	}
	return b.run("health", stderr, func(ctx context.Context, c *client.Conn) (int, error) {
		h, err := c.Health(ctx)
		if err != nil {
			return 0, err
		}
		m, err := c.Metrics(ctx)
		if err != nil {
			return 0, err
		}
		code := exitOK
		if !h.IsHealthy {
			code = exitFailed
		}
		if b.json {
			printJSON(stdout, map[string]any{"Health": h, "Metrics": m})
		} else {
			printHealth(stdout, h, m)
		}
		return code, nil
	})
}

func printHealth(stdout io.Writer, h client.Health, m client.Metrics) {
	status := "healthy"
	if !h.IsHealthy {
		status = "UNHEALTHY: " + h.ErrorMessage
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "status\t%s\n", status)
	fmt.Fprintf(tw, "connections\t%d (peak %d)\n", h.ConnectionCount, m.PeakConnections)
	fmt.Fprintf(tw, "machines\t%d\n", h.RegisteredMachines)
	if br := h.Bridge; br != nil {
		state := "connected"
		if !br.Connected {
			state = "DOWN: " + br.Error
		}
		fmt.Fprintf(tw, "bridge\t%s, %d other host(s), %d remote machine(s)\n", state, br.Hosts, br.RemoteMachines)
	}
	if h.Version != "" {
		fmt.Fprintf(tw, "version\t%s\n", h.Version)
	}
	fmt.Fprintf(tw, "uptime\t%s (since %s)\n", m.Uptime.Round(time.Second), m.StartedAt.Local().Format("2006-01-02 15:04:05"))
	fmt.Fprintf(tw, "last activity\t%s\n", h.LastActivityAt.Local().Format("2006-01-02 15:04:05"))
	fmt.Fprintf(tw, "events routed\t%d\n", m.EventsRouted)
	fmt.Fprintf(tw, "published\t%d\n", m.EventsPublished)
	fmt.Fprintf(tw, "requests / replies\t%d / %d\n", m.Requests, m.Replies)
	fmt.Fprintf(tw, "bytes in / out\t%d / %d\n", m.BytesIn, m.BytesOut)
	fmt.Fprintf(tw, "queued bytes\t%d\n", m.QueuedBytes)
	fmt.Fprintf(tw, "refused connections\t%d\n", m.RejectedConnections)
	codes := make([]string, 0, len(m.Failures))
	for k := range m.Failures {
		codes = append(codes, k)
	}
	slices.Sort(codes)
	for _, k := range codes {
		fmt.Fprintf(tw, "failures: %s\t%d\n", k, m.Failures[k])
	}
	tw.Flush()
}

func runPing(args []string, stdout, stderr io.Writer) int {
	var b busFlags
	fs := newFlagSet("ping", "[-c N] [-i D]", "Measures round trips to the bus. "+exitCodesHelp, stderr)
	count := fs.Int("c", 5, "number of pings")
	interval := fs.Duration("i", 200*time.Millisecond, "wait between pings")
	b.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 0, 0); !ok {
		return code
	}
	if *count < 1 {
		fmt.Fprintln(stderr, "statebus ping: -c must be at least 1")
		return exitUsage
	}
	ctx, stop := signalContext()
	defer stop()
	dctx, cancel := context.WithTimeout(ctx, b.timeout)
	c, err := b.dial(dctx)
	cancel()
	if err != nil {
		return failure(stderr, "ping", err)
	}
	defer c.Close()
	var rtts []time.Duration
	for i := 0; i < *count && ctx.Err() == nil; i++ {
		if i > 0 {
			select {
			case <-time.After(*interval):
			case <-ctx.Done():
			}
		}
		pctx, cancel := context.WithTimeout(ctx, b.timeout)
		rtt, err := c.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return failure(stderr, "ping", err)
		}
		rtts = append(rtts, rtt)
		if !b.json {
			fmt.Fprintf(stdout, "pong from %s: seq=%d time=%s\n", c.Path(), i+1, rtt.Round(time.Microsecond))
		}
	}
	if len(rtts) == 0 {
		return exitFailed
	}
	s := summarize(rtts)
	if b.json {
		printJSON(stdout, map[string]any{"Count": len(rtts), "MinUs": us(s.min), "AvgUs": us(s.avg), "P50Us": us(s.p50), "P99Us": us(s.p99), "MaxUs": us(s.max)})
		return exitOK
	}
	fmt.Fprintf(stdout, "%d pings: min %s avg %s p50 %s p99 %s max %s\n", len(rtts),
		s.min.Round(time.Microsecond), s.avg.Round(time.Microsecond), s.p50.Round(time.Microsecond),
		s.p99.Round(time.Microsecond), s.max.Round(time.Microsecond))
	return exitOK
}

type latencies struct{ min, avg, p50, p99, max time.Duration }

// summarize computes order statistics (nearest rank) of d.
func summarize(d []time.Duration) latencies {
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return latencies{min: s[0], avg: sum / time.Duration(len(s)), p50: rank(0.50), p99: rank(0.99), max: s[len(s)-1]}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
