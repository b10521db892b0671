package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process whose stdout is read line by line.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // stdout lines; closed at EOF
	errMu sync.Mutex
	errb  bytes.Buffer // the tail of stderr
	done  chan struct{}
	cpu   float64 // user+system seconds, once done
}

// stderrTail keeps the last 8 KiB written to it.
type stderrTail struct{ p *proc }

func (t stderrTail) Write(b []byte) (int, error) {
	t.p.errMu.Lock()
	defer t.p.errMu.Unlock()
	t.p.errb.Write(b)
	if t.p.errb.Len() > 8<<10 {
		rest := append([]byte(nil), t.p.errb.Bytes()[t.p.errb.Len()-4<<10:]...)
		t.p.errb.Reset()
		t.p.errb.Write(rest)
	}
	return len(b), nil
}

func (p *proc) stderr() string {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return strings.TrimSpace(p.errb.String())
}

func startProc(name string, env []string, path string, args ...string) (*proc, error) {
	p := &proc{name: name, lines: make(chan string, 16), done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = stderrTail{p}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		_ = p.cmd.Wait()
		if st := p.cmd.ProcessState; st != nil {
			p.cpu = (st.UserTime() + st.SystemTime()).Seconds()
		}
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

var errProcExited = errors.New("bench: process exited")

// expect waits for a stdout line starting with one of prefixes and
// returns it; other lines are skipped.
func (p *proc) expect(timeout time.Duration, prefixes ...string) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.done
				return "", fmt.Errorf("%w: %s: %s", errProcExited, p.name, p.stderr())
			}
			if strings.HasPrefix(line, "result ") && !slices.Contains(prefixes, "result ") {
				return "", fmt.Errorf("bench: %s gave up: %s", p.name, strings.TrimPrefix(line, "result "))
			}
			for _, pre := range prefixes {
				if strings.HasPrefix(line, pre) {
					return line, nil
				}
			}
		case <-t.C:
			return "", fmt.Errorf("bench: %s: no %q within %v: %s", p.name, prefixes, timeout, p.stderr())
		}
	}
}

func (p *proc) signalGo() error {
	_, err := io.WriteString(p.stdin, "go\n")
	return err
}

// stop closes stdin, then sends SIGTERM, then SIGKILL, waiting a little
// after each.
func (p *proc) stop() {
	_ = p.stdin.Close()
	select {
	case <-p.done:
		return
	case <-time.After(2 * time.Second):
	}
	p.terminate()
}

// terminate sends SIGTERM, then SIGKILL if it is still there after 5s.
func (p *proc) terminate() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// wait waits for the process to exit.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("bench: %s did not exit within %v", p.name, timeout)
	}
}
