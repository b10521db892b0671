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

// startIdler starts the epoll parker, or returns noParking if the
// kernel refuses its descriptors; parks reports which.
func startIdler(s *Server) (_ idler, parks bool) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		s.log.Warn("Idle connections keep their reader: no epoll", "err", err)
		return noParking{}, false
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		s.log.Warn("Idle connections keep their reader: no eventfd", "err", err)
		return noParking{}, false
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1, Pad: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		s.log.Warn("Idle connections keep their reader: epoll refused the eventfd", "err", err)
		return noParking{}, false
	}
	p := &parker{srv: s, epfd: epfd, wakefd: wakefd, parked: make(map[uint64]*conn), done: make(chan struct{})}
	go p.loop()
	return p, true
}

// park hands c's socket to the loop; false means c must keep reading
// itself (stopping, failed, or the socket cannot be watched).
//
// The whole hand-over happens under p.mu: c's registration is armed and
// c published as parked before anyone can look for it. The loop, unpark
// and Shutdown take p.mu before they resume a connection, so a wake-up
// that fires as soon as the registration is armed waits for the
// publication, and the resumed reader sees watched as park left it.
// Lock order: p.mu, then c.mu.
func (p *parker) park(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.mu.Lock()
	stop := c.stopping || c.dead
	c.mu.Unlock()
	if stop {
		return false
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(c.id), Pad: int32(c.id >> 32)}
	op := unix.EPOLL_CTL_MOD
	if !c.watched {
		op = unix.EPOLL_CTL_ADD
	}
	var err error
	cerr := c.raw.rc.Control(func(fd uintptr) {
		err = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return false
	}
	c.watched = true
	p.parked[c.id] = c
	p.sinceRelease++
	switch {
	case p.release != nil:
		p.release.Reset(releaseDelay) // still bursting: wait for quiet
	case p.sinceRelease >= releaseBatch && time.Since(p.lastRelease) > releaseEvery:
		p.release = time.AfterFunc(releaseDelay, p.releaseMemory)
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
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// unpark resumes c at once if it is parked.
func (p *parker) unpark(c *conn) {
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
	if !c.watched {
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
