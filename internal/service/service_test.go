package service

import (
	"flag"
	"os"
	"path/filepath"
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
