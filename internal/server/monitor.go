package server

import (
	"errors"
	"fmt"
	"os"

	"github.com/statebus/statebus/internal/protocol"
)

// errMonitorUnknownPeer refuses a monitor whose peer the transport cannot
// name, on a bus without a token to prove it.
var errMonitorUnknownPeer = errors.New("the peer's user is unknown on this transport; set a token and present it")

// DefaultAuthorizeMonitor is the rule for monitors when
// Config.AuthorizeMonitor is not set: the bus's own user and root. A peer
// whose user the transport cannot tell is refused with an error that the
// Token, when set and presented, overrides.
func DefaultAuthorizeMonitor(p PeerInfo) error {
	if p.UID < 0 {
		return errMonitorUnknownPeer
	}
	if self := os.Getuid(); p.UID == 0 || p.UID == self {
		return nil
	}
	return fmt.Errorf("uid %d is not the bus's user, root, or in MonitorUsers or MonitorGroups", p.UID)
}

// monitor handles Monitor: it checks that the peer may see the bus's
// traffic, then attaches (or re-filters) this connection's tap.
func (c *conn) monitor() {
	// With a token set, handle has already refused a connection that
	// did not present it (on this line's envelope or before).
	cfg := c.srv.limits()
	authorize := cfg.AuthorizeMonitor
	if authorize == nil {
		authorize = DefaultAuthorizeMonitor
	}
	err := authorize(c.peer)
	if errors.Is(err, errMonitorUnknownPeer) && cfg.Token != "" && c.authed {
		err = nil // the token stands in for the identity the transport lacks
	}
	if err != nil {
		c.refuseMonitor(err)
		return
	}
	f, err := protocol.DecodeTraceFilter(c.req.Payload)
	if err != nil {
		c.replyDecodeError(err)
		return
	}
	if f.Stop {
		c.detachMonitor()
		c.replyData([]byte(`{"Monitoring":false}`))
		return
	}
	old := c.tap
	if old != nil {
		old.stop()
	}
	c.tap = &connTap{c: c, f: f}
	if old != nil {
		c.srv.addTap(c.tap, old)
	} else {
		c.srv.addTap(c.tap, nil)
	}
	c.srv.log.Info("Monitor attached", "conn", c.id, "pid", c.peer.PID, "uid", c.peer.UID, "machines", f.Machines, "events", f.Events, "kinds", f.Kinds)
	c.replyData([]byte(`{"Monitoring":true}`))
}

// refuseMonitor answers a Monitor the peer may not make.
func (c *conn) refuseMonitor(err error) {
	c.stats.fail(protocol.CodeUnauthorized)
	c.srv.log.Warn("Monitor refused", "reason", err.Error(), "conn", c.id, "pid", c.peer.PID, "uid", c.peer.UID)
	c.replyError(protocol.CodeUnauthorized, protocol.TextMonitorRefused+err.Error())
	c.traceFailure(protocol.CodeUnauthorized, protocol.TextMonitorRefused+err.Error())
}

// detachMonitor removes this connection's tap, if any (teardown).
func (c *conn) detachMonitor() {
	if c.tap != nil {
		c.srv.removeTap(c.tap)
		c.tap.stop()
		c.tap = nil
	}
}
