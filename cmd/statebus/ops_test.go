package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestServiceInstallDryRun(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the unit is Linux's")
	}
	cfg := filepath.Join(shortDir(t), "appsettings.json")
	if err := os.WriteFile(cfg, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "service", "install", "--dry-run", "--name", "TestBus", "--config", cfg, "--user", "bus", "--group", "bususers", "--startup", "manual")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Type=notify", "Restart=on-failure", "RuntimeDirectory=TestBus", "User=bus", "Group=bususers",
		binary + " serve --socket /run/TestBus/CoreFxPipe_XStateNet.MessageBus --config " + cfg + " --socket-mode 0660",
		"WantedBy=multi-user.target"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if _, _, code := runCLI(t, "service", "install", "--dry-run", "--startup", "sometimes"); code != 2 {
		t.Errorf("bad --startup: exit %d", code)
	}
	if _, _, code := runCLI(t, "service", "frobnicate"); code != 2 {
		t.Errorf("unknown action: exit %d", code)
	}
	if _, _, code := runCLI(t, "service", "status", "--name", "NoSuchStatebusService"); code != 1 {
		t.Errorf("status of a missing service: exit %d", code)
	}
}

// service install refuses what would leave a unit that cannot start: the
// temporary binary of "go run", a configuration file that is not there.
func TestServiceInstallRefusesTemporaryBinaryAndMissingConfig(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the unit is Linux's")
	}
	dir := shortDir(t)
	// Where "go run ./cmd/statebus" puts the binary it runs.
	goRun := filepath.Join(dir, "go-build123456", "b001", "exe", "statebus")
	cached := filepath.Join(dir, "cache", "ab", "statebus")
	for _, p := range []string{goRun, cached} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(binary, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		bin string
		env []string
	}{{goRun, nil}, {cached, []string{"GOCACHE=" + filepath.Join(dir, "cache")}}} {
		cmd := exec.Command(c.bin, "service", "install", "--dry-run")
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), c.bin+", a temporary build") ||
			!strings.Contains(string(out), "go build -o") || !strings.Contains(string(out), "go install ./cmd/statebus") ||
			strings.Contains(string(out), "ExecStart") {
			t.Errorf("%s service install --dry-run: %v\n%s", c.bin, err, out)
		}
	}
	// --executable names a real binary to install.
	out, err := exec.Command(goRun, "service", "install", "--dry-run", "--executable", binary).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ExecStart="+binary+" serve") {
		t.Errorf("--executable: %v\n%s", err, out)
	}
	missing := filepath.Join(dir, "appsettings.json")
	text, errOut, code := runCLI(t, "service", "install", "--dry-run", "--config", missing)
	if code != 2 || text != "" || !strings.Contains(errOut, "--config "+missing+" does not exist") {
		t.Errorf("missing --config: %d %q %q", code, text, errOut)
	}
	if _, errOut, code := runCLI(t, "service", "install", "--dry-run", "--executable", filepath.Join(dir, "nothing")); code != 2 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("missing --executable: %d %q", code, errOut)
	}
}

// waitStderr waits until the process's stderr matches re.
func waitStderr(t *testing.T, p *proc, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("stderr never matched %s:\n%s", re, p.stderr.String())
	return nil
}

func TestServeHotReload(t *testing.T) {
	dir := shortDir(t)
	cfg := filepath.Join(dir, "appsettings.json")
	os.WriteFile(cfg, []byte(`{"MessageBus":{"MaxConnections":1}}`), 0o600)
	path := filepath.Join(dir, "bus.sock")
	p := startServe(t, nil, "--socket", path, "--config", cfg)
	p.listening(t)
	hold, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	if s := ping(t, path); !strings.Contains(s, "too_many_connections") {
		t.Fatalf("before reload: %s", s)
	}
	// An editor's save: write a temporary file, rename it over the config.
	tmp := filepath.Join(dir, "appsettings.json.tmp")
	os.WriteFile(tmp, []byte(`{"MessageBus":{"MaxConnections":5,"PipeName":"Other"},"Logging":{"LogLevel":{"Default":"Debug"}}}`), 0o600)
	os.Rename(tmp, cfg)
	waitStderr(t, p, regexp.MustCompile(`Configuration reloaded`))
	if s := ping(t, path); !strings.Contains(s, `"Pong":true`) {
		t.Fatalf("after reload: %s", s)
	}
	if !regexp.MustCompile(`changed; it takes effect after a restart"? .*key=MessageBus.PipeName`).MatchString(p.stderr.String()) {
		t.Errorf("no restart warning:\n%s", p.stderr.String())
	}
	// A broken edit keeps the old settings and says why.
	os.WriteFile(cfg, []byte(`{"MessageBus":{"MaxConnections":`), 0o600)
	waitStderr(t, p, regexp.MustCompile(`reload failed; keeping the previous settings`))
	if s := ping(t, path); !strings.Contains(s, `"Pong":true`) {
		t.Fatalf("after a broken edit: %s", s)
	}
}

