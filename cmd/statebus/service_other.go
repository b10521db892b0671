//go:build !windows

package main

import (
	"fmt"
	"io"
)

// serviceRun exists for Windows' SCM; systemd and launchd run "serve".
func serviceRun(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, `statebus service run: only for the Windows Service Control Manager; systemd and launchd run "statebus serve"`)
	return exitUsage
}
