package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsio "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header keys of bridge messages.
const (
	hdrOp      = "Sb-Op"      // send, req or pub on a host subject; bye on heartbeats
	hdrHost    = "Sb-Host"    // heartbeat: the sender's HostName
	hdrEpoch   = "Sb-Epoch"   // heartbeat: the sender's incarnation
	hdrTimeout = "Sb-Timeout" // req: timeout in milliseconds
	hdrCode    = "Sb-Code"    // answer: the failure code name; absent on success
	// hdrRequestID: answer: the RequestId the target's bus gave the
	// request (absent from older buses and from immediate refusals).
	hdrRequestID = "Sb-Request-Id"
	// hdrReq: cancel: the reply subject of the request to drop.
	hdrReq = "Sb-Req"
)

// natsOptions maps the Config onto nats.go options.
func (b *Bridge) natsOptions() ([]natsio.Option, error) {
	c := &b.cfg
	opts := []natsio.Option{
		natsio.Name("statebus " + c.HostName),
		natsio.NoEcho(),
		natsio.MaxReconnects(-1),
		natsio.RetryOnFailedConnect(true),
		natsio.ReconnectWait(c.ReconnectWait),
		natsio.PingInterval(c.DeadAfter),
		natsio.MaxPingsOutstanding(2),
		natsio.ConnectHandler(func(*natsio.Conn) { b.linkUp() }),
		natsio.ReconnectHandler(func(*natsio.Conn) { b.linkUp() }),
		natsio.DisconnectErrHandler(func(_ *natsio.Conn, err error) { b.linkDown(err) }),
		natsio.ClosedHandler(func(*natsio.Conn) { b.linkDown(natsio.ErrConnectionClosed) }),
	}
	if c.CredsFile != "" {
		opts = append(opts, natsio.UserCredentials(c.CredsFile))
	}
	if c.NKeyFile != "" {
		o, err := natsio.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: Nats.NKeyFile: %v", ErrConfig, err)
		}
		opts = append(opts, o)
	}
	if c.User != "" {
		opts = append(opts, natsio.UserInfo(c.User, c.Password))
	}
	if c.Token != "" {
		opts = append(opts, natsio.Token(c.Token))
	}
	if c.TLSCA != "" {
		opts = append(opts, natsio.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, natsio.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts, nil
}

// Start connects to NATS, subscribes, opens the ownership bucket and
// announces the ids already bound here. If NATS is unreachable it logs,
// returns nil and keeps trying in the background (the local bus works
// meanwhile); it fails when the config is unusable or the server has no
// JetStream. ctx bounds the first synchronisation. Call it once.
func (b *Bridge) Start(ctx context.Context) error {
	select {
	case <-b.quit:
		return ErrStopped
	default:
	}
	opts, err := b.natsOptions()
	if err != nil {
		return err
	}
	nc, err := natsio.Connect(b.cfg.URL, opts...)
	if err != nil {
		return fmt.Errorf("bridge/nats: %w", err)
	}
	b.nc = nc
	subs := []struct {
		subj string
		fn   natsio.MsgHandler
	}{
		{b.self, b.inbound},
		{b.inbox + "*", b.answer},
		{b.cfg.Prefix + ".hb", b.heartbeat},
	}
	for _, s := range subs {
		sub, err := nc.Subscribe(s.subj, s.fn)
		if err == nil {
			err = sub.SetPendingLimits(-1, 256<<20)
		}
		if err != nil {
			nc.Close()
			return fmt.Errorf("bridge/nats: subscribe %s: %w", s.subj, err)
		}
	}
	if nc.IsConnected() {
		if err := b.sync(ctx); err != nil {
			nc.Close()
			return err
		}
	} else {
		b.log.Warn("NATS is not reachable yet; remote ids are unavailable until it is", "url", b.cfg.URL)
	}
	b.wg.Add(2)
	go b.beat()
	go b.work()
	return nil
}

// Stop leaves the NATS network: it tells the other hosts, deletes this
// host's ownership keys (within ctx), fails requests still pending on
// other hosts with target_disconnected and closes the connection. Call it
// after the server's Shutdown, so that released ids are deleted too. It is
// idempotent.
func (b *Bridge) Stop(ctx context.Context) error {
	var err error
	b.once.Do(func() {
		close(b.quit)
		b.wg.Wait()
		if b.nc == nil {
			return
		}
		if b.nc.IsConnected() {
			b.nc.PublishMsg(&natsio.Msg{Subject: b.cfg.Prefix + ".hb", Header: natsio.Header{hdrOp: {"bye"}, hdrHost: {b.cfg.HostName}, hdrEpoch: {b.epoch}}})
			err = b.dropAll(ctx)
		}
		b.closeLink()
	})
	return err
}

// abort drops the link as a crash would: no goodbye, no deletes.
func (b *Bridge) abort() {
	b.once.Do(func() {
		close(b.quit)
		b.wg.Wait()
		b.closeLink()
	})
}

func (b *Bridge) closeLink() {
	b.mu.Lock()
	w := b.watcher
	b.watcher = nil
	b.mu.Unlock()
	if w != nil {
		w.Stop()
	}
	b.nc.Close()
	b.failPending(func(*pendingReq) bool { return true }, false)
}

// dropAll deletes every key this host holds.
func (b *Bridge) dropAll(ctx context.Context) error {
	b.mu.Lock()
	kv := b.kv
	list := b.released
	b.released = nil
	for _, c := range b.owned {
		list = append(list, c)
	}
	b.owned = make(map[string]claim)
	b.mu.Unlock()
	if kv == nil {
		return nil
	}
	for _, c := range list {
		if err := kv.Delete(ctx, token(c.id), jetstream.LastRevision(c.rev)); err != nil && ctx.Err() != nil {
			return fmt.Errorf("bridge/nats: deleting ownership keys: %w", err)
		}
	}
	return nil
}

func (b *Bridge) linkUp() {
	b.mu.Lock()
	b.resync = true
	b.mu.Unlock()
	b.wake()
}

func (b *Bridge) linkDown(err error) {
	b.mu.Lock()
	b.up = false
	if err != nil {
		b.lastErr = "NATS link down: " + err.Error()
	} else {
		b.lastErr = "NATS link down"
	}
	b.mu.Unlock()
	b.log.Warn("NATS link down; remote ids unavailable until it returns", "err", err)
	// Answers may never come: fail fast rather than at the timeout.
	b.failPending(func(*pendingReq) bool { return true }, true)
}

func (b *Bridge) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// beat publishes this host's heartbeat every Heartbeat.
func (b *Bridge) beat() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.Heartbeat)
	defer t.Stop()
	msg := &natsio.Msg{Subject: b.cfg.Prefix + ".hb", Header: natsio.Header{hdrHost: {b.cfg.HostName}, hdrEpoch: {b.epoch}}}
	for {
		b.nc.PublishMsg(msg)
		select {
		case <-b.quit:
			return
		case <-t.C:
		}
	}
}

