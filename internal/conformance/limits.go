package conformance

import (
	"fmt"
	"strings"
)

const tooLongLine = `{"Success":false,"Data":null,"Error":"Message exceeds the maximum line length","Kind":"Reply","Code":"line_too_long"}`

// lineTooLong: a line of MaxMessageBytes is read; one byte more gets
// line_too_long (no Id) and the connection is closed; so does an endless
// line; other connections are untouched (§2, §8).
func lineTooLong(s *suite) {
	s.start(Limits{MaxMessageBytes: 4096})
	f := s.h.Features
	other := s.dial(A)
	other.register("other")

	c := s.dial(A)
	head, tail := `{"Type":"Ping","Id":1,"x":"`, `"}`
	atLimit := head + strings.Repeat("a", 4096-len(head)-len(tail)) + tail
	c.send(atLimit + "\r\n") // the terminator does not count
	c.expect(f, pongLine+`,"Id":1}`)
	done := c.sendAsync(strings.Repeat("x", 4097) + "\n")
	c.expect(f, tooLongLine)
	c.expectEOF()
	<-done

	// Endless bytes with no newline: the error, then the end.
	c2 := s.dial(A)
	stop := make(chan struct{})
	defer close(stop)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		chunk := strings.Repeat("y", 1024)
		for range 1024 { // 1 MiB, 256 times the limit
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c2.nc.Write([]byte(chunk)); err != nil {
				return
			}
		}
	}()
	c2.expect(f, tooLongLine)
	c2.expectEOF()
	c2.nc.Close()
	<-wrote
	other.ping()
}

// fatalErrorAfterPipelinedLine: a line's reply and the fatal error after
// it both reach the client, the error without the earlier Id, then a
// clean end of stream (§7).
func fatalErrorAfterPipelinedLine(s *suite) {
	s.start(Limits{MaxMessageBytes: 1024})
	c := s.dial(A)
	done := c.sendAsync(`{"Type":"Ping","Id":"abc"}` + "\n" + strings.Repeat("q", 1025) + "\n" + strings.Repeat("more input ", 1000))
	c.expect(s.h.Features, pongLine+`,"Id":"abc"}`)
	c.expect(s.h.Features, tooLongLine)
	c.expectEOF()
	<-done
}

// queueFull: events to a connection that does not read fail with
// queue_full once its queue is over MaxQueueBytes; the sender is not
// blocked and others still talk (§8). The slow reader is on B.
func queueFull(s *suite) {
	s.start(Limits{MaxQueueBytes: 64 << 10})
	slow := s.dial(B) // registers, then never reads again
	slow.register("slow")
	sender := s.dial(A)
	sender.register("sender")
	a, b := s.dial(A), s.dial(B)
	a.register("a")
	b.register("b")

	payload := `"` + strings.Repeat("p", 1000) + `"`
	line := strings.TrimSuffix(sendLine("sender", "slow", "FLOOD", payload), "\n")
	for i := 0; ; i++ {
		if i == 10000 {
			s.t.Fatal("the queue never filled")
		}
		r := sender.call(line)
		if r.Success {
			continue
		}
		if r.Code != "queue_full" || r.text() != "Target machine queue full: slow" {
			s.t.Fatalf("event %d: got %s, want queue_full", i, r)
		}
		break
	}
	a.send(sendLine("a", "b", "HI", "{}"))
	b.expect(s.h.Features, eventLine("a", "b", "HI", "{}"))
	a.expect(s.h.Features, ackLine("b"))
	sender.ping()
	r := sender.call(line)
	if r.Code != "queue_full" {
		s.t.Fatalf("still full: got %s", r)
	}
}

