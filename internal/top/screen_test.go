package top

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
)

// recScreen is a simulation screen that keeps a copy of what each Show
// put on it, so a test reads the screen without racing the view's loop.
type recScreen struct {
	tcell.SimulationScreen
	mu   sync.Mutex
	text string
}

func (r *recScreen) Show() {
	r.SimulationScreen.Show()
	cells, w, h := r.GetContents()
	var b strings.Builder
	for y := range h {
		var line strings.Builder
		for x := range w {
			if c := cells[y*w+x]; len(c.Runes) > 0 {
				line.WriteString(string(c.Runes))
			} else {
				line.WriteByte(' ')
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	r.mu.Lock()
	r.text = b.String()
	r.mu.Unlock()
}

func (r *recScreen) contents() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.text
}

// waitFor polls the screen until ok accepts it, failing after a deadline.
func (r *recScreen) waitFor(t *testing.T, what string, ok func(screen string) bool) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := r.contents()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("screen never showed %s:\n%s", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeSampler gives samples of a bus with machines m-00..m-NN whose
// traffic grows by i per tick for machine i.
type fakeSampler struct {
	mu sync.Mutex
	n  int
	k  int
}

func (f *fakeSampler) Sample(ctx context.Context) (Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.k++
	traffic := map[string]Traffic{}
	var ids []string
	for i := range f.n {
		id := fmt.Sprintf("m-%02d", i)
		ids = append(ids, id)
		traffic[id] = Traffic{In: uint64(i * f.k), Out: uint64((f.n - i) * f.k)}
	}
	return sample(float64(f.k), uint64(f.k), 0, traffic, ids...), nil
}

// firstRow is the first table row after the heading.
func firstRow(screen string) string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "MACHINE") && i+1 < len(lines) {
			return lines[i+1]
		}
	}
	return ""
}

func TestLiveKeys(t *testing.T) {
	sim := tcell.NewSimulationScreen("UTF-8")
	scr := &recScreen{SimulationScreen: sim}
	done := make(chan error, 1)
	go func() { done <- Live(context.Background(), scr, &fakeSampler{n: 12}, 20*time.Millisecond, Order{}) }()
	scr.waitFor(t, "the machines with rates", func(s string) bool {
		return strings.HasPrefix(firstRow(s), "m-00") && strings.Contains(s, "events/s 1.0 ")
	})
	sim.InjectKey(tcell.KeyRune, 's', 0)
	scr.waitFor(t, "sorted by IN/s", func(s string) bool {
		return strings.Contains(s, "sort: IN/s descending") && strings.HasPrefix(firstRow(s), "m-11")
	})
	sim.InjectKey(tcell.KeyRune, 'S', 0)
	scr.waitFor(t, "sorted by IN/s reversed", func(s string) bool {
		return strings.Contains(s, "sort: IN/s ascending") && strings.HasPrefix(firstRow(s), "m-00")
	})
	for _, r := range "/m-1q" { // q is text while typing a filter
		sim.InjectKey(tcell.KeyRune, r, 0)
	}
	scr.waitFor(t, "the filter being typed", func(s string) bool { return strings.Contains(s, "filter: m-1q\n") })
	sim.InjectKey(tcell.KeyBackspace2, 0, 0)
	scr.waitFor(t, "the filter after a backspace", func(s string) bool { return strings.Contains(s, "filter: m-1\n") })
	sim.InjectKey(tcell.KeyEnter, 0, 0)
	s := scr.waitFor(t, "the filter applied", func(s string) bool {
		return strings.Contains(s, "filter: m-1  (") && !strings.Contains(s, "m-09")
	})
	if !strings.Contains(s, "m-10") || !strings.Contains(s, "m-11") {
		t.Errorf("filter m-1 hides m-10 or m-11:\n%s", s)
	}
	sim.InjectKey(tcell.KeyEscape, 0, 0)
	scr.waitFor(t, "the filter cleared", func(s string) bool { return strings.Contains(s, "filter: -") && strings.Contains(s, "m-09") })

	sim.SetSize(80, 10)
	if err := sim.PostEvent(tcell.NewEventResize(80, 10)); err != nil {
		t.Fatal(err)
	}
	scr.waitFor(t, "the rows cut to the smaller screen", func(s string) bool { return strings.Contains(s, "more (filter with /)") })

	sim.InjectKey(tcell.KeyRune, 'q', 0)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Live: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("q did not end Live")
	}
}

func TestLiveCtrlC(t *testing.T) {
	sim := tcell.NewSimulationScreen("UTF-8")
	scr := &recScreen{SimulationScreen: sim}
	done := make(chan error, 1)
	go func() { done <- Live(context.Background(), scr, &fakeSampler{n: 1}, time.Hour, Order{}) }()
	scr.waitFor(t, "a machine", func(s string) bool { return strings.Contains(s, "m-00") })
	sim.InjectKey(tcell.KeyRune, '/', 0)
	sim.InjectKey(tcell.KeyCtrlC, 0, tcell.ModCtrl)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Live: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Ctrl+C did not end Live while typing a filter")
	}
}
