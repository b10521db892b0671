package conformance

import (
	"fmt"
	"time"
)

// requestLine is the pushed Request for a Request from asker to target
// with payload, numbered requestID.
func requestLine(asker, target, payload string, requestID int) string {
	return fmt.Sprintf(`{"Success":true,"Data":{"SourceMachineId":%q,"TargetMachineId":%q,"EventName":"Q","Payload":%s,"Timestamp":"<TIME>","RequestId":%d},"Error":null,"Kind":"Request"}`,
		asker, target, payload, requestID)
}

// ask sends a Request from src to dst with payload and Id id.
func (c *conn) ask(src, dst, payload, id string, timeoutMs int) {
	c.t.Helper()
	to := ""
	if timeoutMs > 0 {
		to = fmt.Sprintf(`,"TimeoutMs":%d`, timeoutMs)
	}
	c.send(fmt.Sprintf(`{"Type":"Request","Payload":{"SourceMachineId":%q,"TargetMachineId":%q,"EventName":"Q","Payload":%s%s},"Id":%s}`+"\n",
		src, dst, payload, to, id))
}

// disconnectReleases: when a connection ends, every id it owned is
// released at once, and its pending Requests are dropped: a late Reply
// gets unknown_request (§5).
func disconnectReleases(s *suite) {
	s.start(Limits{})
	f := s.h.Features
	owner, other := s.dial(A), s.dial(B)
	for _, id := range []string{"x1", "x2", "x3"} {
		owner.register(id)
	}
	owner.mustOK(`{"Type":3,"Payload":"x4"}`)
	other.register("other")
	owner.ask("x1", "other", "null", "1", 0)
	other.expect(f, requestLine("x1", "other", "null", 1))
	owner.nc.Close()
	s.waitUnbound("x1", "x2", "x3", "x4")
	other.mustFail(`{"Type":2,"Payload":{"SourceMachineId":"other","TargetMachineId":"x1","EventName":"E"}}`,
		"target_not_connected", "Target machine not connected: x1")
	taker := s.dial(B)
	for _, id := range []string{"x1", "x2", "x3", "x4"} {
		taker.register(id)
	}
	other.mustFail(`{"Type":"Reply","Payload":{"RequestId":1,"Payload":1}}`, "unknown_request", "Unknown or expired request: 1")
}

// requestOutOfOrder: many Requests in flight, answered in reverse order;
// each answer is matched to its request by Id (§4.6).
func requestOutOfOrder(s *suite) {
	s.start(Limits{})
	f := s.h.Features
	asker, t := s.dial(A), s.dial(B)
	asker.register("asker")
	t.register("t")
	const n = 10
	for i := range n {
		asker.ask("asker", "t", fmt.Sprint(i), fmt.Sprintf(`"r%d"`, i), 0)
	}
	for i := range n {
		t.expect(f, requestLine("asker", "t", fmt.Sprint(i), i+1))
	}
	for i := n - 1; i >= 0; i-- {
		t.send(fmt.Sprintf(`{"Type":"Reply","Payload":{"RequestId":%d,"Payload":{"i":%d}},"Id":%d}`+"\n", i+1, i, i))
		t.expect(f, fmt.Sprintf(`{"Success":true,"Data":{"Delivered":true,"RequestId":%d},"Error":null,"Kind":"Reply","Id":%d}`, i+1, i))
		asker.expect(f, s.answerLine(i+1, "t", fmt.Sprintf(`{"i":%d}`, i), fmt.Sprintf(`"r%d"`, i)))
	}
	// An answer with an Error fails the Request with remote_error; an
	// empty Error has a text of the bus's (§4.7).
	asker.ask("asker", "t", "null", `"e1"`, 0)
	t.expect(f, requestLine("asker", "t", "null", n+1))
	t.mustOK(fmt.Sprintf(`{"Type":"Reply","Payload":{"RequestId":%d,"Error":""}}`, n+1))
	asker.expect(f, `{"Success":false,"Data":null,"Error":"Target replied with an error","Kind":"Reply","Code":"remote_error","Id":"e1"}`)
}

// requestDefaultTimeout: a Request without TimeoutMs times out after the
// bus's RequestTimeout; a later Reply gets unknown_request (§4.6).
func requestDefaultTimeout(s *suite) {
	const timeout = 200 * time.Millisecond
	s.start(Limits{RequestTimeout: timeout})
	f := s.h.Features
	asker, t := s.dial(A), s.dial(B)
	asker.register("asker")
	t.register("t")
	start := time.Now()
	asker.ask("asker", "t", "null", "1", 0)
	t.expect(f, requestLine("asker", "t", "null", 1))
	asker.expect(f, `{"Success":false,"Data":null,"Error":"Request timed out: t","Kind":"Reply","Code":"timeout","Id":1}`)
	if d := time.Since(start); d < timeout {
		s.t.Fatalf("timed out after %v, before RequestTimeout %v", d, timeout)
	}
	t.mustFail(`{"Type":"Reply","Payload":{"RequestId":1}}`, "unknown_request", "Unknown or expired request: 1")
}

// requestTargetUnregisters: a Request to an unowned id fails at once; a
// pending Request fails with target_disconnected when the target
// unregisters its id (§4.6).
func requestTargetUnregisters(s *suite) {
	s.start(Limits{})
	f := s.h.Features
	asker, t := s.dial(A), s.dial(B)
	asker.register("asker")
	t.register("t")
	// A Request to an id nobody owns, on any host, fails at once.
	asker.ask("asker", "nobody", "null", `"n"`, 60000)
	asker.expect(f, `{"Success":false,"Data":null,"Error":"Target machine not connected: nobody","Kind":"Reply","Code":"target_not_connected","Id":"n"}`)
	asker.ask("asker", "t", `{"k":1}`, `"u"`, 60000)
	t.expect(f, requestLine("asker", "t", `{"k":1}`, 1))
	t.mustOK(`{"Type":1,"Payload":"t"}`)
	asker.expect(f, `{"Success":false,"Data":null,"Error":"Target machine disconnected before replying: t","Kind":"Reply","Code":"target_disconnected","Id":"u"}`)
	t.mustFail(`{"Type":"Reply","Payload":{"RequestId":1}}`, "unknown_request", "Unknown or expired request: 1")
}