// maxConnections: the connection beyond MaxConnections gets
// too_many_connections and is closed; the others are untouched, and a
// slot frees when one leaves (§8).
func maxConnections(s *suite) {
	s.start(Limits{MaxConnections: 3})
	f := s.h.Features
	var cs []*conn
	for i := range 3 {
		c := s.dial(A)
		c.register(fmt.Sprintf("m%d", i))
		cs = append(cs, c)
	}
	extra := s.dial(A)
	// Written without waiting, so that a bus that admits it answers at
	// once (and a refused connection may be closed before taking it).
	done := extra.sendAsync(`{"Type":"Ping"}` + "\n")
	extra.expect(f, `{"Success":false,"Data":null,"Error":"Too many connections (limit 3)","Kind":"Reply","Code":"too_many_connections"}`)
	extra.expectEOF()
	<-done
	cs[0].send(sendLine("m0", "m1", "E", "1"))
	cs[1].expect(f, eventLine("m0", "m1", "E", "1"))
	cs[0].expect(f, ackLine("m1"))
	cs[2].nc.Close()
	// The bus notices the close asynchronously: retry until admitted.
	waitFor(s.t, "a slot to free", func() bool {
		// A refused connection gets its error first and may be closed
		// before it takes the request: write without waiting.
		c := s.dial(A)
		done := c.sendAsync(`{"Type":0,"Payload":"m3","Id":1}` + "\n")
		r := c.reply()
		if r.Code == "too_many_connections" {
			c.nc.Close()
			<-done
			return false
		}
		if !r.Success {
			s.t.Fatalf("new connection after a slot freed: %s", r)
		}
		return <-done == nil
	})
}

// machinesPerConnection: a connection may own MaxMachinesPerConnection
// ids; binding one it owns again does not count; a refused id stays free
// for others (§4.1, §8).
func machinesPerConnection(s *suite) {
	s.start(Limits{MaxMachinesPerConnection: 3})
	c, d := s.dial(A), s.dial(B)
	for _, id := range []string{"m1", "m2", "m3", "m1"} {
		c.register(id)
	}
	const text = "Too many machine ids on this connection; cannot add: m4"
	c.mustFail(`{"Type":0,"Payload":"m4"}`, "too_many_machines", text)
	c.mustFail(`{"Type":3,"Payload":"m4"}`, "too_many_machines", text)
	d.register("m4") // the refused id was not kept for c
	c.mustOK(`{"Type":1,"Payload":"m1"}`)
	c.mustFail(`{"Type":0,"Payload":"m4"}`, "id_taken", "Machine id is owned by another connection: m4")
	c.register("m5")
	c.mustFail(`{"Type":0,"Payload":"m6"}`, "too_many_machines", "Too many machine ids on this connection; cannot add: m6")
}

// pendingRequests: a connection may have MaxPendingRequests unanswered
// Requests; the next fails at once with too_many_requests, and an answer
// makes room (§4.6).
func pendingRequests(s *suite) {
	f := s.h.Features
	s.start(Limits{MaxPendingRequests: 2})
	asker, t := s.dial(A), s.dial(B)
	asker.register("asker")
	t.register("t")
	req := func(id int) string {
		return fmt.Sprintf(`{"Type":"Request","Payload":{"SourceMachineId":"asker","TargetMachineId":"t","EventName":"Q","Payload":%d},"Id":%d}`, id, id)
	}
	pushed := func(payload, requestID int) string {
		return fmt.Sprintf(`{"Success":true,"Data":{"SourceMachineId":"asker","TargetMachineId":"t","EventName":"Q","Payload":%d,"Timestamp":"<TIME>","RequestId":%d},"Error":null,"Kind":"Request"}`, payload, requestID)
	}
	for id := 1; id <= 2; id++ {
		asker.send(req(id) + "\n")
		t.expect(f, pushed(id, id))
	}
	asker.send(req(3) + "\n")
	asker.expect(f, `{"Success":false,"Data":null,"Error":"Too many pending requests on this connection; cannot send to: t","Kind":"Reply","Code":"too_many_requests","Id":3}`)
	t.mustOK(`{"Type":"Reply","Payload":{"RequestId":1,"Payload":"one"}}`)
	asker.expect(f, s.answerLine(1, "t", `"one"`, "1"))
	asker.send(req(4) + "\n")
	t.expect(f, pushed(4, 3))
}

// answerLine is the success reply to a Request, in the transcripts'
// notation.
func (s *suite) answerLine(requestID int, from, payload, id string) string {
	s.t.Helper()
	rid := fmt.Sprint(requestID)
	return `{"Success":true,"Data":{"RequestId":` + rid + `,"SourceMachineId":"` + from + `","Payload":` + payload + `},"Error":null,"Kind":"Reply","Id":` + id + `}`
}
