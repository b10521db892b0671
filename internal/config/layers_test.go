package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLayering(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "appsettings.json")
	write(t, base, `{"MessageBus":{"PipeName":"Base","MaxConnections":10,"MaxQueueBytes":2048},"Logging":{"LogLevel":{"Default":"Information","Statebus.Server":"Debug"}}}`)
	write(t, filepath.Join(dir, "appsettings.Production.json"), `{"MessageBus":{"MaxConnections":500},"Logging":{"LogLevel":{"Default":"Warning"}}}`)

	for _, tc := range []struct {
		name    string
		src     Sources
		pipe    string
		maxConn int
		level   string
	}{
		{"base only", Sources{File: base}, "Base", 10, "Information"},
		{"STATEBUS_ENVIRONMENT", Sources{File: base, Environ: []string{"STATEBUS_ENVIRONMENT=Production"}}, "Base", 500, "Warning"},
		{"DOTNET_ENVIRONMENT", Sources{File: base, Environ: []string{"DOTNET_ENVIRONMENT=Production"}}, "Base", 500, "Warning"},
		{"missing environment file is fine", Sources{File: base, Environment: "Staging"}, "Base", 10, "Information"},
		{"variables win", Sources{File: base, Environ: []string{"DOTNET_ENVIRONMENT=Production", "MessageBus__MaxConnections=7", "messagebus__pipename=Env", "Logging__LogLevel__Default=Error", "UNRELATED=1"}}, "Env", 7, "Error"},
	} {
		c, _, err := Load(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.PipeName != tc.pipe || c.MaxConnections != tc.maxConn || c.LogLevels["Default"] != tc.level {
			t.Errorf("%s: got %s %d %s", tc.name, c.PipeName, c.MaxConnections, c.LogLevels["Default"])
		}
		if c.MaxQueueBytes != 2048 || c.LogLevels["Statebus.Server"] != "Debug" {
			t.Errorf("%s: base values lost: %+v", tc.name, c)
		}
	}
}

func TestLayeringErrorsNameTheSource(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "appsettings.json")
	write(t, base, `{"MessageBus":{}}`)
	write(t, filepath.Join(dir, "appsettings.Bad.json"), `{"MessageBus":{"MaxQueueBytes":"huge"}}`)
	_, _, err := Load(Sources{File: base, Environment: "Bad"})
	if err == nil || !strings.Contains(err.Error(), "appsettings.Bad.json") || !strings.Contains(err.Error(), "MaxQueueBytes") {
		t.Fatalf("bad environment file: %v", err)
	}
	_, _, err = Load(Sources{File: base, Environ: []string{"MessageBus__MaxConnections=-3"}})
	if err == nil || !strings.Contains(err.Error(), "MaxConnections") {
		t.Fatalf("bad variable: %v", err)
	}
	_, _, err = Load(Sources{File: base, Environ: []string{"MessageBus__MaxConnections=x"}})
	if err == nil || !strings.Contains(err.Error(), "MessageBus__MaxConnections") {
		t.Fatalf("bad variable: %v", err)
	}
	_, warnings, err := Load(Sources{File: base, Environ: []string{"MessageBus__Typo=1"}})
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "MessageBus__Typo") {
		t.Fatalf("unknown variable: %v %v", warnings, err)
	}
}

func TestWatchReloadsAndSurvivesBrokenEdits(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "appsettings.json")
	write(t, base, `{"MessageBus":{"MaxConnections":10}}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloads := make(chan Reload, 10)
	if err := Watch(ctx, Sources{File: base}, 20*time.Millisecond, func(r Reload) { reloads <- r }); err != nil {
		t.Fatal(err)
	}
	next := func() Reload {
		select {
		case r := <-reloads:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no reload")
		}
		return Reload{}
	}
	// Editors write a temporary file and rename it over the original.
	tmp := filepath.Join(dir, ".appsettings.json.swp")
	write(t, tmp, `{"MessageBus":{"MaxConnections":20}}`)
	if err := os.Rename(tmp, base); err != nil {
		t.Fatal(err)
	}
	if r := next(); r.Err != nil || r.Config.MaxConnections != 20 {
		t.Fatalf("reload: %+v", r)
	}
	write(t, base, `{"MessageBus":{"MaxConnections":`)
	if r := next(); r.Err == nil {
		t.Fatalf("broken edit accepted: %+v", r)
	}
	write(t, base, `{"MessageBus":{"MaxConnections":30,"PipeName":"Other"}}`)
	r := next()
	if r.Err != nil || r.Config.MaxConnections != 30 {
		t.Fatalf("reload after fix: %+v", r)
	}
	if keys := RestartRequired(Default(), r.Config); len(keys) != 1 || keys[0] != "MessageBus.PipeName" {
		t.Fatalf("RestartRequired = %v", keys)
	}
}