// work runs everything that waits on NATS round trips: resynchronising
// after a (re)connect, deleting released keys, reaping dead hosts and a
// periodic reconciliation of the bucket with the ids bound here.
func (b *Bridge) work() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.Heartbeat)
	defer t.Stop()
	ticks := 0
	for {
		select {
		case <-b.quit:
			return
		case <-b.kick:
		case <-t.C:
			ticks++
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b.mu.Lock()
		due := b.resync && b.nc.IsConnected()
		b.mu.Unlock()
		if due {
			if err := b.sync(ctx); err != nil {
				b.log.Error("Resynchronising with NATS failed; retrying", "err", err)
			}
		}
		b.deleteReleased(ctx)
		b.reap(ctx)
		if ticks >= 10 {
			ticks = 0
			b.reconcile(ctx)
		}
		cancel()
	}
}

// sync opens the bucket, rebuilds the directory from a fresh watch and
// claims the ids bound here. After it the link counts as up.
func (b *Bridge) sync(ctx context.Context) error {
	b.mu.Lock()
	b.resync = false
	old := b.watcher
	b.watcher = nil
	b.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	fail := func(err error) error {
		b.mu.Lock()
		b.resync = true
		b.lastErr = "NATS JetStream unavailable: " + err.Error()
		b.mu.Unlock()
		return fmt.Errorf("bridge/nats: %w", err)
	}
	js, err := jetstream.New(b.nc)
	if err != nil {
		return fail(err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      b.bucket(),
		Description: "statebus machine id ownership: key base64url(id), value epoch+' '+host",
		Storage:     jetstream.MemoryStorage,
		Replicas:    b.cfg.Replicas,
	})
	if err != nil {
		return fail(err)
	}
	w, err := kv.WatchAll(context.Background())
	if err != nil {
		return fail(err)
	}
	dir := make(map[string]owner)
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				goto synced
			}
			if id, o, ok := decodeEntry(e); ok {
				dir[id] = o
			}
		case <-ctx.Done():
			w.Stop()
			return fail(ctx.Err())
		}
	}
synced:
	now := time.Now()
	b.mu.Lock()
	b.kv, b.watcher, b.dir = kv, w, dir
	b.up, b.lastErr = true, ""
	for _, h := range b.hosts {
		h.seen = now // no heartbeats came while we were away
	}
	for _, o := range dir {
		b.noteHostLocked(o.host, now)
	}
	b.mu.Unlock()
	b.wg.Add(1)
	go b.follow(w)
	b.log.Info("NATS link up; directory synchronised", "ids", len(dir))
	b.reconcile(ctx)
	return nil
}

// noteHostLocked records a host first heard of through the directory, so
// that a host that never heartbeats is reaped too. b.mu must be held.
func (b *Bridge) noteHostLocked(host string, now time.Time) {
	if host != b.cfg.HostName && b.hosts[host] == nil {
		b.hosts[host] = &hostState{seen: now}
	}
}

// follow applies the watch's updates to the directory until it stops.
func (b *Bridge) follow(w jetstream.KeyWatcher) {
	defer b.wg.Done()
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		select {
		case e, ok = <-w.Updates():
		case <-b.quit:
			return
		}
		if !ok {
			return
		}
		if e == nil {
			continue
		}
		id, o, valid := decodeEntry(e)
		if id == "" {
			continue
		}
		b.mu.Lock()
		if b.watcher != w {
			b.mu.Unlock()
			return
		}
		if valid {
			b.dir[id] = o
			b.noteHostLocked(o.host, time.Now())
		} else {
			delete(b.dir, id)
		}
		b.mu.Unlock()
	}
}

// decodeEntry returns the id a bucket entry is about and, for a put, its
// owner (ok false for deletes and malformed values).
func decodeEntry(e jetstream.KeyValueEntry) (id string, o owner, ok bool) {
	raw, err := decodeKey(e.Key())
	if err != nil {
		return "", owner{}, false
	}
	if e.Operation() != jetstream.KeyValuePut {
		return raw, owner{}, false
	}
	epoch, host, found := cutValue(e.Value())
	if !found {
		return raw, owner{}, false
	}
	return raw, owner{host: host, epoch: epoch, rev: e.Revision()}, true
}

var errBadKey = errors.New("bridge/nats: malformed key")

func decodeKey(k string) (string, error) {
	raw, err := base64Decode(k)
	if err != nil || len(raw) == 0 {
		return "", errBadKey
	}
	return string(raw), nil
}
