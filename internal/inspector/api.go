package inspector

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/protocol"
)

// Snapshot is the body of /api/snapshot and of each "snapshot" event.
type Snapshot struct {
	Time     protocol.Time
	Version  string
	Health   HealthView
	Counters protocol.MetricsData // the Metrics reply's counters (docs/protocol.md §4.10)
	Bridge   *metrics.BridgeStats `json:",omitempty"`
	// Machines are every machine on the bus, with State for those that
	// reported one (ReportState), sorted by id.
	Machines []protocol.MachineData
}

// HealthView is the bus's health.
type HealthView struct {
	IsHealthy    bool
	ErrorMessage string
}

// MachineView is the body of /api/machines/{id}.
type MachineView struct {
	MachineId  string          //lint:ignore ST1003 the wire's name (MachineState, docs/protocol.md §4.14)
	State      *protocol.State // null when the machine has reported none
	Definition json.RawMessage // null when none was given
}

func (h *handler) snap() Snapshot {
	m := h.bus.Snapshot()
	hl := h.bus.Health()
	machines := h.bus.Machines()
	if machines == nil {
		machines = []protocol.MachineData{}
	}
	return Snapshot{
		Time:     protocol.Time(m.Now),
		Version:  m.Build.Version,
		Health:   HealthView{IsHealthy: hl.IsHealthy, ErrorMessage: hl.ErrorMessage},
		Counters: h.bus.Metrics(),
		Bridge:   m.Bridge,
		Machines: machines,
	}
}

func (h *handler) snapshot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.snap())
}

func (h *handler) machine(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, def, bound := h.bus.MachineState(id)
	if !bound {
		writeJSON(w, http.StatusNotFound, map[string]string{"Error": "Target machine not connected: " + id})
		return
	}
	writeJSON(w, http.StatusOK, MachineView{MachineId: id, State: st, Definition: def})
}

// filterOf reads an event stream's filter from the query: machines=,
// events= and kinds= (comma-separated patterns, as in a Monitor filter),
// payload=false, max=N (MaxPayloadBytes).
func filterOf(r *http.Request) (protocol.TraceFilter, error) {
	q := r.URL.Query()
	list := func(k string) []string {
		var out []string
		for _, v := range q[k] {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		}
		return out
	}
	w := map[string]any{"Machines": list("machines"), "Events": list("events"), "Kinds": list("kinds")}
	if p := q.Get("payload"); p != "" {
		b, err := strconv.ParseBool(p)
		if err != nil {
			return protocol.TraceFilter{}, err
		}
		w["Payload"] = b
	}
	if m := q.Get("max"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil {
			return protocol.TraceFilter{}, err
		}
		w["MaxPayloadBytes"] = n
	}
	raw, _ := json.Marshal(w)
	return protocol.DecodeTraceFilter(raw)
}

// events streams server-sent events: "hello" first (the snapshot the page
// starts from), then "trace" for each trace of the stream's Tap and
// "snapshot" every SnapshotInterval. It returns when the client goes away
// or a write stalls for WriteTimeout; the Tap drops meanwhile, so the bus
// never waits for this client.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r)
	if err != nil {
		http.Error(w, "inspector: bad filter: "+err.Error(), http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	tap := h.bus.Tap(f, h.o.Buffer)
	defer tap.Close()
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	sw := &sseWriter{w: w, rc: rc, timeout: h.o.WriteTimeout}
	sw.event("hello", h.snap())
	if sw.flush() != nil {
		return
	}
	tick := time.NewTicker(h.o.SnapshotInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		case <-tick.C:
			sw.event("snapshot", h.snap())
		case t, ok := <-tap.C():
			if !ok {
				return
			}
			sw.event("trace", &t)
			// Take what else is waiting, up to a batch, before one flush.
		batch:
			for range 255 {
				select {
				case t, ok = <-tap.C():
					if !ok {
						break batch
					}
					sw.event("trace", &t)
				default:
					break batch
				}
			}
		}
		if sw.flush() != nil {
			h.o.Logger.Debug("Inspector event stream ended", "remote", r.RemoteAddr, "err", sw.err)
			return
		}
	}
}

// sseWriter writes server-sent events with a deadline on each flush.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
	err     error
}

func (s *sseWriter) event(name string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(map[string]string{"Error": err.Error()})
	}
	s.buf = append(s.buf, "event: "...)
	s.buf = append(s.buf, name...)
	s.buf = append(s.buf, "\ndata: "...)
	s.buf = append(s.buf, data...) // compact JSON: no newlines
	s.buf = append(s.buf, "\n\n"...)
}

func (s *sseWriter) flush() error {
	if s.err != nil || len(s.buf) == 0 {
		return s.err
	}
	s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := s.w.Write(s.buf); err != nil {
		s.err = err
		return err
	}
	s.buf = s.buf[:0]
	if cap(s.buf) > 1<<20 {
		s.buf = nil // a burst of big payloads; do not keep its buffer
	}
	if err := s.rc.Flush(); err != nil {
		s.err = err
	}
	return s.err
}
