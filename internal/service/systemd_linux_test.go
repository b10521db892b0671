package service

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSystemctl writes a systemctl stand-in that records its arguments and
// answers "show" like systemd.
func fakeSystemctl(t *testing.T) (bin, logFile string) {
	dir := t.TempDir()
	logFile = filepath.Join(dir, "calls")
	bin = filepath.Join(dir, "systemctl")
	script := "#!/bin/sh\necho \"$*\" >> " + logFile + "\n" +
		"case \"$1\" in show) printf 'ActiveState=active\\nSubState=running\\nUnitFileState=enabled\\n';; esac\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, logFile
}

func TestSystemdManagerLifecycle(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	bin, calls := fakeSystemctl(t)
	units := t.TempDir()
	m := &Systemd{UnitDir: units, Systemctl: bin, Log: new(strings.Builder)}
	o := sample()
	if err := m.Install(o); err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(units, DefaultName+".service"))
	if err != nil || !strings.Contains(string(unit), "ExecStart=/usr/local/bin/statebus serve") {
		t.Fatalf("unit: %v\n%s", err, unit)
	}
	st, err := m.Status(DefaultName)
	if err != nil || !st.Installed || !st.Running {
		t.Fatalf("status %+v %v", st, err)
	}
	for _, f := range []func(string) error{m.Stop, m.Start, m.Restart, m.Uninstall} {
		if err := f(DefaultName); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(units, DefaultName+".service")); !os.IsNotExist(err) {
		t.Fatal("unit left after uninstall")
	}
	if err := m.Start(DefaultName); err == nil {
		t.Fatal("start of an uninstalled service succeeded")
	}
	log, _ := os.ReadFile(calls)
	want := "daemon-reload\nenable --now XStateNetMessageBus.service\nshow --property=ActiveState,SubState,UnitFileState XStateNetMessageBus.service\n" +
		"stop XStateNetMessageBus.service\nstart XStateNetMessageBus.service\nrestart XStateNetMessageBus.service\n" +
		"disable --now XStateNetMessageBus.service\ndaemon-reload\n"
	if string(log) != want {
		t.Fatalf("systemctl calls:\n%s\nwant:\n%s", log, want)
	}
}
