package server

import (
	"encoding/json"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// Machine states (docs/protocol.md §4.13): the latest ReportState of each
// machine, and the definition it gave, kept until the id is released.

type machineState struct {
	state      protocol.State
	definition json.RawMessage
}

// forgetStates drops the states of released machine ids.
func (s *Server) forgetStates(ids ...string) {
	s.stateMu.Lock()
	for _, id := range ids {
		delete(s.states, id)
	}
	s.stateMu.Unlock()
}

// stateOf returns a copy of id's state, or nil.
func (s *Server) stateOf(id string) *protocol.State {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if ms := s.states[id]; ms != nil {
		st := ms.state
		return &st
	}
	return nil
}

// MachineState returns machine id's last reported state (nil if none)
// and its definition (nil if none), and whether id is bound on this bus.
// The returned values are the caller's.
func (s *Server) MachineState(id string) (st *protocol.State, def json.RawMessage, bound bool) {
	if !s.router.Owns([]byte(id)) {
		return nil, nil, false
	}
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if ms := s.states[id]; ms != nil {
		cp := ms.state
		st, def = &cp, append(json.RawMessage(nil), ms.definition...)
		if len(def) == 0 {
			def = nil
		}
	}
	return st, def, true
}

// Machines returns every machine on the bus, as ListMachines does: those
// bound here (with their state where they reported one), then those of
// other hosts.
func (s *Server) Machines() []protocol.MachineData { return s.machinesData() }

// reportState handles ReportState.
func (c *conn) reportState() {
	r, err := protocol.DecodeStateReport(c.req.Payload)
	if err != nil {
		c.replyDecodeError(err)
		return
	}
	id := []byte(r.MachineID)
	if !c.srv.router.OwnedBy(id, c) {
		c.stats.fail(protocol.CodeNotOwner)
		c.replyErrorArg(protocol.CodeNotOwner, protocol.CodeNotOwner.Prefix(), id)
		c.traceState(r.MachineID, nil, protocol.CodeNotOwner)
		return
	}
	now := time.Now()
	st := protocol.State{Value: r.Value, Status: r.Status, Context: r.Context, UpdatedAt: protocol.Time(now)}
	s := c.srv
	s.stateMu.Lock()
	ms := s.states[r.MachineID]
	if ms == nil {
		ms = &machineState{}
		s.states[r.MachineID] = ms
	}
	ms.state = st
	if r.Definition != nil {
		ms.definition = r.Definition
	}
	s.stateMu.Unlock()
	var buf [64]byte
	data := append(append(buf[:0], `{"MachineId":`...), protocol.AppendQuoted(nil, r.MachineID)...)
	c.replyData(append(data, `,"Reported":true}`...))
	c.traceState(r.MachineID, &st, protocol.CodeNone)
}

// traceState emits the state trace of a ReportState.
func (c *conn) traceState(id string, st *protocol.State, code protocol.Code) {
	if !c.srv.tracing() {
		return
	}
	t := traceOf(protocol.TraceState, c)
	t.Source, t.Size = id, c.lineLen
	var payload []byte
	if code != protocol.CodeNone {
		outcome(&t, code, false, code.Prefix()+id)
	} else {
		payload, _ = json.Marshal(struct {
			Value   json.RawMessage
			Status  string
			Context json.RawMessage
		}{nullable(st.Value), st.Status, nullable(st.Context)})
	}
	c.srv.emit(&t, payload, c)
}

func nullable(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// machineStateReply handles MachineState.
func (c *conn) machineStateReply() {
	if err := c.reg.Decode(c.req.Payload); err != nil {
		c.replyDecodeError(err)
		return
	}
	id := c.reg.MachineID.Value(nil)
	st, def, bound := c.srv.MachineState(string(id))
	if !bound {
		c.stats.fail(protocol.CodeNotConnected)
		c.replyErrorArg(protocol.CodeNotConnected, protocol.CodeNotConnected.Prefix(), id)
		return
	}
	c.replyJSON(struct {
		MachineId  string //lint:ignore ST1003 wire name
		State      *protocol.State
		Definition json.RawMessage
	}{string(id), st, nullable(def)})
}
