package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	checkout := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/statebus/statebus/cmd/statebus", Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "-race", Value: "true"}, {Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-01T10:11:12Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, c := range []struct {
		name     string
		bi       *debug.BuildInfo
		override Info
		want     Info
		str      string
	}{
		{"checkout", checkout, Info{},
			Info{Version: "(devel)", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, Date: "2026-12-01T10:11:12Z", GoVersion: "go1.26.8"},
			"statebus (devel) (commit 0123456789ab-modified, 2026-12-01T10:11:12Z, go1.26.8)"},
		{"go install @version", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}}, Info{},
			Info{Version: "v1.2.3", GoVersion: "go1.26.0"}, "statebus v1.2.3 (go1.26.0)"},
		{"no main version", &debug.BuildInfo{GoVersion: "go1.26.0"}, Info{},
			Info{Version: "(devel)", GoVersion: "go1.26.0"}, "statebus (devel) (go1.26.0)"},
		{"ldflags override", checkout, Info{Version: "v2.0.0", Commit: "fedcba9876543210", Date: "2027-01-01T00:00:00Z"},
			Info{Version: "v2.0.0", Commit: "fedcba9876543210", Date: "2027-01-01T00:00:00Z", GoVersion: "go1.26.8"},
			"statebus v2.0.0 (commit fedcba987654, 2027-01-01T00:00:00Z, go1.26.8)"},
		{"no build info", nil, Info{},
			Info{Version: "unknown", GoVersion: runtime.Version()}, "statebus unknown (" + runtime.Version() + ")"},
	} {
		got := fromBuildInfo(c.bi, c.override)
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
		if s := got.String(); s != c.str {
			t.Errorf("%s: String() = %q, want %q", c.name, s, c.str)
		}
	}
}

func TestGet(t *testing.T) {
	i := Get()
	if i.Version == "" || !strings.HasPrefix(i.GoVersion, "go") {
		t.Fatalf("Get() = %+v", i)
	}
	old := Version
	defer func() { Version = old }()
	Version = "v9.9.9"
	if v := Get().Version; v != "v9.9.9" {
		t.Fatalf("with Version set, Get().Version = %q", v)
	}
}
