package main

// seqCheck checks one sender's stream at a receiver: every sequence number
// 0..count-1 once, in order. It is not safe for concurrent use; each
// sender's messages arrive on one goroutine.
type seqCheck struct {
	count     uint64
	seen      []uint64 // bit set of sequence numbers received
	max       uint64   // highest sequence number seen + 1
	got       uint64   // distinct sequence numbers received
	dup       uint64   // messages received again
	reordered uint64   // messages that arrived after a higher one
	bogus     uint64   // sequence numbers outside 0..count-1
}

func newSeqCheck(count int) *seqCheck {
	return &seqCheck{count: uint64(count), seen: make([]uint64, (count+63)/64)}
}

// see records the arrival of seq.
func (c *seqCheck) see(seq uint64) {
	if seq >= c.count {
		c.bogus++
		return
	}
	w, bit := seq/64, uint64(1)<<(seq%64)
	if c.seen[w]&bit != 0 {
		c.dup++
		return
	}
	c.seen[w] |= bit
	c.got++
	if seq+1 < c.max {
		c.reordered++
	} else {
		c.max = seq + 1
	}
}

// done reports whether every sequence number has arrived.
func (c *seqCheck) done() bool { return c.got == c.count }

// lost is how many sequence numbers have not arrived.
func (c *seqCheck) lost() uint64 { return c.count - c.got }

// checkResult sums the checks of several senders.
type checkResult struct {
	Received  uint64 `json:"received"`
	Lost      uint64 `json:"lost"`
	Dup       uint64 `json:"duplicates"`
	Reordered uint64 `json:"reordered"`
	Bogus     uint64 `json:"bogus"`
}

func (r *checkResult) add(c *seqCheck) {
	r.Received += c.got
	r.Lost += c.lost()
	r.Dup += c.dup
	r.Reordered += c.reordered
	r.Bogus += c.bogus
}

func (r *checkResult) merge(o checkResult) {
	r.Received += o.Received
	r.Lost += o.Lost
	r.Dup += o.Dup
	r.Reordered += o.Reordered
	r.Bogus += o.Bogus
}

// clean reports whether nothing was lost, duplicated or reordered.
func (r checkResult) clean() bool {
	return r.Lost == 0 && r.Dup == 0 && r.Reordered == 0 && r.Bogus == 0
}
