package server

import (
	"errors"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// parker keeps idle connections without a goroutine: a connection with
// no input for parkAfter hands its socket to one epoll loop and its reader
// goroutine exits, freeing its stack; the loop starts a new reader when
// input (or a hang-up) arrives. This is what lets thousands of idle
// clients cost a couple of KiB each.
type parker struct {
	srv    *Server
	epfd   int
	wakefd int // eventfd that stops the loop
	mu     sync.Mutex
	parked map[uint64]*conn
	done   chan struct{}

	// After many connections park at once (a burst of clients that then
	// go quiet), their freed stacks are handed back to the OS instead of
	// waiting for the runtime's slow background scavenger.
	sinceRelease int
	lastRelease  time.Time
	release      *time.Timer // pending hand-back, nil if none
}

// A hand-back happens once releaseBatch connections have parked and no
// other one parked for releaseDelay (the burst has settled), at most once
// per releaseEvery.
const (
	releaseEvery = 10 * time.Second
	releaseDelay = 100 * time.Millisecond
	releaseBatch = 1000
)

func newParker(s *Server) *parker {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1, Pad: -1}
	if unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev) != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil
	}
	p := &parker{srv: s, epfd: epfd, wakefd: wakefd, parked: make(map[uint64]*conn), done: make(chan struct{})}
	go p.loop()
	return p
}

// park hands c's socket to the loop; false means c must keep reading
// itself (shutting down, or the socket cannot be watched).
func (p *parker) park(c *conn) bool {
	if p == nil || c.raw == nil {
		return false
	}
	p.mu.Lock()
	c.mu.Lock()
	stop := c.stopping || c.dead
	c.mu.Unlock()
	if stop {
		p.mu.Unlock()
		return false
	}
	p.parked[c.id] = c
	p.sinceRelease++
	switch {
	case p.release != nil:
		p.release.Reset(releaseDelay) // still bursting: wait for quiet
	case p.sinceRelease >= releaseBatch && time.Since(p.lastRelease) > releaseEvery:
		p.release = time.AfterFunc(releaseDelay, p.releaseMemory)
	}
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(c.id), Pad: int32(c.id >> 32)}
	var err error
	// Nothing of c may be touched once the registration is armed: a new
	// reader may start at once.
	op := unix.EPOLL_CTL_MOD
	if !c.watched {
		op = unix.EPOLL_CTL_ADD
	}
	c.watched = true
	cerr := c.raw.rc.Control(func(fd uintptr) {
		err = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		p.mu.Lock()
		_, still := p.parked[c.id]
		delete(p.parked, c.id)
		p.mu.Unlock()
		if still && op == unix.EPOLL_CTL_ADD {
			c.watched = false
		}
		return !still // if someone already resumed it, its reader is running
	}
	return true
}

// releaseMemory returns freed memory to the OS.
func (p *parker) releaseMemory() {
	debug.FreeOSMemory()
	p.mu.Lock()
	p.release, p.sinceRelease, p.lastRelease = nil, 0, time.Now()
	p.mu.Unlock()
}

// count reports how many connections are parked.
func (p *parker) count() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// unpark resumes c at once if it is parked (Shutdown).
func (p *parker) unpark(c *conn) {
	if p == nil {
		return
	}
	p.mu.Lock()
	_, ok := p.parked[c.id]
	delete(p.parked, c.id)
	p.mu.Unlock()
	if ok {
		go c.serve()
	}
}

// forget stops watching c's socket before it closes.
func (p *parker) forget(c *conn) {
	if p == nil || !c.watched {
		return
	}
	c.raw.rc.Control(func(fd uintptr) {
		unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	c.watched = false
}

func (p *parker) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == -1 && ev.Pad == -1 {
				return // stop
			}
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			p.mu.Lock()
			c := p.parked[id]
			delete(p.parked, id)
			p.mu.Unlock()
			if c != nil {
				go c.serve()
			}
		}
	}
}

// stop ends the loop; parked connections must have been resumed.
func (p *parker) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.release != nil {
		p.release.Stop()
		p.release = nil
	}
	p.mu.Unlock()
	var one [8]byte
	one[0] = 1
	unix.Write(p.wakefd, one[:])
	<-p.done
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}
