package nats

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/statebus/statebus/internal/protocol"
)

// claimGrace is how long a fresh claim may go without its id being bound
// here before reconcile treats it as abandoned (the local Bind failed).
const claimGrace = 5 * time.Second

func base64Decode(k string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(k) }

func (b *Bridge) value() []byte { return []byte(b.epoch + " " + b.cfg.HostName) }

func cutValue(v []byte) (epoch, host string, ok bool) {
	e, h, found := bytes.Cut(v, []byte(" "))
	if !found || len(h) == 0 {
		return "", "", false
	}
	return string(e), string(h), true
}

// Claim takes id for this host in the ownership bucket. It implements
// server.Bridge: CodeIDTaken when another live host owns id, CodeNone
// otherwise. While the link is down it lets the local bind proceed and
// claims the id when the link returns (see reconcile).
func (b *Bridge) Claim(ctx context.Context, id string) protocol.Code {
	if b.srv.Hosts(id) {
		return protocol.CodeNone // bound here: the local router decides
	}
	b.mu.Lock()
	kv, up := b.kv, b.up
	b.mu.Unlock()
	if !up || kv == nil {
		return protocol.CodeNone
	}
	code, err := b.claimKV(ctx, kv, id)
	if err != nil {
		b.log.Warn("Claiming a machine id in NATS failed; bound locally, claimed later", "id", id, "err", err)
		return protocol.CodeNone
	}
	return code
}

// claimKV creates id's key, taking over a key of this host's earlier
// incarnation or of a dead host. err is set when NATS did not answer.
func (b *Bridge) claimKV(ctx context.Context, kv jetstream.KeyValue, id string) (protocol.Code, error) {
	key := token(id)
	val := b.value()
	for range 4 {
		rev, err := kv.Create(ctx, key, val)
		if err == nil {
			b.mu.Lock()
			b.owned[id] = claim{id: id, rev: rev, at: time.Now()}
			delete(b.conflicts, id)
			b.mu.Unlock()
			return protocol.CodeNone, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return protocol.CodeNone, err
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile: create again
		}
		if err != nil {
			return protocol.CodeNone, err
		}
		_, host, _ := cutValue(e.Value())
		b.mu.Lock()
		alive := b.aliveLocked(host)
		b.mu.Unlock()
		switch {
		case host == b.cfg.HostName:
			// Ours, from before a restart or a release not yet deleted.
			rev, err := kv.Update(ctx, key, val, e.Revision())
			if err != nil {
				continue
			}
			b.mu.Lock()
			b.owned[id] = claim{id: id, rev: rev, at: time.Now()}
			delete(b.conflicts, id)
			b.mu.Unlock()
			return protocol.CodeNone, nil
		case host == "" || !alive:
			kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
			continue
		default:
			return protocol.CodeIDTaken, nil
		}
	}
	return protocol.CodeIDTaken, nil
}

// Released gives id up. It implements server.Bridge. While the link is
// up it deletes the key at once (one NATS round trip, at most
// releaseTimeout), so that another host may claim the id as soon as the
// Unregister is answered; otherwise, or if that fails, the key is deleted
// in the background.
func (b *Bridge) Released(id string) {
	b.mu.Lock()
	delete(b.conflicts, id)
	c, ok := b.owned[id]
	delete(b.owned, id)
	kv, up := b.kv, b.up
	b.mu.Unlock()
	if !ok {
		return
	}
	if up && kv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
		err := kv.Delete(ctx, token(c.id), jetstream.LastRevision(c.rev))
		cancel()
		if err == nil || !isTransient(err) {
			return
		}
	}
	b.mu.Lock()
	b.released = append(b.released, c)
	b.mu.Unlock()
	b.wake()
}

// releaseTimeout bounds the delete in Released.
const releaseTimeout = time.Second

// isTransient reports whether a KV error may go away on retry (rather
// than say "the key changed meanwhile").
func isTransient(err error) bool {
	var jsErr jetstream.JetStreamError
	return !errors.As(err, &jsErr) || jsErr.APIError() == nil
}

