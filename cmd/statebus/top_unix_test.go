//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTopMonitorRefused runs top as another user, whom the bus lets
// connect (the socket's group) but not monitor: the bus's figures and
// machines still show, and the header says why the rates are missing.
func TestTopMonitorRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to run top as another user")
	}
	const nobody = 65534 // nobody, and nogroup, on Debian
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test binary's directory is private; give the other user a copy.
	exe := filepath.Join(dir, "statebus")
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bus.sock")
	p := startServe(t, []string{"MessageBus__SocketGroup=" + strconv.Itoa(nobody)}, "--socket", path, "--socket-mode", "0660")
	p.listening(t)
	busTraffic(t, path, []string{"alpha"}, map[string]time.Duration{"alpha": 20 * time.Millisecond})

	cmd := exec.Command(exe, "top", "--once", "--socket", path, "--interval", "200ms")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.Output()
	t.Logf("top --once as uid %d:\n%s", nobody, out)
	if err != nil {
		t.Fatalf("top as another user: %v", err)
	}
	text := string(out)
	if !strings.Contains(text, "per-machine rates need monitor access (") {
		t.Errorf("the header does not say that monitoring was refused")
	}
	if m := regexp.MustCompile(`events/s ([0-9.]+)`).FindStringSubmatch(text); m == nil || m[1] == "0.0" {
		t.Errorf("no bus event rate without monitor access: %v", m)
	}
	rows := tableRows(text)
	if len(rows) != 2 || rows[0]["MACHINE"] != "alpha" || rows[0]["IN/s"] != "-" {
		t.Errorf("want alpha with IN/s -, then ui-main: %v", rows)
	}
}
