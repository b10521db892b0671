package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const recording = `{"Format":"statebus-trace","Version":1,"Filter":{},"RecordedAt":"2025-10-04T02:24:27Z","Bus":"/tmp/bus.sock"}
{"Seq":1,"Time":"2025-10-04T02:24:28.5551234Z","Type":"event","Outcome":"delivered","Source":"ui-main","Target":"worker-1","Event":"JOB","Conn":3,"Pid":4242,"Uid":1000,"TargetConn":5,"TargetPid":4250,"RequestId":0,"Recipients":0,"Size":131,"Error":"","Payload":{"id":7,"note":"<&>"},"PayloadBytes":25,"Truncated":false,"Count":0}
{"Seq":2,"Time":"2025-10-04T02:24:28.6Z","Type":"event","Outcome":"target_not_connected","Source":"ui-main","Target":"nobody","Event":"JOB","Conn":3,"Pid":4242,"Uid":1000,"TargetConn":0,"TargetPid":-1,"RequestId":0,"Recipients":0,"Size":121,"Error":"Target machine not connected: nobody","Payload":null,"PayloadBytes":0,"Truncated":false,"Count":0}
{"Seq":3,"Time":"2025-10-04T02:24:29Z","Type":"register","Outcome":"ok","Source":"worker-2","Target":"","Event":"","Conn":6,"Pid":4300,"Uid":1000,"TargetConn":0,"TargetPid":-1,"RequestId":0,"Recipients":0,"Size":90,"Error":"","Payload":null,"PayloadBytes":0,"Truncated":false,"Count":0}
{"Seq":9,"Time":"2025-10-04T02:24:30Z","Type":"dropped","Outcome":"ok","Source":"","Target":"","Event":"","Conn":0,"Pid":0,"Uid":0,"TargetConn":0,"TargetPid":-1,"RequestId":0,"Recipients":0,"Size":0,"Error":"","Payload":null,"PayloadBytes":0,"Truncated":false,"Count":1234}
{"Seq":10,"Time":"2025-10-04T02:24:31Z","Type":"state","Outcome":"ok","Source":"worker-1","Target":"","Event":"","Conn":5,"Pid":4250,"Uid":1000,"TargetConn":0,"TargetPid":-1,"RequestId":0,"Recipients":0,"Size":100,"Error":"","Payload":{"Value":{"active":"waiting"},"Status":"active","Context":{"n":1}},"PayloadBytes":60,"Truncated":false,"Count":0}
`

func writeRecording(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(shortDir(t), "rec.ndjson")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func localClock(s string) string {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return tm.Local().Format("15:04:05.000")
}

func TestMonitorReplay(t *testing.T) {
	rec := writeRecording(t, recording)
	out, errOut, code := runCLI(t, "monitor", "--replay", rec)
	want := localClock("2025-10-04T02:24:28.5551234Z") + `  event      ui-main -> worker-1  JOB  delivered  {"id":7,"note":"<&>"}
` + localClock("2025-10-04T02:24:28.6Z") + `  event      ui-main -> nobody  JOB  target_not_connected
` + localClock("2025-10-04T02:24:29Z") + `  register   worker-2  ok
` + localClock("2025-10-04T02:24:30Z") + `  ... 1234 traces dropped (monitor too slow)
` + localClock("2025-10-04T02:24:31Z") + `  state      worker-1  ok  active.waiting  {"n":1}
`
	if code != 0 || out != want || !strings.Contains(errOut, "replaying") {
		t.Fatalf("exit %d, stderr %q\ngot:\n%swant:\n%s", code, errOut, out, want)
	}
	// --json gives the trace objects back as recorded; flags in any order.
	out, _, code = runCLI(t, "monitor", "--json", "--replay="+rec)
	if lines := strings.SplitAfterN(recording, "\n", 2); code != 0 || out != lines[1] {
		t.Fatalf("--json: exit %d\ngot:\n%swant:\n%s", code, out, lines[1])
	}
	// Filters: kinds (comma-separated or repeated), machines, events; a
	// dropped trace always passes.
	out, _, code = runCLI(t, "monitor", "--replay", rec, "--kind", "event,register", "--machine", "worker-*", "--json")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"Seq":1,`) || !strings.Contains(out, `"Seq":3,`) || !strings.Contains(out, `"Seq":9,`) {
		t.Fatalf("filtered: exit %d\n%s", code, out)
	}
	out, _, code = runCLI(t, "monitor", "--kind", "state", "--replay", rec, "--kind", "event", "--event", "JOB", "--machine", "nobody", "--json")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"Seq":2,`) || !strings.Contains(out, `"Seq":9,`) {
		t.Fatalf("filtered by event and machine: exit %d\n%s", code, out)
	}
	// Payload options apply to a replay too.
	out, _, _ = runCLI(t, "monitor", "--replay", rec, "--payload=false", "--kind=event", "--json")
	if strings.Contains(out, `"id":7`) || !strings.Contains(out, `"PayloadBytes":25`) {
		t.Fatalf("--payload=false:\n%s", out)
	}
	out, _, _ = runCLI(t, "monitor", "--max-payload", "6", "--replay", rec, "--kind=event")
	if !strings.Contains(out, `  {"id": ... (25 bytes)`) {
		t.Fatalf("--max-payload:\n%s", out)
	}
}

