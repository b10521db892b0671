package service

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

func sample() Options {
	return Options{
		Executable: "/usr/local/bin/statebus",
		ConfigFile: "/etc/statebus/appsettings.json",
		Startup:    Automatic,
	}
}

func TestSystemdUnitGolden(t *testing.T) {
	unit, err := SystemdUnit(sample())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "default.service", unit)

	o := sample()
	o.Name, o.User, o.Group, o.PipeName = "MyBus", "statebus", "statebus", "My App.Events"
	o.ServeArgs = []string{"--pipe", "My App.Events"}
	unit, err = SystemdUnit(o)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "custom.service", unit)
	for _, want := range []string{"Type=notify", "Restart=on-failure", "RuntimeDirectory=MyBus", "User=statebus", "Group=statebus", "--socket-mode 0660", `"My App.Events"`} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}

func TestLaunchdPlistGolden(t *testing.T) {
	plist, err := LaunchdPlist(sample())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "default.plist", plist)
	if !strings.Contains(plist, "<key>KeepAlive</key>\n\t<true/>") {
		t.Error("plist lacks KeepAlive")
	}
}

func TestOptionsValidation(t *testing.T) {
	if _, err := SystemdUnit(Options{}); err == nil {
		t.Error("no executable accepted")
	}
	if _, err := SystemdUnit(Options{Executable: "/x", Name: "a b"}); err == nil {
		t.Error("name with a space accepted")
	}
	if _, err := ParseStartup("sometimes"); err == nil {
		t.Error("bad startup accepted")
	}
	if s, err := ParseStartup("Manual"); err != nil || s != Manual {
		t.Errorf("ParseStartup(Manual) = %v, %v", s, err)
	}
}

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
	if runtime.GOOS != "linux" {
		t.Skip("systemd is Linux only")
	}
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
