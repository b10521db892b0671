package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/statebus/statebus/internal/service"
)

func runService(args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "Usage: statebus service install|uninstall|start|stop|restart|status [flags]")
		fmt.Fprintln(stderr, "\nInstalls and controls the bus as an OS service: a systemd unit (Linux), a launchd")
		fmt.Fprintln(stderr, "daemon (macOS) or a Windows service with restart on failure and Event Log source")
		fmt.Fprintln(stderr, service.EventSource+". Run \"statebus service install --help\" for the flags.")
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		usage()
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	verb, args := args[0], args[1:]
	switch verb {
	case "install":
		return serviceInstall(args, stdout, stderr)
	case "uninstall", "start", "stop", "restart", "status":
		return serviceControl(verb, args, stdout, stderr)
	case "run":
		return serviceRun(args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "statebus service: unknown action %q\n\n", verb)
	usage()
	return exitUsage
}

func serviceInstall(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("service install", "[flags]", "Installs the bus as a service that starts at boot (by default) and restarts on failure.", stderr)
	var o service.Options
	fs.StringVar(&o.Name, "name", service.DefaultName, "service `name`")
	fs.StringVar(&o.DisplayName, "display-name", service.DefaultDisplayName, "display `name`")
	fs.StringVar(&o.Description, "description", service.DefaultDescription, "description `text`")
	startup := fs.String("startup", "automatic", "automatic, manual or disabled")
	fs.StringVar(&o.ConfigFile, "config", "", "appsettings.json-style configuration `FILE` for the service")
	fs.StringVar(&o.User, "user", "", "run as this `account` (default: root / LocalSystem)")
	fs.StringVar(&o.Group, "group", "", "Unix `group` whose members may connect (socket mode 0660)")
	fs.StringVar(&o.PipeName, "pipe", "", "pipe `NAME` to serve (default XStateNet.MessageBus)")
	executable := fs.String("executable", "", "install this statebus `binary` (default: the one running, which must not be go run's temporary build)")
	dryRun := fs.Bool("dry-run", false, "print what would be installed and change nothing")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 0, 0); !ok {
		return code
	}
	var err error
	if o.Startup, err = service.ParseStartup(*startup); err != nil {
		fmt.Fprintln(stderr, "statebus service install:", err)
		return exitUsage
	}
	if o.Executable, err = serviceBinary(*executable); err != nil {
		fmt.Fprintln(stderr, "statebus service install:", err)
		return exitUsage
	}
	if o.ConfigFile != "" {
		if o.ConfigFile, err = existingFile("--config", o.ConfigFile); err != nil {
			fmt.Fprintln(stderr, "statebus service install:", err)
			return exitUsage
		}
	}
	if o.PipeName != "" {
		o.ServeArgs = append(o.ServeArgs, "--pipe", o.PipeName)
	}
	m := service.New()
	if *dryRun {
		text, err := m.Describe(o)
		if err != nil {
			fmt.Fprintln(stderr, "statebus service install:", err)
			return exitFailed
		}
		fmt.Fprint(stdout, text)
		return exitOK
	}
	if err := m.Install(o); err != nil {
		fmt.Fprintln(stderr, "statebus service install:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "installed service %s\n", o.Name)
	return exitOK
}

// serviceBinary returns the absolute path of the binary the service will
// run: explicit, else the running one. It refuses a binary the go command
// built for "go run" (or a test): the build cache deletes or evicts it,
// and the service would then fail to start.
func serviceBinary(explicit string) (string, error) {
	exe, what := explicit, "--executable"
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return "", fmt.Errorf("finding the statebus binary: %w", err)
		}
		what = "this statebus"
	}
	exe, err := existingFile(what, exe)
	if err != nil {
		return "", err
	}
	if goBuildTemporary(exe) {
		return "", fmt.Errorf("%s is %s, a temporary build of \"go run\" that the go command deletes; "+
			"build a binary to install first (go build -o /usr/local/bin/statebus ./cmd/statebus, or go install ./cmd/statebus) "+
			"and run its \"service install\", or name it with --executable", what, exe)
	}
	return exe, nil
}

// goBuildTemporary reports whether path lies where the go command puts
// the binaries of "go run" and "go test": a go-build* directory (in
// $GOTMPDIR or the temporary directory, or the default build cache
// ~/.cache/go-build) or $GOCACHE.
func goBuildTemporary(path string) bool {
	for _, dir := range []string{os.Getenv("GOCACHE"), os.Getenv("GOTMPDIR")} {
		if rel, err := filepath.Rel(dir, path); dir != "" && err == nil && filepath.IsLocal(rel) {
			return true
		}
	}
	for _, elem := range strings.Split(filepath.ToSlash(path), "/") {
		if strings.HasPrefix(elem, "go-build") {
			return true
		}
	}
	return false
}

// existingFile returns the absolute path of file, which must exist and
// not be a directory; what names it in the error.
func existingFile(what, file string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, file, err)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%s %s does not exist", what, abs)
	case err != nil:
		return "", fmt.Errorf("%s: %w", what, err)
	case st.IsDir():
		return "", fmt.Errorf("%s %s is a directory, not a file", what, abs)
	}
	return abs, nil
}

func serviceControl(verb string, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("service "+verb, "[--name NAME]", verb+"s the installed service.", stderr)
	name := fs.String("name", service.DefaultName, "service `name`")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 0, 0); !ok {
		return code
	}
	m := service.New()
	var err error
	switch verb {
	case "uninstall":
		err = m.Uninstall(*name)
	case "start":
		err = m.Start(*name)
	case "stop":
		err = m.Stop(*name)
	case "restart":
		err = m.Restart(*name)
	case "status":
		st, serr := m.Status(*name)
		if serr != nil {
			err = serr
			break
		}
		switch {
		case !st.Installed:
			fmt.Fprintf(stdout, "%s: not installed\n", *name)
			return exitFailed
		case st.Running:
			fmt.Fprintf(stdout, "%s: running (%s)\n", *name, st.Detail)
			return exitOK
		default:
			fmt.Fprintf(stdout, "%s: not running (%s)\n", *name, st.Detail)
			return exitFailed
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "statebus service %s: %v\n", verb, err)
		if errors.Is(err, service.ErrNotInstalled) {
			return exitFailed
		}
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s: %s done\n", *name, verb)
	return exitOK
}
