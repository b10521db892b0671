package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
)

// traceLine is a Trace line as the bus writes it.
func traceLine(seq int, kind, outcome, source, target, event, payload string, count int) string {
	return fmt.Sprintf(`{"Success":true,"Data":{"Seq":%d,"Time":"2025-10-04T02:24:28.5551234Z","Type":%q,"Outcome":%q,"Source":%q,"Target":%q,"Event":%q,"Conn":3,"Pid":4242,"Uid":1000,"TargetConn":5,"TargetPid":4250,"RequestId":0,"Recipients":0,"Size":131,"Error":"","Payload":%s,"PayloadBytes":%d,"Truncated":false,"Count":%d},"Error":null,"Kind":"Trace"}`,
		seq, kind, outcome, source, target, event, payload, len(payload), count)
}

// The reader routes Trace lines to the Monitor, decoded, in order, and a
// Trace line never completes a call.
func TestMonitorReceivesTraceLines(t *testing.T) {
	path := fakeBus(t, func(l fakeLine) []string {
		switch l.Type {
		case "Monitor":
			return []string{
				okReply(l.Id, `{"Monitoring":true}`),
				traceLine(1, "event", "delivered", "a", "b", "GO", `{"n":1}`, 0),
				traceLine(2, "event", "target_not_connected", "a", "nobody", "GO", `null`, 0),
				traceLine(3, "dropped", "ok", "", "", "", `null`, 7),
			}
		default:
			return []string{okReply(l.Id, `{"Pong":true}`)}
		}
	})
	c, err := client.Dial(opCtx(t), path, client.WithReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.Monitor(opCtx(t), client.MonitorFilter{Kinds: []string{client.TraceEvent}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Monitor(opCtx(t), client.MonitorFilter{}); !errors.Is(err, client.ErrMonitoring) {
		t.Fatalf("second Monitor: %v, want ErrMonitoring", err)
	}
	var got []client.Trace
	for len(got) < 3 {
		select {
		case tr := <-m.Traces():
			got = append(got, tr)
		case <-opCtx(t).Done():
			t.Fatalf("got %d traces", len(got))
		}
	}
	if got[0].Seq != 1 || got[0].Source != "a" || got[0].Target != "b" || string(got[0].Payload) != `{"n":1}` || got[0].Failed() {
		t.Errorf("first trace %+v", got[0])
	}
	if got[0].Time.Nanosecond() != 555123400 || got[0].Pid != 4242 || got[0].TargetConn != 5 {
		t.Errorf("first trace %+v", got[0])
	}
	if got[1].Payload != nil || !got[1].Failed() || got[1].Outcome != "target_not_connected" {
		t.Errorf("second trace %+v", got[1])
	}
	if got[2].Type != client.TraceDropped || got[2].Count != 7 || got[2].Local {
		t.Errorf("third trace %+v", got[2])
	}
	if st := m.Stats(); st.Received != 3 || st.BusDropped != 7 || st.ClientDropped != 0 {
		t.Errorf("stats %+v", st)
	}
	if _, err := c.Ping(opCtx(t)); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, ok := <-m.Traces(); ok {
		t.Error("Traces open after Close")
	}
	if !errors.Is(m.Err(), client.ErrClosed) {
		t.Errorf("Err %v", m.Err())
	}
	// Another Monitor may follow.
	m2, err := c.Monitor(opCtx(t), client.MonitorFilter{})
	if err != nil {
		t.Fatal(err)
	}
	m2.Close()
}

// A consumer that never reads does not hold up the Conn: traces beyond
// the buffer are dropped and counted, and a Local dropped trace reports
// them before the next trace that fits.
func TestMonitorSlowConsumerDropsOnTheClient(t *testing.T) {
	const n = 50
	path := fakeBus(t, func(l fakeLine) []string {
		switch l.Type {
		case "Monitor":
			out := []string{okReply(l.Id, `{"Monitoring":true}`)}
			for i := 1; i <= n; i++ {
				out = append(out, traceLine(i, "event", "delivered", "a", "b", "GO", `1`, 0))
			}
			return out
		default:
			return []string{okReply(l.Id, `{"Pong":true}`)}
		}
	})
	c, err := client.Dial(opCtx(t), path, client.WithReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.Monitor(opCtx(t), client.MonitorFilter{}, client.WithTraceBuffer(4))
	if err != nil {
		t.Fatal(err)
	}
	// The Ping's reply comes after every trace: the reader was not held up.
	if _, err := c.Ping(opCtx(t)); err != nil {
		t.Fatal(err)
	}
	st := m.Stats()
	if st.Received != n || st.ClientDropped != n-4 {
		t.Fatalf("stats %+v, want %d received, %d dropped", st, n, n-4)
	}
	for i := 1; i <= 4; i++ {
		if tr := <-m.Traces(); tr.Seq != uint64(i) {
			t.Fatalf("trace %d is %+v", i, tr)
		}
	}
	// The next Monitor line's traces: first the report of the drops.
	if err := m.SetFilter(opCtx(t), client.MonitorFilter{}); err != nil {
		t.Fatal(err)
	}
	tr := <-m.Traces()
	if tr.Type != client.TraceDropped || !tr.Local || tr.Count != n-4 {
		t.Fatalf("got %+v, want a Local dropped trace counting %d", tr, n-4)
	}
	if tr := <-m.Traces(); tr.Seq != 1 {
		t.Fatalf("after the drop report: %+v", tr)
	}
}

// A refused Monitor is the bus's typed error, and leaves the Conn usable.
func TestMonitorRefused(t *testing.T) {
	path := fakeBus(t, func(l fakeLine) []string {
		if l.Type == "Monitor" {
			return []string{errReply(l.Id, "unauthorized", "Monitoring requires a privileged peer: uid 1001")}
		}
		return []string{okReply(l.Id, `{"Pong":true}`)}
	})
	c, err := client.Dial(opCtx(t), path, client.WithReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Monitor(opCtx(t), client.MonitorFilter{})
	var be *client.Error
	if !errors.As(err, &be) || be.Code != "unauthorized" || !errors.Is(err, client.ErrRejected) {
		t.Fatalf("Monitor: %v, want an unauthorized *Error", err)
	}
	if _, err := c.Ping(opCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestTraceJSONRoundTrip(t *testing.T) {
	in := client.Trace{Seq: 9, Time: time.Date(2025, 10, 4, 2, 24, 28, 500000000, time.UTC), Type: "event", Outcome: "delivered",
		Source: "a<b", Target: "b", Event: "GO", Pid: -1, Uid: -1, TargetPid: -1, Payload: json.RawMessage(`{"x":"<&>"}`), PayloadBytes: 11}
	b, err := in.MarshalJSON() // json.Marshal would escape <, > and & again
	if err != nil {
		t.Fatal(err)
	}
	var out client.Trace
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Time.Equal(in.Time) || out.Source != in.Source || string(out.Payload) != string(in.Payload) || out.Seq != 9 {
		t.Fatalf("round trip: %s -> %+v", b, out)
	}
	raw, _ := in.MarshalJSON()
	want := `{"Seq":9,"Time":"2025-10-04T02:24:28.5Z","Type":"event","Outcome":"delivered","Source":"a<b","Target":"b","Event":"GO","Conn":0,"Pid":-1,"Uid":-1,"TargetConn":0,"TargetPid":-1,"RequestId":0,"Recipients":0,"Size":0,"Error":"","Payload":{"x":"<&>"},"PayloadBytes":11,"Truncated":false,"Count":0}`
	if string(raw) != want {
		t.Fatalf("MarshalJSON\n got %s\nwant %s", raw, want)
	}
}

func TestMonitorFilterApply(t *testing.T) {
	tr := client.Trace{Type: "event", Source: "ui", Target: "worker-1", Event: "JOB", Payload: json.RawMessage(`{"id":7,"name":"héllo"}`)}
	f := client.MonitorFilter{Machines: []string{"worker-*"}, Events: []string{"JOB*"}, MaxPayloadBytes: 8}
	got, ok := f.Apply(tr)
	if !ok || !got.Truncated || string(got.Payload) != `"{\"id\":7,"` {
		t.Fatalf("Apply: %v %+v %s", ok, got, got.Payload)
	}
	// A cut payload is cut again by a smaller limit only.
	f2 := client.MonitorFilter{MaxPayloadBytes: 3}
	if again, _ := f2.Apply(got); string(again.Payload) != `"{\"i"` || !again.Truncated {
		t.Fatalf("cut again: %s", again.Payload)
	}
	f3 := client.MonitorFilter{MaxPayloadBytes: 100}
	if same, _ := f3.Apply(got); string(same.Payload) != string(got.Payload) {
		t.Fatalf("cut by a larger limit: %s", same.Payload)
	}
	for _, f := range []client.MonitorFilter{{Machines: []string{"other"}}, {Events: []string{"X"}}, {Kinds: []string{"publish"}}} {
		if _, ok := f.Apply(tr); ok {
			t.Errorf("%+v matches", f)
		}
	}
	if got, ok := (&client.MonitorFilter{NoPayload: true}).Apply(tr); !ok || got.Payload != nil {
		t.Errorf("NoPayload: %s", got.Payload)
	}
	var rf client.MonitorFilter
	if err := json.Unmarshal([]byte(`{"Kinds":["nope"]}`), &rf); err == nil {
		t.Error("unknown kind accepted")
	}
	if err := json.Unmarshal([]byte(`{"Machines":["a*"],"Payload":false,"MaxPayloadBytes":5}`), &rf); err != nil || !rf.NoPayload || rf.MaxPayloadBytes != 5 || rf.Machines[0] != "a*" {
		t.Errorf("UnmarshalJSON: %v %+v", err, rf)
	}
}
