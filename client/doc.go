// Package client connects Go programs to a statebus bus.
//
// A Conn is one connection to the bus. Dial it with the ids of the
// machines it hosts; then send events to other machines by id, and
// receive the events sent to yours:
//
//	c, err := client.Dial(ctx, "", client.WithMachines("worker-1"))
//	if err != nil { ... }
//	defer c.Close()
//	c.OnEvent("JOB", func(ev client.Event) { ... })
//	err = c.Send(ctx, "ui-main", "JOB_DONE", map[string]int{"id": 7})
//
// The address is a socket path, or a pipe name mapped as .NET maps it
// ("" is the default pipe, XStateNet.MessageBus), so a Go program and C#
// XStateNet clients share one bus.
//
// Calls wait for the bus's acknowledgement and fail with errors that
// match the package's sentinels under errors.Is (ErrNotConnected,
// ErrQueueFull, ErrTimeout, ErrDisconnected, ErrClosed ...): nothing fails
// silently. SendAsync is the pipelined form for throughput; its failures
// are reported to a handler. Request and OnRequest give correlated
// request/reply between machines; Publish reaches every other machine.
//
// Payloads are marshalled with encoding/json; a json.RawMessage is sent as
// it is. The wire carries one message per line, so a payload with line
// breaks (pretty-printed JSON) is compacted first, keeping the bytes of
// its numbers and strings. Every line the Conn writes carries an Id of its
// own, and a reply completes only the call whose Id it echoes: a reply
// without one (the bus could not read a line) is logged and completes
// nothing.
//
// Received events are dispatched on a goroutine of their own, never on the
// reader, so a slow handler does not hold up replies. Handlers by event
// name, a "*" wildcard, channels (Events) and non-destructive waits
// (Expect, WaitForEvent) can be combined; each sees every event.
// OnEvent handlers add up; OnRequest has one handler per name, a later
// registration replacing it; Bind has one Member per id and refuses a
// second (ErrBound). Each remove function, and Member.Close, removes only
// what its own registration added.
//
// By default a Conn reconnects when the bus goes away: it redials with
// backoff, registers its ids again and keeps its handlers; calls made
// while it is down fail at once with ErrDisconnected unless
// WithWaitForReconnect is set. Close is idempotent and ends every
// goroutine the Conn started.
//
// Bind and Member adapt any Go state machine to the bus: events for the
// member's id go to one function; the machine's own outgoing events leave
// through Member.Send or Member.Emitter.
//
// Seeing the system: Monitor streams a Trace of every bus action that
// matches a MonitorFilter (events, publishes, requests and replies,
// registrations, connections, failures, state reports), for privileged
// peers only; its channel is bounded and never holds up the Conn, and
// what it drops is counted (MonitorStats) and reported in the stream.
// ReportState (ReportStateAsync after every step) says which state a
// machine is in; ListMachines returns it in MachineInfo.State, and
// MachineState returns it with the machine's definition:
//
//	m, err := c.Monitor(ctx, client.MonitorFilter{Machines: []string{"worker-*"}})
//	if err != nil { ... } // an *Error with Code "unauthorized" for an unprivileged peer
//	defer m.Close()
//	for t := range m.Traces() {
//		fmt.Println(t.Time, t.Type, t.Source, "->", t.Target, t.Event, t.Outcome)
//	}
package client
