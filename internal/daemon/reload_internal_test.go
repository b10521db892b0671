package daemon

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/config"
	"github.com/statebus/statebus/internal/metrics"
)

// A reload applies the configuration the watcher loaded, with the flags
// on top; it does not read the files a second time (which could also
// see a later edit than the one it reports).
func TestReloadAppliesTheWatchersConfiguration(t *testing.T) {
	dir, err := os.MkdirTemp("", "sbr")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "appsettings.json")
	if err := os.WriteFile(file, []byte(`{"MessageBus":{"MaxConnections":2}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "bus.sock")
	d, err := Start(context.Background(), Options{
		Sources:  config.Sources{File: file, Environ: []string{}},
		Override: func(c *config.Config) error { c.SocketPath = socket; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	loaded := d.cfg
	loaded.MaxConnections = 4 // what the watcher read; the file on disk still says 2
	mon := metrics.NewMonitor(slog.New(slog.DiscardHandler), monitorConfig(loaded), d.srv.Health)
	now := d.applyReload(config.Reload{Config: loaded}, d.cfg, mon)
	if now.MaxConnections != 4 || now.SocketPath != socket {
		t.Fatalf("in effect: MaxConnections %d, SocketPath %q; want 4 and the flag's socket", now.MaxConnections, now.SocketPath)
	}
	// The server enforces it: a third and a fourth connection are served.
	for i := range 4 {
		nc, err := net.Dial("unix", socket)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write([]byte(`{"Type":"Ping"}` + "\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		n, err := nc.Read(buf)
		if err != nil || !contains(buf[:n], `"Pong":true`) {
			t.Fatalf("connection %d: %q, %v", i+1, buf[:n], err)
		}
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
