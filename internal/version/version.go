// Package version says which statebus binary is running: the module
// version, the commit and its time, and the Go version, read from the
// build information the Go toolchain embeds in every binary
// (runtime/debug.ReadBuildInfo). It is a leaf: standard library only.
//
// A binary built from a checkout ("go build ./cmd/statebus") has module
// version "(devel)" and, when the go command could read the repository,
// the commit (vcs.revision), its time (vcs.time) and whether the tree had
// uncommitted changes (vcs.modified). "go install
// github.com/statebus/statebus/cmd/statebus@v1.2.3" records v1.2.3.
// Release builds may set the variables below with the linker:
//
//	go build -ldflags "-X github.com/statebus/statebus/internal/version.Version=v1.2.3" ./cmd/statebus
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags -X; an empty variable means "from the build info".
var (
	// Version overrides the module version, e.g. "v1.2.3".
	Version string
	// Commit overrides vcs.revision, for builds without the repository.
	Commit string
	// Date overrides vcs.time (RFC 3339).
	Date string
)

// Info describes the running binary.
type Info struct {
	Version   string // module version: "v1.2.3", "(devel)" from a checkout, "unknown" without build info
	Commit    string // full VCS revision; empty when unknown
	Modified  bool   // the working tree had uncommitted changes at build time
	Date      string // commit time, RFC 3339; empty when unknown
	GoVersion string // the Go toolchain that built the binary, "go1.26.8"
}

// Get returns the running binary's Info. It is safe for concurrent use.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return fromBuildInfo(bi, Info{Version: Version, Commit: Commit, Date: Date})
}

// fromBuildInfo reads bi (nil: none); the non-empty fields of override
// win.
func fromBuildInfo(bi *debug.BuildInfo, override Info) Info {
	i := Info{Version: "unknown", GoVersion: runtime.Version()}
	if bi != nil {
		if bi.Main.Version != "" {
			i.Version = bi.Main.Version
		} else {
			i.Version = "(devel)"
		}
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Commit = s.Value
			case "vcs.time":
				i.Date = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
	}
	if override.Version != "" {
		i.Version = override.Version
	}
	if override.Commit != "" {
		i.Commit, i.Modified = override.Commit, false
	}
	if override.Date != "" {
		i.Date = override.Date
	}
	return i
}

// ShortCommit is the first 12 characters of Commit, with "-modified"
// when the tree had changes; empty when the commit is unknown.
func (i Info) ShortCommit() string {
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if c != "" && i.Modified {
		c += "-modified"
	}
	return c
}

// String is one line: "statebus v1.2.3 (commit 0123456789ab, 2026-01-02T03:04:05Z, go1.26.8)";
// unknown parts are left out.
func (i Info) String() string {
	parts := make([]string, 0, 3)
	if c := i.ShortCommit(); c != "" {
		parts = append(parts, "commit "+c)
	}
	if i.Date != "" {
		parts = append(parts, i.Date)
	}
	parts = append(parts, i.GoVersion)
	return "statebus " + i.Version + " (" + strings.Join(parts, ", ") + ")"
}
