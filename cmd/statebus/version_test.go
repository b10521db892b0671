package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	type info struct {
		Version, Commit, Date, GoVersion string
		Modified                         bool
	}
	out, errOut, code := runCLI(t, "version", "--json")
	var v info
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version != "(devel)" || v.GoVersion != runtime.Version() {
		t.Fatalf("version --json: %d %q %q", code, out, errOut)
	}
	text, _, code := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(text, "statebus (devel) (") || !strings.HasSuffix(text, runtime.Version()+")\n") {
		t.Fatalf("version: %d %q", code, text)
	}
	if again, _, code := runCLI(t, "--version"); code != 0 || again != text {
		t.Fatalf("--version: %d %q, want %q", code, again, text)
	}
	if _, _, code := runCLI(t, "version", "extra"); code != 2 {
		t.Fatalf("version extra: exit %d", code)
	}

	// A release build sets the version with the linker, as the README says.
	bin := filepath.Join(shortDir(t), "statebus")
	pkg := "github.com/statebus/statebus/internal/version"
	build := exec.Command("go", "build", "-o", bin, "-ldflags",
		"-X "+pkg+".Version=v9.8.7 -X "+pkg+".Commit=0123456789abcdef -X "+pkg+".Date=2027-01-02T03:04:05Z", ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags: %v\n%s", err, b)
	}
	b, err := exec.Command(bin, "version", "--json").Output()
	if err != nil || json.Unmarshal(b, &v) != nil {
		t.Fatalf("version --json of the release build: %v %q", err, b)
	}
	if want := (info{Version: "v9.8.7", Commit: "0123456789abcdef", Date: "2027-01-02T03:04:05Z", GoVersion: runtime.Version()}); v != want {
		t.Fatalf("release build: %+v, want %+v", v, want)
	}
	if b, _ := exec.Command(bin, "version").Output(); string(b) != "statebus v9.8.7 (commit 0123456789ab, 2027-01-02T03:04:05Z, "+runtime.Version()+")\n" {
		t.Fatalf("release build's version: %q", b)
	}
}

// serve says what it listens on and which version it is, and reports the
// version in Health and /metrics.
func TestServeReportsItself(t *testing.T) {
	path := filepath.Join(shortDir(t), "bus.sock")
	p := startServe(t, nil, "--socket", path, "--http", "127.0.0.1:0")
	p.listening(t)
	m := waitStderr(t, p, regexp.MustCompile(`url=http://(127\.0\.0\.1:\d+)`))
	logs := p.stderr.String()
	if !strings.Contains(logs, `msg="Starting Message Bus on Unix socket" category=Statebus.Service path=`+path) || strings.Contains(logs, "XStateNet.MessageBus") {
		t.Errorf("serve --socket logged:\n%s", logs)
	}
	if !regexp.MustCompile(`msg="XStateNet InterProcess Message Bus Service \(statebus\)" .*version=\(devel\) .*go=` + runtime.Version()).MatchString(logs) {
		t.Errorf("serve did not log its version:\n%s", logs)
	}

	out, _, code := runCLI(t, "health", "--socket", path, "--json")
	var h struct{ Health struct{ Version string } }
	if code != 0 || json.Unmarshal([]byte(out), &h) != nil || h.Health.Version != "(devel)" {
		t.Errorf("health --json: %d %s", code, out)
	}
	if out, _, _ := runCLI(t, "health", "--socket", path); !regexp.MustCompile(`(?m)^version +\(devel\)$`).MatchString(out) {
		t.Errorf("health:\n%s", out)
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	re := regexp.MustCompile(`(?m)^statebus_build_info\{commit="[^"]*",goversion="` + regexp.QuoteMeta(runtime.Version()) + `",version="\(devel\)"\} 1$`)
	if !re.Match(body) {
		t.Errorf("/metrics lacks statebus_build_info:\n%s", body)
	}
}
