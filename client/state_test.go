package client_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
)

func TestReportStateMachineStateListMachines(t *testing.T) {
	b := startBus(t, server.Config{})
	a := dial(t, b, "a", "quiet")
	other := dial(t, b, "o")
	def := json.RawMessage("{\n  \"id\": \"a\",\n  \"initial\": \"idle\"\n}")
	before := time.Now().Add(-time.Second)
	if err := a.ReportState(ctxT(t), "a", json.RawMessage(`{"active":"waiting"}`), "active", map[string]int{"hits": 2}, def); err != nil {
		t.Fatal(err)
	}
	info, err := other.MachineState(ctxT(t), "a")
	if err != nil {
		t.Fatal(err)
	}
	st := info.State
	if info.ID != "a" || st == nil || string(st.Value) != `{"active":"waiting"}` || st.Status != "active" || string(st.Context) != `{"hits":2}` ||
		st.UpdatedAt.Before(before) || string(info.Definition) != `{"id":"a","initial":"idle"}` {
		t.Fatalf("MachineState %+v %+v", info, st)
	}
	if st.String() != "active.waiting" {
		t.Errorf("String %q", st.String())
	}
	// A later report without a definition keeps it.
	if err := a.ReportState(ctxT(t), "a", "done", "done", nil, nil); err != nil {
		t.Fatal(err)
	}
	info, err = other.MachineState(ctxT(t), "a")
	if err != nil || string(info.State.Value) != `"done"` || info.State.Context != nil || string(info.Definition) != `{"id":"a","initial":"idle"}` {
		t.Fatalf("after the second report: %+v %v", info, err)
	}
	if s := info.State.String(); s != "done (done)" {
		t.Errorf("String %q", s)
	}
	// A machine that reported nothing; one that is not there.
	if info, err := other.MachineState(ctxT(t), "quiet"); err != nil || info.State != nil || info.Definition != nil {
		t.Fatalf("no report: %+v %v", info, err)
	}
	if _, err := other.MachineState(ctxT(t), "nobody"); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("unknown machine: %v", err)
	}
	// Only the owner reports.
	var be *client.Error
	if err := other.ReportState(ctxT(t), "a", "x", "active", nil, nil); !errors.As(err, &be) || be.Code != "not_owner" {
		t.Fatalf("report for another's machine: %v", err)
	}
	list, err := other.ListMachines(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]client.MachineInfo{}
	for _, m := range list {
		byID[m.ID] = m
	}
	if s := byID["a"].State; s == nil || string(s.Value) != `"done"` || s.Status != "done" {
		t.Fatalf("ListMachines a: %+v", byID["a"])
	}
	if byID["quiet"].State != nil || byID["o"].State != nil {
		t.Fatalf("ListMachines without reports: %+v", list)
	}
}

func TestReportStateAsync(t *testing.T) {
	b := startBus(t, server.Config{})
	a := dial(t, b, "a")
	var mu sync.Mutex
	var answers []error
	done := func(err error) {
		mu.Lock()
		answers = append(answers, err)
		mu.Unlock()
	}
	for i := range 100 {
		if err := a.ReportStateAsync("a", i, "active", nil, nil, done); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.ReportStateAsync("b", 0, "active", nil, nil, done); err != nil { // not ours: refused later
		t.Fatal(err)
	}
	if err := a.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(answers) != 101 || answers[0] != nil || answers[99] != nil || answers[100] == nil {
		t.Fatalf("answers %v", answers)
	}
	info, err := a.MachineState(ctxT(t), "a")
	if err != nil || string(info.State.Value) != "99" {
		t.Fatalf("the last report is kept: %+v %v", info.State, err)
	}
}

// After the bus restarts, the Conn reports each machine's last state
// (with its definition) again.
func TestReportStateAgainAfterReconnect(t *testing.T) {
	b := startBus(t, server.Config{})
	a, err := client.Dial(ctxT(t), b.path, client.WithMachines("a"), client.WithLogger(quiet), client.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.ReportState(ctxT(t), "a", "one", "active", nil, json.RawMessage(`{"id":"a"}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.ReportState(ctxT(t), "a", "two", "active", nil, nil); err != nil {
		t.Fatal(err)
	}
	b.stop()
	b.start()
	o := dial(t, b)
	waitFor(t, func() bool {
		info, err := o.MachineState(ctxT(t), "a")
		return err == nil && info.State != nil && string(info.State.Value) == `"two"` && string(info.Definition) == `{"id":"a"}`
	})
}

func TestStateValueString(t *testing.T) {
	for in, want := range map[string]string{
		`"idle"`:                          "idle",
		`{"active":"waiting"}`:            "active.waiting",
		`{"a":{"b":{"c":"d"}}}`:           "a.b.c.d",
		`{"p":{"r1":"x","r2":{"s":"t"}}}`: "p.{r1.x, r2.s.t}",
		`{}`:                              "",
		`null`:                            "",
		`42`:                              "42",
		`{"weird":[1]}`:                   `{"weird":[1]}`,
	} {
		if got := client.StateValueString(json.RawMessage(in)); got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
}
