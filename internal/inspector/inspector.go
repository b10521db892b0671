// Package inspector is the bus's web inspector: a page at / that shows the
// bus live (machines and their states, traffic as a list and as a sequence
// diagram, statecharts drawn from their definitions, health and counters as
// small graphs), and the JSON and server-sent-event endpoints under /api/
// that feed it. The page is static HTML, CSS and JavaScript embedded in the
// binary: nothing is built, nothing is fetched from elsewhere.
//
// The inspector sees every payload, as a monitor does (docs/protocol.md
// §4.12); see docs/security.md for who can reach it.
//
// Endpoints (all GET):
//
//	/                      the page (and its assets under /static/)
//	/api/snapshot          health, counters and machines with their states (JSON)
//	/api/machines/{id}     one machine's state and chart definition (JSON)
//	/api/events            server-sent events: "trace" per bus action, "snapshot" each second
//
// A slow or stalled browser never slows the bus: each event stream reads
// from its own Tap, whose bounded buffer drops traces (and says so with a
// "dropped" trace) rather than making routing wait; a stream whose writes
// stall for WriteTimeout is ended.
package inspector

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/protocol"
)

//go:embed static
var staticFiles embed.FS

// Tap is a live feed of the bus's traces (a *server.Tap).
type Tap interface {
	// C delivers the traces; a "dropped" trace says how many were missed.
	C() <-chan protocol.Trace
	// Close ends the feed.
	Close()
}

// Bus is what the inspector shows. ForServer adapts a *server.Server; tests
// may supply their own.
type Bus interface {
	Snapshot() metrics.Snapshot
	Metrics() protocol.MetricsData
	Health() metrics.Health
	Machines() []protocol.MachineData
	MachineState(id string) (st *protocol.State, def json.RawMessage, bound bool)
	Tap(f protocol.TraceFilter, buffer int) Tap
}

// Options configure the inspector. The zero value serves without a token,
// to loopback Host names only.
type Options struct {
	// Token, if set, returns the bus's shared token (it may change on a
	// reload); when it returns a non-empty string, / and /api/* require it
	// (docs/security.md). Called on every request.
	Token func() string
	// AllowRemote accepts requests whatever their Host header, and then
	// only with a token: without a token every request is refused (403).
	// Without AllowRemote only "localhost" and loopback addresses are
	// accepted as Host, so that a web page elsewhere cannot reach the
	// inspector by DNS rebinding.
	AllowRemote bool
	// Buffer is how many traces each event stream's Tap holds before it
	// drops; default 4096.
	Buffer int
	// SnapshotInterval is the period of an event stream's "snapshot"
	// events; default one second.
	SnapshotInterval time.Duration
	// WriteTimeout ends an event stream whose writes stall this long;
	// default 10 seconds.
	WriteTimeout time.Duration
	// Logger receives the inspector's few log lines; default discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Token == nil {
		o.Token = func() string { return "" }
	}
	if o.Buffer <= 0 {
		o.Buffer = 4096
	}
	if o.SnapshotInterval <= 0 {
		o.SnapshotInterval = time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// TokenCookie is the cookie that carries the token after a ?token= visit.
const TokenCookie = "statebus_token"

// Inspector serves the page and its APIs. Its methods are safe for
// concurrent use.
type Inspector struct {
	http.Handler
	h *handler
}

// New returns the inspector of bus: an http.Handler for /, /static/ and
// /api/. Each event stream holds a Tap until its client goes away or Close
// is called.
func New(bus Bus, o Options) *Inspector {
	o = o.withDefaults()
	h := &handler{bus: bus, o: o, done: make(chan struct{})}
	return &Inspector{Handler: h.routes(), h: h}
}

// Close ends every event stream, now and later (an http.Server's Shutdown
// does not wait for them: register Close with RegisterOnShutdown). The
// other endpoints keep working. Close may be called more than once.
func (i *Inspector) Close() { i.h.closeOnce.Do(func() { close(i.h.done) }) }

func (h *handler) routes() http.Handler {
	static, _ := fs.Sub(staticFiles, "static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.page)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /api/snapshot", h.snapshot)
	mux.HandleFunc("GET /api/machines/{id}", h.machine)
	mux.HandleFunc("GET /api/events", h.events)
	return h.guard(mux)
}

type handler struct {
	bus       Bus
	o         Options
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// securityHeaders keep the page to its own assets and out of frames.
func securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
}

// guard checks the Host header and the token before anything is served.
func (h *handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		if !h.o.AllowRemote && !loopbackHost(r.Host) {
			http.Error(w, "inspector: the Host header must name a loopback address (localhost, 127.0.0.1, [::1])", http.StatusMisdirectedRequest)
			return
		}
		token := h.o.Token()
		if token == "" && h.o.AllowRemote {
			http.Error(w, "inspector: served beyond loopback (--http-allow-remote), the inspector needs the bus to have a token (MessageBus.Token or TokenFile)", http.StatusForbidden)
			return
		}
		if token == "" {
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" && equal(q, token) {
			http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			if r.URL.Path == "/" {
				// Take the token out of the address bar and history.
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if presented(r) != "" && equal(presented(r), token) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="statebus"`)
		http.Error(w, "inspector: this bus has a token; open /?token=TOKEN once, or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
	})
}

// presented returns the token of an Authorization header or the cookie.
func presented(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if t, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	if c, err := r.Cookie(TokenCookie); err == nil {
		return c.Value
	}
	return ""
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	data, err := staticFiles.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(data)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