// deleteReleased deletes the keys of released ids. Each delete names the
// revision this host created, so a newer claim (even this host's own,
// after a quick re-register) survives it.
func (b *Bridge) deleteReleased(ctx context.Context) {
	b.mu.Lock()
	kv, list := b.kv, b.released
	if !b.up || kv == nil {
		b.mu.Unlock()
		return
	}
	b.released = nil
	b.mu.Unlock()
	for i, c := range list {
		err := kv.Delete(ctx, token(c.id), jetstream.LastRevision(c.rev))
		if err != nil && isTransient(err) {
			b.mu.Lock()
			b.released = append(b.released, list[i:]...)
			b.mu.Unlock()
			return
		}
	}
}

// reconcile makes the bucket agree with the ids bound here: it claims
// local ids it does not hold (bound while the link was down, or lost to a
// reaper during a partition) and deletes keys of this host whose ids are
// no longer bound. An id another live host took meanwhile is a conflict:
// it stays bound here for local senders, remote traffic goes to the other
// host, and Status reports it.
func (b *Bridge) reconcile(ctx context.Context) {
	b.mu.Lock()
	kv := b.kv
	if !b.up || kv == nil {
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	local := make(map[string]bool)
	for _, id := range b.srv.LocalMachines() {
		local[id] = true
	}
	var stale []claim
	var missing []string
	now := time.Now()
	b.mu.Lock()
	for id, c := range b.owned {
		if !local[id] && now.Sub(c.at) > claimGrace {
			delete(b.owned, id)
			stale = append(stale, c)
		}
	}
	for id, o := range b.dir {
		if o.host == b.cfg.HostName && !local[id] && b.owned[id].rev == 0 {
			stale = append(stale, claim{id: id, rev: o.rev})
		}
	}
	for id := range local {
		c, mine := b.owned[id]
		o, listed := b.dir[id]
		lost := !listed || o.host != b.cfg.HostName
		if !mine || lost && now.Sub(c.at) > claimGrace {
			missing = append(missing, id)
		}
	}
	b.mu.Unlock()
	for _, c := range stale {
		kv.Delete(ctx, token(c.id), jetstream.LastRevision(c.rev))
	}
	for _, id := range missing {
		code, err := b.claimKV(ctx, kv, id)
		if err != nil {
			return
		}
		if code == protocol.CodeNone && !b.srv.Hosts(id) {
			// Released while we claimed it: Released may have missed the
			// new revision, so give it up here.
			b.mu.Lock()
			c, ok := b.owned[id]
			delete(b.owned, id)
			b.mu.Unlock()
			if ok {
				kv.Delete(ctx, token(id), jetstream.LastRevision(c.rev))
			}
			continue
		}
		if code == protocol.CodeIDTaken && b.srv.Hosts(id) {
			// Another host claimed it while we were cut off: its claim
			// stands (first create wins); ours goes.
			b.mu.Lock()
			host := b.dir[id].host
			b.mu.Unlock()
			if b.srv.Evict(id, "owned by host "+host) {
				b.log.Error("Machine id was bound here and on another host after a partition; evicted here", "id", id, "other", host)
			}
		}
	}
}

// reap declares hosts silent for DeadAfter dead: requests pending on them
// fail with target_disconnected, and their keys are deleted (retried on
// every tick until the directory has none left).
func (b *Bridge) reap(ctx context.Context) {
	b.mu.Lock()
	kv := b.kv
	if !b.up || kv == nil {
		b.mu.Unlock()
		return
	}
	dead := make(map[string]bool)
	var fresh []string
	now := time.Now()
	for name, h := range b.hosts {
		if !h.dead && now.Sub(h.seen) >= b.cfg.DeadAfter {
			h.dead = true
			fresh = append(fresh, name)
		}
		if h.dead {
			dead[name] = true
		}
	}
	var keys []claim
	for id, o := range b.dir {
		if dead[o.host] {
			keys = append(keys, claim{id: id, rev: o.rev})
		}
	}
	b.mu.Unlock()
	for _, name := range fresh {
		b.log.Warn("Host missed its heartbeats; its machines are gone", "other", name)
	}
	if len(fresh) > 0 {
		b.failPending(func(p *pendingReq) bool { return dead[p.host] }, false)
	}
	for _, c := range keys {
		kv.Delete(ctx, token(c.id), jetstream.LastRevision(c.rev))
	}
}
