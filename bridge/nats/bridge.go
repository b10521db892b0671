// Package nats links the statebus buses of several hosts through NATS, so
// that machine ids are global: a SendEvent, Request or Publish whose target
// is not bound on this host goes to the host that owns the id. It
// implements server.Bridge. See docs/scale-out.md.
//
// Ownership: the first host to create the id's key in the JetStream
// key-value bucket <Prefix>_ids owns it. Creation is a compare-and-set on
// the key's last revision, which JetStream orders through one stream (and
// Raft in a cluster), so of two simultaneous claims exactly one wins and
// the other gets id_taken. The owner deletes the key when the id is
// released; any surviving host deletes the keys of a host that missed its
// heartbeats for DeadAfter. Every delete names the revision it saw, so a
// fresh claim is never removed by mistake.
//
// Liveness: every host publishes a heartbeat every Heartbeat. A host not
// heard from for DeadAfter is dead: its machines leave Machines at once
// (at most DeadAfter + Heartbeat after it died), requests pending on it
// fail with target_disconnected, and its keys are deleted.
//
// Link down: local traffic is untouched; Send and Request to ids not bound
// here fail at once with bridge_down (protocol.CodeBridgeDown);
// Publish reaches local machines only; ids bound meanwhile are claimed
// when the link returns.
package nats

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	natsio "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/statebus/statebus/internal/server"
)

// Errors from New and Start.
var (
	// ErrConfig: the Config is invalid; the wrapped text says which field.
	ErrConfig = errors.New("bridge/nats: invalid config")
	// ErrStopped: Start was called after Stop.
	ErrStopped = errors.New("bridge/nats: stopped")
)

// Config configures a Bridge. Zero fields take the defaults given.
type Config struct {
	URL      string // NATS server URL(s), comma-separated; required
	HostName string // this host's name, unique among hosts; required

	CredsFile string // NATS .creds file (JWT + seed); "" for none
	NKeyFile  string // NKey seed file; "" for none
	User      string // user name with Password; "" for none
	Password  string
	Token     string // NATS auth token; "" for none
	TLSCA     string // PEM CA file to verify the server; "" for the system roots
	TLSCert   string // PEM client certificate (with TLSKey); "" for none
	TLSKey    string

	Prefix    string        // subject prefix and bucket name prefix: "statebus"
	Replicas  int           // replicas of the ownership bucket: 1 (use 3 on a 3-node cluster)
	Heartbeat time.Duration // heartbeat period: 1s
	DeadAfter time.Duration // a host silent this long is dead: 3 × Heartbeat
	// ReconnectWait is the pause between reconnect attempts: 1s.
	ReconnectWait time.Duration
	Logger        *slog.Logger // default slog.Default()
}

