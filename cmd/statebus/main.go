// Command statebus is the statebus message bus and its tools.
//
//	statebus serve [--socket PATH | --pipe NAME] [--config FILE]
//
// Run "statebus help" for the list of commands.
package main

import (
	"fmt"
	"io"
	"os"
)

// command is one subcommand: run parses its own flags from args and
// returns the process exit code.
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "run the bus in the foreground until SIGINT/SIGTERM", runServe},
		{"send", "send an event to a machine and wait for delivery", runSend},
		{"publish", "send an event to every machine", runPublish},
		{"request", "send a request to a machine and print its reply", runRequest},
		{"listen", "register machine ids and print the events they receive", runListen},
		{"machines", "list the registered machines", runMachines},
		{"monitor", "print the bus's traffic as it happens; record and replay it", runMonitor},
		{"health", "print health and metrics; exit non-zero when unhealthy", runHealth},
		{"top", "show the bus and its machines live: rates, states, last events", runTop},
		{"ping", "measure round trips to the bus", runPing},
		{"self-test", "check a bus end to end (its own, or a running one)", runSelfTest},
		{"chart", "run, simulate, check and draw XState-JSON statecharts", runChart},
		{"service", "install and control the bus as an OS service", runService},
		{"bench", "soak: hold a steady load and check that resources stay flat", runBench},
		{"version", "print the version, commit, build date and Go version", runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		return runVersion(args[1:], stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "statebus: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "statebus: a local message bus for state machines, wire-compatible with XStateNet InterProcess clients.")
	fmt.Fprintln(w, "\nUsage: statebus <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"statebus <command> --help\" for a command's flags.")
}
