package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	if o.Executable, err = os.Executable(); err == nil {
		o.Executable, err = filepath.Abs(o.Executable)
	}
	if err != nil {
		fmt.Fprintln(stderr, "statebus service install: finding the statebus binary:", err)
		return exitFailed
	}
	if o.ConfigFile != "" {
		if o.ConfigFile, err = filepath.Abs(o.ConfigFile); err != nil {
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
