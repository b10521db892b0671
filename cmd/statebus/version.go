package main

import (
	"fmt"
	"io"

	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/version"
)

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "[--json]",
		"Prints this binary's version, commit, commit date and Go version, from the build information\n"+
			"(\"(devel)\" when built from a checkout). With --json: {\"Version\",\"Commit\",\"Modified\",\"Date\",\"GoVersion\"}.", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 0, 0); !ok {
		return code
	}
	v := version.Get()
	if *asJSON {
		printJSON(stdout, v)
		return exitOK
	}
	fmt.Fprintln(stdout, v)
	return exitOK
}

// versionAttrs are the log attributes of serve's first line.
func versionAttrs() []any {
	v := version.Get()
	attrs := []any{"version", v.Version}
	if c := v.ShortCommit(); c != "" {
		attrs = append(attrs, "commit", c)
	}
	if v.Date != "" {
		attrs = append(attrs, "date", v.Date)
	}
	return append(attrs, "go", v.GoVersion)
}

// buildInfo is what the bus reports in Health and /metrics.
func buildInfo() metrics.BuildInfo {
	v := version.Get()
	return metrics.BuildInfo{Version: v.Version, Commit: v.ShortCommit(), GoVersion: v.GoVersion}
}
