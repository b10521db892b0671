package server

// idler keeps idle connections without a reader goroutine. A reader that
// has had no input for parkAfter, with nothing buffered, hands its
// connection to the idler (park) and exits; the idler starts a new reader
// (conn.serve) when input or a hang-up arrives, or when unpark asks.
//
// The hand-over is atomic: once park has returned true, exactly one of the
// idler's wake-up, unpark, or nothing at all resumes the connection, and
// the resumed reader sees everything park wrote to the connection.
type idler interface {
	// park hands c over. It is called by c's reader, which must return at
	// once without touching c when park reports true; false means the
	// reader must keep reading itself (c is stopping or failed, or its
	// socket cannot be watched).
	park(c *conn) bool
	// unpark resumes c at once if it is parked; otherwise it does nothing.
	// Safe from any goroutine.
	unpark(c *conn)
	// forget stops watching c's socket; called by c's reader before the
	// socket closes.
	forget(c *conn)
	// count reports how many connections are parked.
	count() int
	// stop ends the idler's background work. No connection may be parked:
	// Shutdown calls it after every connection has ended.
	stop()
}

// noParking is the idler of platforms without one, and of servers whose
// parker could not start: every connection keeps its reader.
type noParking struct{}

func (noParking) park(*conn) bool { return false }
func (noParking) unpark(*conn)    {}
func (noParking) forget(*conn)    {}
func (noParking) count() int      { return 0 }
func (noParking) stop()           {}
