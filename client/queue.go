package client

// eventRing is the dispatch queue: a FIFO of events by value in a ring
// that grows by doubling, so queueing an event allocates nothing once the
// ring has grown to the rate's need.
type eventRing struct {
	buf     []Event // len is 0 or a power of two
	head, n int
}

func (q *eventRing) len() int { return q.n }

func (q *eventRing) push(ev *Event) {
	if q.n == len(q.buf) {
		buf := make([]Event, max(16, 2*len(q.buf)))
		for i := range q.n {
			buf[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
		}
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = *ev
	q.n++
}

// pop removes the first event; the queue must not be empty. An emptied
// ring of more than 1,024 events is let go, so a burst does not keep its
// memory.
func (q *eventRing) pop() Event {
	ev := q.buf[q.head]
	q.buf[q.head] = Event{}
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > 1024 {
			q.buf = nil
		}
	}
	return ev
}

// callRing is the FIFO of calls awaiting in-order replies: a ring of
// values that grows by doubling, so a sender pipelining without pause
// reuses the same slots instead of appending to a slice that only empties
// (and so only shrinks) when the reader catches up.
type callRing struct {
	buf     []pendingCall // len is 0 or a power of two
	head, n int
}

func (q *callRing) len() int { return q.n }

// at returns the i-th call from the head; i must be below len.
func (q *callRing) at(i int) *pendingCall {
	return &q.buf[(q.head+i)&(len(q.buf)-1)]
}

func (q *callRing) push(pc pendingCall) {
	if q.n == len(q.buf) {
		buf := make([]pendingCall, max(64, 2*len(q.buf)))
		for i := range q.n {
			buf[i] = *q.at(i)
		}
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = pc
	q.n++
}

// pop removes the first call; the ring must not be empty. An emptied ring
// of more than 4,096 calls is let go, so a burst does not keep its memory.
func (q *callRing) pop() pendingCall {
	p := q.at(0)
	pc := *p
	*p = pendingCall{}
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > 4096 {
			q.buf = nil
		}
	}
	return pc
}

// drain removes every call and returns them in order.
func (q *callRing) drain() []pendingCall {
	calls := make([]pendingCall, q.n)
	for i := range calls {
		calls[i] = q.pop()
	}
	return calls
}
