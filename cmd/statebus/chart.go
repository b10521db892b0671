package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/statebus/statebus/statechart"
)

const chartUsage = `Usage: statebus chart <simulate|run|check|diagram> FILE.json [flags]

  simulate FILE.json         read "send EVENT [JSON]" and "advance MS" steps from standard input;
                             print the initial snapshot and one JSON line per step
  run FILE.json --id ID      run the chart as bus member ID until it reaches a final state
  check FILE.json            validate; list states, events and the names to register
  diagram FILE.json          draw as Mermaid stateDiagram-v2 (--format dot for Graphviz)

Exit codes: 0 success, 1 the chart is invalid or failed, 2 usage error, 3 bus unreachable.`

func runChart(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stderr
		if len(args) > 0 {
			w = stdout
		}
		fmt.Fprintln(w, chartUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "simulate":
		return runChartSimulate(args[1:], os.Stdin, stdout, stderr)
	case "run":
		return runChartRun(args[1:], stdout, stderr)
	case "check":
		return runChartCheck(args[1:], stdout, stderr)
	case "diagram":
		return runChartDiagram(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "statebus chart: unknown subcommand %q\n\n%s\n", args[0], chartUsage)
	return exitUsage
}

// readChart reads and loads (or, for tools, parses) a chart file.
func readChart(cmd, file string, parseOnly bool, stderr io.Writer) (*statechart.Machine, int) {
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "statebus chart %s: %v\n", cmd, err)
		return nil, exitFailed
	}
	var m *statechart.Machine
	if parseOnly {
		m, err = statechart.Parse(data)
	} else {
		m, err = statechart.Load(data, nil)
	}
	if err != nil {
		fmt.Fprintf(stderr, "statebus chart %s: %s: %s\n", cmd, file, strings.TrimPrefix(err.Error(), "statechart: "))
		if errors.Is(err, statechart.ErrUnknownName) {
			fmt.Fprintf(stderr, "statebus chart %s: the command line runs built-in actions and guards only; register others from Go\n", cmd)
		}
		return nil, exitFailed
	}
	for _, w := range m.Warnings() {
		fmt.Fprintf(stderr, "statebus chart %s: %s: warning: %s\n", cmd, file, w)
	}
	return m, exitOK
}

func runChartSimulate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("chart simulate", "FILE.json < STEPS",
		"Runs the chart on a virtual clock. Each line of standard input is a step: \"send EVENT [JSON payload]\"\n"+
			"or \"advance MILLISECONDS\" (blank lines and lines starting with # are skipped). Prints the initial\n"+
			"snapshot, then one JSON line per step: {\"value\",\"status\",\"context\",\"log\"[,\"sent\"][,\"error\"]}.\n"+
			"Exit codes: 0 success, 1 the chart is invalid or failed, 2 usage error or bad step.", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 1, 1, "FILE.json"); !ok {
		return code
	}
	pos := fs.Args()
	m, code := readChart("simulate", pos[0], false, stderr)
	if m == nil {
		return code
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	sim, line, err := statechart.NewSimulator(m)
	if sim == nil {
		fmt.Fprintf(stderr, "statebus chart simulate: %v\n", err)
		return exitFailed
	}
	enc.Encode(line)
	if err != nil {
		fmt.Fprintf(stderr, "statebus chart simulate: %s\n", strings.TrimPrefix(err.Error(), "statechart: "))
		return exitFailed
	}
	return simulateSteps(sim, bufio.NewReader(stdin), enc, stderr)
}

func simulateSteps(sim *statechart.Simulator, in *bufio.Reader, enc *json.Encoder, stderr io.Writer) int {
	for n := 1; ; n++ {
		text, rerr := in.ReadString('\n')
		if step := strings.TrimSpace(text); step != "" && !strings.HasPrefix(step, "#") {
			line, err := sim.Step(step)
			if errors.Is(err, statechart.ErrBadStep) {
				fmt.Fprintf(stderr, "statebus chart simulate: line %d: %s\n", n, strings.TrimPrefix(err.Error(), "statechart: "))
				return exitUsage
			}
			enc.Encode(line)
			if err != nil {
				fmt.Fprintf(stderr, "statebus chart simulate: line %d: %s\n", n, strings.TrimPrefix(err.Error(), "statechart: "))
				return exitFailed
			}
		}
		if rerr == io.EOF {
			return exitOK
		}
		if rerr != nil {
			fmt.Fprintf(stderr, "statebus chart simulate: reading steps: %v\n", rerr)
			return exitFailed
		}
	}
}

func runChartCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("chart check", "FILE.json [--json]",
		"Validates a chart and lists its states, the events it handles and the action, guard and delay\n"+
			"names it needs registered (the command line runs charts that need none).\n"+
			"Exit codes: 0 valid, 1 invalid, 2 usage error.", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 1, 1, "FILE.json"); !ok {
		return code
	}
	pos := fs.Args()
	m, code := readChart("check", pos[0], true, stderr)
	if m == nil {
		return code
	}
	needs := m.Needs()
	if *asJSON {
		type state struct {
			ID   string `json:"id"`
			Type string `json:"type"`
			Path string `json:"path"`
		}
		var states []state
		for _, n := range m.Nodes() {
			states = append(states, state{n.ID, n.Type.String(), n.Path})
		}
		printJSON(stdout, map[string]any{"id": m.ID(), "states": states, "events": nonNil(m.Events()),
			"needs":    map[string][]string{"actions": nonNil(needs.Actions), "guards": nonNil(needs.Guards), "delays": nonNil(needs.Delays)},
			"warnings": nonNil(m.Warnings())})
		return exitOK
	}
	fmt.Fprintf(stdout, "chart %s: valid, %s, %s\n\nstates:\n", m.ID(), count(len(m.Nodes()), "state"), count(len(m.Events()), "event"))
	for _, n := range m.Nodes() {
		depth := 0
		for p := n.Parent; p != nil; p = p.Parent {
			depth++
		}
		fmt.Fprintf(stdout, "  %s#%s (%s)\n", strings.Repeat("  ", depth), n.ID, n.Type)
	}
	fmt.Fprintln(stdout, "\nevents:")
	for _, e := range m.Events() {
		fmt.Fprintf(stdout, "  %s\n", e)
	}
	fmt.Fprintln(stdout, "\nnames to register:")
	fmt.Fprintf(stdout, "  actions: %s\n  guards:  %s\n  delays:  %s\n", listOrNone(needs.Actions), listOrNone(needs.Guards), listOrNone(needs.Delays))
	return exitOK
}

// count writes "1 event", "2 events".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

func runChartDiagram(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("chart diagram", "FILE.json [--format mermaid|dot]",
		"Draws the chart, nested and parallel states included, as a Mermaid stateDiagram-v2 (default)\n"+
			"or as Graphviz DOT. Exit codes: 0 success, 1 invalid chart, 2 usage error.", stderr)
	format := fs.String("format", "mermaid", "`mermaid` or dot")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 1, 1, "FILE.json"); !ok {
		return code
	}
	pos := fs.Args()
	if *format != "mermaid" && *format != "dot" {
		return usageError(fs, "--format %q is neither mermaid nor dot", *format)
	}
	m, code := readChart("diagram", pos[0], true, stderr)
	if m == nil {
		return code
	}
	if *format == "dot" {
		io.WriteString(stdout, statechart.DOT(m))
	} else {
		io.WriteString(stdout, statechart.Mermaid(m))
	}
	return exitOK
}