func TestServeHTTPEndpoints(t *testing.T) {
	path := filepath.Join(shortDir(t), "bus.sock")
	p := startServe(t, nil, "--socket", path, "--http", "127.0.0.1:0")
	p.listening(t)
	m := waitStderr(t, p, regexp.MustCompile(`url=http://(127\.0\.0\.1:\d+)`))
	for url, want := range map[string]string{"/healthz": `"IsHealthy":true`, "/metrics": "statebus_connections 0", "/": "statebus <span class=\"dim\">inspector"} {
		resp, err := http.Get("http://" + m[1] + url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %s", url, resp.StatusCode, body)
		}
	}
	refused := startServe(t, nil, "--socket", filepath.Join(shortDir(t), "b.sock"), "--http", "0.0.0.0:0")
	if code := refused.wait(t); code == 0 || !strings.Contains(refused.stderr.String(), "not a loopback address") {
		t.Fatalf("non-loopback --http: %d %s", code, refused.stderr.String())
	}
}

func TestServeEnvironmentLayers(t *testing.T) {
	dir := shortDir(t)
	cfg := filepath.Join(dir, "appsettings.json")
	os.WriteFile(cfg, []byte(`{"MessageBus":{"PipeName":"Base.Bus"}}`), 0o600)
	os.WriteFile(filepath.Join(dir, "appsettings.Production.json"), []byte(`{"MessageBus":{"PipeName":"Prod.Bus"}}`), 0o600)
	p := startServe(t, []string{"TMPDIR=" + dir, "DOTNET_ENVIRONMENT=Production", "MessageBus__MaxConnections=1"}, "--config", cfg)
	line := p.listening(t)
	if !strings.Contains(line, "CoreFxPipe_Prod.Bus") {
		t.Fatalf("listening line %q", line)
	}
	path := filepath.Join(dir, "CoreFxPipe_Prod.Bus")
	hold, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close() // holds the one connection MaxConnections allows
	if s := ping(t, path); !strings.Contains(s, "too_many_connections") {
		t.Fatalf("MessageBus__MaxConnections not applied: %s", s)
	}
}

func TestServeTokenAndPeerIdentity(t *testing.T) {
	dir := shortDir(t)
	cfg := filepath.Join(dir, "appsettings.json")
	os.WriteFile(filepath.Join(dir, "token"), []byte("hunter2\n"), 0o600)
	os.WriteFile(cfg, []byte(`{"MessageBus":{"TokenFile":"`+filepath.Join(dir, "token")+`"}}`), 0o600)
	path := filepath.Join(dir, "bus.sock")
	p := startServe(t, nil, "--socket", path, "--config", cfg)
	p.listening(t)
	if _, errOut, code := runCLI(t, "machines", "--socket", path); code != 1 || !strings.Contains(errOut, "Unauthorized") {
		t.Fatalf("without token: %d %s", code, errOut)
	}
	startListen(t, path, "--token", "hunter2", "svc-1")
	out, errOut, code := runCLI(t, "machines", "--socket", path, "--token", "hunter2")
	if code != 0 || !strings.Contains(out, "PEER PID") || !strings.Contains(out, "svc-1") {
		t.Fatalf("with token: %d %s %s", code, out, errOut)
	}
	if strings.Contains(p.stderr.String(), "hunter2") {
		t.Fatal("the token was logged")
	}
}

func TestBenchSoakShort(t *testing.T) {
	out := shortDir(t)
	stdout, stderr, code := runCLI(t, "bench", "soak", "--duration", "3s", "--interval", "500ms", "--pairs", "2", "--rate", "500", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"soak.csv", "soak.svg"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if !strings.Contains(stdout, "rss") || !strings.Contains(stdout, "wrote ") {
		t.Fatalf("output:\n%s", stdout)
	}
}
