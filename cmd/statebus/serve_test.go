package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	if os.Getenv("STATEBUS_CHAOS_ROLE") == "client" {
		os.Exit(chaosClient())
	}
	dir, err := os.MkdirTemp("", "sbbin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "statebus")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building statebus: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sbc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// proc is a running "statebus serve".
type proc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr *safeBuffer
	done   chan error
}

func startServe(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdout: bufio.NewReader(out), stderr: new(safeBuffer), done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		p.done <- nil
	})
	return p
}

// listening waits for the "listening" line and returns it.
func (p *proc) listening(t *testing.T) string {
	t.Helper()
	lines := make(chan string, 1)
	go func() {
		s, _ := p.stdout.ReadString('\n')
		lines <- s
	}()
	select {
	case s := <-lines:
		if !strings.Contains(s, "listening") {
			t.Fatalf("first stdout line %q; stderr:\n%s", s, p.stderr)
		}
		return s
	case <-time.After(20 * time.Second):
		t.Fatalf("no listening line; stderr:\n%s", p.stderr)
	}
	return ""
}

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		t.Fatal("statebus did not exit")
	}
	return -1
}

func ping(t *testing.T, path string) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "{\"Type\":\"Ping\"}\n")
	s, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	return s
}

func TestServeSocketAndSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			path := filepath.Join(shortDir(t), "bus.sock")
			p := startServe(t, nil, "--socket", path)
			if line := p.listening(t); !strings.Contains(line, path) {
				t.Fatalf("listening line %q lacks the path", line)
			}
			if s := ping(t, path); !strings.Contains(s, `"Pong":true`) {
				t.Fatalf("ping: %s", s)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm()&0o002 != 0 {
				t.Fatalf("socket mode: %v %v", fi.Mode(), err)
			}
			p.cmd.Process.Signal(sig)
			if code := p.wait(t); code != 0 {
				t.Fatalf("exit code %d; stderr:\n%s", code, p.stderr)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("socket left behind: %v", err)
			}
			rest, _ := io.ReadAll(p.stdout)
			if strings.Contains(string(rest), "listening") {
				t.Fatalf("more than one listening line: %q", rest)
			}
		})
	}
}

func TestServePipeNameMapsLikeDotNet(t *testing.T) {
	tmp := shortDir(t)
	p := startServe(t, []string{"TMPDIR=" + tmp}, "--pipe", "Test.Bus")
	want := filepath.Join(tmp, "CoreFxPipe_Test.Bus")
	if line := p.listening(t); !strings.Contains(line, want) {
		t.Fatalf("listening line %q, want path %s", line, want)
	}
	ping(t, want)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
}

func TestServeSecondBusLeavesFirstAlone(t *testing.T) {
	path := filepath.Join(shortDir(t), "bus.sock")
	first := startServe(t, nil, "--socket", path)
	first.listening(t)
	second := startServe(t, nil, "--socket", path)
	if code := second.wait(t); code == 0 {
		t.Fatal("second bus exited 0")
	}
	if !strings.Contains(second.stderr.String(), "already listening") {
		t.Fatalf("unclear message: %s", second.stderr)
	}
	ping(t, path)

	// Killed without clean-up, the first leaves a stale socket file; the
	// next bus replaces it.
	first.cmd.Process.Kill()
	first.wait(t)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no stale socket left to test with: %v", err)
	}
	third := startServe(t, nil, "--socket", path)
	third.listening(t)
	ping(t, path)
}

func TestServeConfigFile(t *testing.T) {
	dir := shortDir(t)
	cfg := filepath.Join(dir, "appsettings.json")
	os.WriteFile(cfg, []byte(`{
  // comments are allowed, as in .NET
  "Logging": { "LogLevel": { "Default": "Warning" } },
  "MessageBus": { "PipeName": "Cfg.Bus", "MaxConnections": "1", "SocketMode": "0660", },
}`), 0o600)
	p := startServe(t, []string{"TMPDIR=" + dir}, "--config", cfg)
	path := filepath.Join(dir, "CoreFxPipe_Cfg.Bus")
	p.listening(t)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket %s mode %v %v", path, fi.Mode(), err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := ping(t, path) // a second connection: over MaxConnections=1
	if !strings.Contains(s, "too_many_connections") {
		t.Fatalf("second connection got %s", s)
	}
}

func TestServeBadConfig(t *testing.T) {
	dir := shortDir(t)
	for name, body := range map[string]string{
		"syntax": `{"MessageBus": {`,
		"value":  `{"MessageBus": {"MaxConnections": "lots"}}`,
		"range":  `{"MessageBus": {"MaxConnections": 0}}`,
		"mode":   `{"MessageBus": {"SocketMode": "0666"}}`,
	} {
		cfg := filepath.Join(dir, name+".json")
		os.WriteFile(cfg, []byte(body), 0o600)
		p := startServe(t, nil, "--config", cfg, "--socket", filepath.Join(dir, name+".sock"))
		if code := p.wait(t); code == 0 {
			t.Errorf("%s: exit 0", name)
		}
		if !strings.Contains(p.stderr.String(), "MessageBus") && !strings.Contains(p.stderr.String(), "JSON") {
			t.Errorf("%s: unclear error: %s", name, p.stderr)
		}
	}
	p := startServe(t, nil, "--config", filepath.Join(dir, "missing.json"))
	if code := p.wait(t); code == 0 {
		t.Error("missing config: exit 0")
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "serve") {
		t.Errorf("help: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"serve", "--help"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "--socket") {
		t.Errorf("serve --help: %d %q", code, errOut.String())
	}
	if code := run([]string{"serve", "--bogus"}, &out, &errOut); code != 2 {
		t.Errorf("serve --bogus: %d", code)
	}
}