func (c *Config) defaults() error {
	if c.URL == "" {
		return fmt.Errorf("%w: Nats.Url is required", ErrConfig)
	}
	if c.HostName == "" || len(c.HostName) > 200 || strings.ContainsFunc(c.HostName, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%w: HostName %q must be 1 to 200 bytes without control characters", ErrConfig, c.HostName)
	}
	if (c.User == "") != (c.Password == "") {
		return fmt.Errorf("%w: set Nats.User and Nats.Password together", ErrConfig)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("%w: set Nats.TlsCert and Nats.TlsKey together", ErrConfig)
	}
	if c.Prefix == "" {
		c.Prefix = "statebus"
	}
	if strings.ContainsAny(c.Prefix, ". *>\t\r\n") {
		return fmt.Errorf("%w: Nats.Prefix %q must be one subject token", ErrConfig, c.Prefix)
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = time.Second
	}
	if c.DeadAfter <= 0 {
		c.DeadAfter = 3 * c.Heartbeat
	}
	if c.DeadAfter < 2*c.Heartbeat {
		return fmt.Errorf("%w: DeadAfter %v must be at least two heartbeats (%v)", ErrConfig, c.DeadAfter, 2*c.Heartbeat)
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Bridge is a server.Bridge over NATS. Its methods are safe for concurrent
// use. Create it with New, attach it with Server.SetBridge, then Start it
// before Serve; Stop it after the server's Shutdown.
type Bridge struct {
	cfg   Config
	srv   *server.Server
	log   *slog.Logger
	epoch string // this process's incarnation, in heartbeats and keys
	self  string // subject of this host's inbound traffic
	inbox string // prefix of subjects answers to our requests come to

	nc   *natsio.Conn
	kick chan struct{} // wakes the worker: resync or releases due
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu        sync.Mutex
	kv        jetstream.KeyValue // nil until the bucket is open
	watcher   jetstream.KeyWatcher
	up        bool                    // NATS connected and directory in sync
	resync    bool                    // a resync is due
	lastErr   string                  // why the link is down
	dupHost   string                  // another process heartbeats with our HostName
	dir       map[string]owner        // id -> owner, as the bucket says
	hosts     map[string]*hostState   // other hosts by name
	owned     map[string]claim        // ids this host holds in the bucket
	released  []claim                 // keys to delete
	conflicts map[string]string       // local ids another host owns -> that host
	pending   map[uint64]*pendingReq  // this host's requests to other hosts
	nextReq   uint64                  // numbers them
	inflight  map[string]*inflightReq // other hosts' requests pending here, by reply subject
}

type owner struct {
	host, epoch string
	rev         uint64
}

type claim struct {
	id  string
	rev uint64
	at  time.Time
}

type hostState struct {
	seen  time.Time // last heartbeat, or when first heard of
	epoch string
	dead  bool // missed its heartbeats; its keys are being deleted
}

type pendingReq struct {
	host, target string
	done         func(server.RemoteReply)
	timer        *time.Timer // gives up answerGrace after the timeout
	stop         func() bool // stops watching the requester's life
}

// inflightReq is another host's request, pending on this bus as id.
type inflightReq struct {
	id   uint64
	over bool // it ended here (answer, timeout, target gone); under b.mu
}

// New returns a Bridge for srv. It validates cfg but does not connect.
func New(srv *server.Server, cfg Config) (*Bridge, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	var e [8]byte
	rand.Read(e[:])
	b := &Bridge{
		cfg:       cfg,
		srv:       srv,
		log:       cfg.Logger.With("bridge", "nats", "host", cfg.HostName),
		epoch:     hex.EncodeToString(e[:]),
		kick:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		dir:       make(map[string]owner),
		hosts:     make(map[string]*hostState),
		owned:     make(map[string]claim),
		conflicts: make(map[string]string),
		pending:   make(map[uint64]*pendingReq),
		inflight:  make(map[string]*inflightReq),
	}
	b.self = b.hostSubject(cfg.HostName)
	b.inbox = cfg.Prefix + ".reply." + token(cfg.HostName) + "." + b.epoch + "."
	return b, nil
}

// token encodes s as one subject token or KV key (base64url has no '.').
func token(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func (b *Bridge) hostSubject(host string) string {
	return b.cfg.Prefix + ".host." + token(host)
}

func (b *Bridge) bucket() string { return b.cfg.Prefix + "_ids" }

// HostName returns this host's name.
func (b *Bridge) HostName() string { return b.cfg.HostName }

// Status reports the link's state. It implements server.Bridge.
func (b *Bridge) Status() server.BridgeStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := server.BridgeStatus{Connected: b.up, Hosts: b.liveHostsLocked()}
	switch {
	case !b.up:
		st.Error = b.lastErr
		if st.Error == "" {
			st.Error = "connecting to NATS"
		}
	case b.dupHost != "":
		st.Error = b.dupHost
	case len(b.conflicts) > 0:
		ids := make([]string, 0, len(b.conflicts))
		for id := range b.conflicts {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		st.Error = fmt.Sprintf("%d local id(s) also owned by another host (first: %s on %s)", len(ids), ids[0], b.conflicts[ids[0]])
	}
	return st
}

// liveHostsLocked counts other hosts heard from within DeadAfter. b.mu
// must be held.
func (b *Bridge) liveHostsLocked() int {
	n := 0
	now := time.Now()
	for _, h := range b.hosts {
		if !h.dead && now.Sub(h.seen) < b.cfg.DeadAfter {
			n++
		}
	}
	return n
}

// aliveLocked reports whether host may own machines: a host never heard
// of counts as alive until proven otherwise. b.mu must be held.
func (b *Bridge) aliveLocked(host string) bool {
	h := b.hosts[host]
	return h == nil || !h.dead && time.Since(h.seen) < b.cfg.DeadAfter
}

// Machines lists the machines of other live hosts, by id. It implements
// server.Bridge.
func (b *Bridge) Machines() []server.RemoteMachine {
	b.mu.Lock()
	out := make([]server.RemoteMachine, 0, len(b.dir))
	for id, o := range b.dir {
		if o.host != b.cfg.HostName && b.hosts[o.host] != nil && b.aliveLocked(o.host) {
			out = append(out, server.RemoteMachine{ID: id, Host: o.host})
		}
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