func TestMonitorUsageAndBadRecordings(t *testing.T) {
	for _, args := range [][]string{
		{"monitor", "--kind", "nope"},
		{"monitor", "--max-payload", "-1"},
		{"monitor", "extra"},
		{"monitor", "--record", "a", "--replay", "b"},
	} {
		if _, errOut, code := runCLI(t, args...); code != 2 || !strings.HasPrefix(errOut, "statebus monitor: ") {
			t.Errorf("%v: exit %d %q", args, code, errOut)
		}
	}
	if _, errOut, code := runCLI(t, "monitor", "--replay", writeRecording(t, `{"hello":1}`+"\n")); code != 1 || !strings.Contains(errOut, "not a statebus monitor recording") {
		t.Errorf("no header: exit %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, "monitor", "--replay", writeRecording(t, `{"Format":"statebus-trace","Version":9}`+"\n")); code != 1 || !strings.Contains(errOut, "version 9") {
		t.Errorf("version: exit %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, "monitor", "--replay", writeRecording(t, strings.SplitAfter(recording, "\n")[0]+"garbage\n")); code != 1 || !strings.Contains(errOut, ":2: not a trace") {
		t.Errorf("bad line: exit %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, "monitor", "--replay", "/nonexistent/rec"); code != 1 || errOut == "" {
		t.Errorf("missing file: exit %d %q", code, errOut)
	}
}

// monitorProc is a running "statebus monitor".
type monitorProc struct {
	cmd   *exec.Cmd
	lines chan string
	err   *safeBuffer
	seen  []string // every line read
}

func startMonitor(t *testing.T, path string, args ...string) *monitorProc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"monitor", "--socket", path}, args...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut safeBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &monitorProc{cmd: cmd, lines: make(chan string, 1000), err: &errOut}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errOut.String(), "monitoring") {
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("monitor did not start: %s", errOut.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return p
}

// next returns the next line that contains want.
func (p *monitorProc) next(t *testing.T, want string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("monitor ended before %q: %s", want, p.err.String())
			}
			p.seen = append(p.seen, l)
			if strings.Contains(l, want) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line with %q; stderr %s", want, p.err.String())
		}
	}
}

// stop sends sig, reads the lines left and returns the exit code.
func (p *monitorProc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	for l := range p.lines {
		p.seen = append(p.seen, l)
	}
	p.cmd.Wait()
	return p.cmd.ProcessState.ExitCode()
}

func TestMonitorCLI(t *testing.T) {
	path := startBusProcess(t)
	rec := filepath.Join(shortDir(t), "rec.ndjson")
	m := startMonitor(t, path, "--kind", "event,register", "--record", rec, "--machine", "w*")
	mj := startMonitor(t, path, "--json", "--event", "JOB", "--max-payload", "4")
	l := startListen(t, path, "w1")
	if _, errOut, code := runCLI(t, "send", "--socket", path, "--as", "ui", "w1", "JOB", `{"id":7}`); code != 0 {
		t.Fatal(errOut)
	}
	if _, _, code := runCLI(t, "send", "--socket", path, "--as", "ui", "w9", "JOB"); code != 1 {
		t.Fatalf("send to nobody: exit %d", code)
	}
	<-l.lines
	line := m.next(t, "ui -> w1")
	if !strings.Contains(line, "event      ui -> w1  JOB  delivered  {\"id\":7}") {
		t.Errorf("text line %q", line)
	}
	if line := m.next(t, "ui -> w9"); !strings.Contains(line, "JOB  target_not_connected") {
		t.Errorf("failure line %q", line)
	}
	var tr struct {
		Type, Outcome, Source, Target string
		Payload                       json.RawMessage
		Truncated                     bool
	}
	if err := json.Unmarshal([]byte(mj.next(t, `"Target":"w1"`)), &tr); err != nil || tr.Type != "event" || !tr.Truncated || string(tr.Payload) != `"{\"id"` {
		t.Errorf("--json line %+v %v", tr, err)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("Ctrl+C: exit %d, stderr %s", code, m.err.String())
	}
	if code := mj.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	// The recording replays to the same lines.
	live := m.seen
	out, errOut, code := runCLI(t, "monitor", "--replay", rec)
	if code != 0 {
		t.Fatalf("replay: exit %d %s", code, errOut)
	}
	if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(live, "\n") {
		t.Fatalf("replay\n%s\nlive\n%s", strings.Join(got, "\n"), strings.Join(live, "\n"))
	}
}
