package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
)

// busTraffic registers the machines ids (each on a connection of its
// own) and a sender "ui-main" that sends JOB to target[i] every
// period[i] until the test ends.
func busTraffic(t *testing.T, path string, ids []string, period map[string]time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range ids {
		c, err := client.Dial(ctx, path, client.WithMachines(id), client.WithProcessName("top-test"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	ui, err := client.Dial(ctx, path, client.WithMachines("ui-main"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ui.Close() })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(stop); wg.Wait() })
	for target, p := range period {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(p)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					ui.SendAsync(target, "JOB", nil)
				}
			}
		}()
	}
}

func TestTopOnce(t *testing.T) {
	path := startBusProcess(t)
	busTraffic(t, path, []string{"alpha", "beta"}, map[string]time.Duration{"alpha": 50 * time.Millisecond, "beta": 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := client.Dial(ctx, path, client.WithMachines("chart-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.ReportState(ctx, "chart-1", map[string]string{"active": "waiting"}, "active", nil, nil); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := runCLI(t, "top", "--once", "--socket", path, "--interval", "500ms", "--sort", "in")
	t.Logf("top --once:\n%s", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.ContainsRune(out, '\x1b') {
		t.Error("--once printed terminal control codes")
	}
	if !strings.HasPrefix(out, "statebus top - ") {
		t.Errorf("no header:\n%s", out)
	}
	if m := regexp.MustCompile(`events/s ([0-9.]+)`).FindStringSubmatch(out); m == nil || m[1] == "0.0" {
		t.Errorf("no bus event rate: %v", m)
	}
	if strings.Contains(out, "per-machine rates") {
		t.Errorf("the header says per-machine rates are missing, but this test runs as the bus's user:\n%s", out)
	}
	rows := tableRows(out)
	if len(rows) != 4 || rows[0]["MACHINE"] != "beta" || rows[1]["MACHINE"] != "alpha" {
		t.Fatalf("want beta, alpha first (by IN/s), then the other two; got %v", rows)
	}
	beta, alpha := rows[0], rows[1]
	// Nominal 100/s and 20/s; a loaded machine delays ticks (a ticker
	// drops them, never bunches them), so the bounds are loose below.
	betaIn, alphaIn := num(t, beta["IN/s"]), num(t, alpha["IN/s"])
	if betaIn < 20 || betaIn > 150 || alphaIn < 3 || alphaIn > 30 || betaIn < 2*alphaIn {
		t.Errorf("IN/s beta %v, alpha %v; want about 100 and 20", betaIn, alphaIn)
	}
	if beta["LAST EVENT"] != "JOB" || beta["PROCESS"] != "top-test" || beta["PID"] != strconv.Itoa(os.Getpid()) {
		t.Errorf("beta = %v, want LAST EVENT JOB, PROCESS top-test, PID %d", beta, os.Getpid())
	}
	for _, r := range rows {
		switch r["MACHINE"] {
		case "ui-main":
			if num(t, r["OUT/s"]) < 40 {
				t.Errorf("ui-main OUT/s = %s, want about 120", r["OUT/s"])
			}
		case "chart-1":
			if r["STATE"] != "active.waiting" {
				t.Errorf("chart-1 STATE = %q, want active.waiting", r["STATE"])
			}
		}
	}

	// --json and --filter.
	out, errOut, code = runCLI(t, "top", "--once", "--json", "--socket", path, "--interval", "200ms", "--filter", "ALPHA")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errOut)
	}
	var v struct {
		HaveRates bool
		Rows      []struct {
			ID        string
			InPerSec  float64
			LastEvent string
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || !v.HaveRates || len(v.Rows) != 1 || v.Rows[0].ID != "alpha" || v.Rows[0].InPerSec == 0 {
		t.Errorf("--json --filter ALPHA: %v\n%s", err, out)
	}
}

// tableRows reads the table of "top --once": a map from heading to cell
// per row. Columns are found by the heading's positions: names are left
// aligned, figures right aligned to the end of their heading.
func tableRows(out string) []map[string]string {
	lines := strings.Split(out, "\n")
	var head string
	var rows []map[string]string
	for _, l := range lines {
		if strings.HasPrefix(l, "MACHINE ") {
			head = l
			continue
		}
		if head == "" || l == "" || strings.HasPrefix(l, "(") {
			continue
		}
		row := map[string]string{}
		cols := regexp.MustCompile(`[A-Z][A-Za-z/]*( [A-Z]+)?`).FindAllStringIndex(head, -1)
		// Cells are separated by two spaces or more; match each to the
		// column its text overlaps.
		for _, cell := range regexp.MustCompile(`\S+( \S+)*`).FindAllStringIndex(l, -1) {
			for _, c := range cols {
				if cell[0] < c[1] && cell[1] > c[0] {
					row[head[c[0]:c[1]]] = l[cell[0]:cell[1]]
					break
				}
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Errorf("%q is not a number", s)
	}
	return f
}

func TestTopUnreachable(t *testing.T) {
	_, errOut, code := runCLI(t, "top", "--once", "--socket", filepath.Join(shortDir(t), "none.sock"), "--timeout", "1s")
	if code != exitUnreachable || !strings.HasPrefix(errOut, "statebus top: ") {
		t.Errorf("exit %d, stderr %q; want 3 and a reason", code, errOut)
	}
	_, errOut, code = runCLI(t, "top", "--sort", "bogus")
	if code != exitUsage || !strings.Contains(errOut, `unknown sort column "bogus"`) {
		t.Errorf("--sort bogus: exit %d, %q", code, errOut)
	}
}

// tmuxSession is a detached tmux session of a fixed size on a tmux
// server of its own.
type tmuxSession struct {
	t      *testing.T
	server string
}

func startTmux(t *testing.T, w, h int, command string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install -y tmux): the live view is not tested")
	}
	s := &tmuxSession{t: t, server: fmt.Sprintf("sbtop%d", os.Getpid())}
	cmd := exec.Command("tmux", "-L", s.server, "-f", "/dev/null", "new-session", "-d", "-s", "top",
		"-x", strconv.Itoa(w), "-y", strconv.Itoa(h), command)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.server, "kill-server").Run() })
	return s
}

func (s *tmuxSession) capture() string {
	out, err := exec.Command("tmux", "-L", s.server, "capture-pane", "-p", "-t", "top").Output()
	if err != nil {
		s.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

func (s *tmuxSession) keys(keys ...string) {
	args := append([]string{"-L", s.server, "send-keys", "-t", "top"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux send-keys %v: %v: %s", keys, err, out)
	}
}

// waitFor captures the pane until ok accepts it, failing after a deadline.
func (s *tmuxSession) waitFor(what string, ok func(pane string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		pane := s.capture()
		if ok(pane) {
			return pane
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the pane never showed %s:\n%s", what, pane)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// firstMachine is the machine id of the first table row on the pane.
func firstMachine(pane string) string {
	lines := strings.Split(pane, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "MACHINE ") && i+1 < len(lines) {
			if f := strings.Fields(lines[i+1]); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

func TestTopLive(t *testing.T) {
	path := startBusProcess(t)
	busTraffic(t, path, []string{"alpha", "beta", "gamma-1"}, map[string]time.Duration{"beta": 10 * time.Millisecond, "alpha": 100 * time.Millisecond})
	s := startTmux(t, 120, 30, fmt.Sprintf("%s top --socket %s --interval 200ms; echo top exited $?; sleep 600", binary, path))

	s.waitFor("the machines", func(p string) bool {
		return firstMachine(p) == "alpha" && strings.Contains(p, "gamma-1") && strings.Contains(p, "sort: MACHINE ascending")
	})
	s.keys("s")
	s.waitFor("beta first by IN/s", func(p string) bool {
		return strings.Contains(p, "sort: IN/s descending") && firstMachine(p) == "beta"
	})
	s.keys("S")
	s.waitFor("beta not first by IN/s reversed", func(p string) bool {
		return strings.Contains(p, "sort: IN/s ascending") && firstMachine(p) != "beta"
	})
	s.keys("/", "gam", "Enter")
	s.waitFor("only gamma-1", func(p string) bool {
		return strings.Contains(p, "filter: gam ") && firstMachine(p) == "gamma-1" && !strings.Contains(p, "beta")
	})
	s.keys("Escape")
	s.waitFor("all machines again", func(p string) bool {
		return strings.Contains(p, "filter: -") && strings.Contains(p, "beta") && strings.Contains(p, "alpha")
	})
	s.keys("q")
	pane := s.waitFor("top's exit", func(p string) bool { return strings.Contains(p, "top exited") })
	if !strings.Contains(pane, "top exited 0") {
		t.Errorf("top did not exit 0:\n%s", pane)
	}
	if strings.Contains(pane, "MACHINE ") {
		t.Errorf("the terminal was not restored (the view is still on the pane):\n%s", pane)
	}
}
