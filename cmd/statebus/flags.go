package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Every command parses its flags with parseFlags, so they all follow the
// same rules: flags may come before, between or after the positional
// arguments ("send worker-1 JOB '{}' --socket S"), a flag is written
// --name or -name, its value follows as --name=V or --name V, "--" ends
// the flags and "-" alone is a positional argument (standard input).

// newFlagSet returns a flag set whose --help prints usage, summary and
// the flags, written --name (-c for one-letter flags), to stderr.
func newFlagSet(name, usage, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: statebus %s %s\n\n%s\n\nFlags:\n", name, usage, summary)
		printFlags(stderr, fs)
	}
	return fs
}

// flagName writes a flag as the README does: --socket, but -c.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// printFlags is flag.PrintDefaults with flagName's spelling.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, help := flag.UnquoteUsage(f)
		line := "  " + flagName(f.Name)
		if arg != "" {
			line += " " + arg
		}
		help = strings.ReplaceAll(help, "\n", "\n    \t")
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			if g, ok := f.Value.(flag.Getter); ok && isString(g.Get()) {
				help += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				help += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, help)
	})
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// parseFlags parses the flags anywhere in args and leaves the positional
// arguments in fs.Args(). --help (or -h) prints the usage and gives exit
// code 0; an unknown flag or a bad value prints a one-line reason, then
// the usage, and gives exit code 2. ok is false when the command should
// exit with code.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	var pos []string
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		if a == "--" {
			pos = append(pos, args...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if name == "" || name[0] == '-' {
			return usageError(fs, "bad flag syntax %q", a), false
		}
		f := fs.Lookup(name)
		if f == nil {
			if name == "help" || name == "h" {
				fs.Usage()
				return exitOK, false
			}
			return usageError(fs, "unknown flag %s", flagName(name)), false
		}
		if b, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool && b.IsBoolFlag() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if len(args) == 0 {
				return usageError(fs, "flag %s needs a value", flagName(name)), false
			}
			value, args = args[0], args[1:]
		}
		if err := fs.Set(name, value); err != nil {
			return usageError(fs, "invalid value %q for %s: %v", value, flagName(name), err), false
		}
	}
	// Leave the positional arguments where fs.Args() finds them.
	if err := fs.Parse(append([]string{"--"}, pos...)); err != nil {
		return usageError(fs, "%v", err), false
	}
	return exitOK, true
}

// usageError prints "statebus CMD: reason" and the command's usage to the
// flag set's output and returns the usage exit code.
func usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "statebus %s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return exitUsage
}

// wantArgs checks the number of positional arguments, between min and
// max (max < 0: no limit), naming them in the reason; names lists the
// positional arguments in order, the last one repeated when max < 0.
func wantArgs(fs *flag.FlagSet, min, max int, names ...string) (code int, ok bool) {
	n := fs.NArg()
	switch {
	case n < min:
		return usageError(fs, "missing %s", strings.Join(names[n:min], " ")), false
	case max >= 0 && n > max:
		return usageError(fs, "unexpected argument %q", fs.Arg(max)), false
	}
	return exitOK, true
}
