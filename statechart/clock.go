package statechart

import (
	"sort"
	"sync"
	"time"
)

// Clock is the time source of a System's delayed sends. AfterFunc calls
// f once, on a goroutine of the clock's choosing, after d; Timer.Stop
// prevents a call that has not started.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	Stop() bool
}

// RealClock returns the wall clock (time.AfterFunc).
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// VirtualClock is a Clock that moves only when told to, for tests and
// simulation. Timers fire on the goroutine that calls FireNext or
// Advance, one at a time, in due-time order, ties in the order they were
// set. It is safe for concurrent use.
type VirtualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*vtimer
}

type vtimer struct {
	c       *VirtualClock
	due     time.Time
	seq     uint64
	f       func()
	stopped bool
}

// NewVirtualClock returns a virtual clock reading start.
func NewVirtualClock(start time.Time) *VirtualClock { return &VirtualClock{now: start} }

// Now returns the virtual time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d.
func (c *VirtualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &vtimer{c: c, due: c.now.Add(d), seq: c.seq, f: f}
	i := sort.Search(len(c.timers), func(i int) bool {
		x := c.timers[i]
		return x.due.After(t.due) || (x.due.Equal(t.due) && x.seq > t.seq)
	})
	c.timers = append(c.timers, nil)
	copy(c.timers[i+1:], c.timers[i:])
	c.timers[i] = t
	return t
}

func (t *vtimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped {
		return false
	}
	t.stopped = true
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			break
		}
	}
	return true
}

// FireNext fires the earliest timer due at or before until: the clock
// moves to its due time and its function runs on the caller's goroutine.
// It reports whether a timer fired.
func (c *VirtualClock) FireNext(until time.Time) bool {
	c.mu.Lock()
	if len(c.timers) == 0 || c.timers[0].due.After(until) {
		c.mu.Unlock()
		return false
	}
	t := c.timers[0]
	c.timers = c.timers[1:]
	t.stopped = true
	if t.due.After(c.now) {
		c.now = t.due
	}
	c.mu.Unlock()
	t.f()
	return true
}

// Advance moves the clock forward by d, firing every timer that falls
// due on the way (also those set by the timers it fires), then sets the
// clock to the end time.
func (c *VirtualClock) Advance(d time.Duration) {
	until := c.Now().Add(d)
	for c.FireNext(until) {
	}
	c.mu.Lock()
	if until.After(c.now) {
		c.now = until
	}
	c.mu.Unlock()
}

// Pending returns how many timers are waiting.
func (c *VirtualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
