package service

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Systemd manages services as systemd units.
type Systemd struct {
	UnitDir   string    // default /etc/systemd/system
	Systemctl string    // default "systemctl"
	Log       io.Writer // progress messages; default os.Stdout
}

// New returns the platform's Manager.
func New() Manager { return &Systemd{} }

func (m *Systemd) dir() string {
	if m.UnitDir != "" {
		return m.UnitDir
	}
	return "/etc/systemd/system"
}

func (m *Systemd) log() io.Writer {
	if m.Log != nil {
		return m.Log
	}
	return os.Stdout
}

func (m *Systemd) unitPath(name string) string { return filepath.Join(m.dir(), name+".service") }

func (m *Systemd) systemctl(args ...string) (string, error) {
	bin := m.Systemctl
	if bin == "" {
		bin = "systemctl"
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Describe returns the unit file.
func (m *Systemd) Describe(o Options) (string, error) { return SystemdUnit(o) }

// Install writes the unit, reloads systemd and, for automatic startup,
// enables and starts it.
func (m *Systemd) Install(o Options) error {
	if err := o.fill(); err != nil {
		return err
	}
	unit, err := SystemdUnit(o)
	if err != nil {
		return err
	}
	path := m.unitPath(o.Name)
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		return fmt.Errorf("service: writing %s: %w", path, err)
	}
	fmt.Fprintf(m.log(), "wrote %s\n", path)
	if _, err := m.systemctl("daemon-reload"); err != nil {
		return err
	}
	switch o.Startup {
	case Automatic:
		if _, err := m.systemctl("enable", "--now", o.Name+".service"); err != nil {
			return err
		}
		fmt.Fprintf(m.log(), "enabled and started %s\n", o.Name)
	case Manual, Disabled:
		if _, err := m.systemctl("disable", o.Name+".service"); err != nil {
			return err
		}
		fmt.Fprintf(m.log(), "installed %s (not started at boot; start it with: statebus service start --name %s)\n", o.Name, o.Name)
	}
	fmt.Fprintln(m.log(), unitComment(o))
	return nil
}

// Uninstall stops and disables the unit, then removes it.
func (m *Systemd) Uninstall(name string) error {
	path := m.unitPath(name)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w: %s", ErrNotInstalled, path)
	}
	m.systemctl("disable", "--now", name+".service") // best effort: it may not run
	if err := os.Remove(path); err != nil {
		return err
	}
	fmt.Fprintf(m.log(), "removed %s\n", path)
	_, err := m.systemctl("daemon-reload")
	return err
}

func (m *Systemd) control(verb, name string) error {
	if _, err := os.Stat(m.unitPath(name)); err != nil {
		return fmt.Errorf("%w: %s", ErrNotInstalled, name)
	}
	_, err := m.systemctl(verb, name+".service")
	return err
}

// Start starts the unit.
func (m *Systemd) Start(name string) error { return m.control("start", name) }

// Stop stops the unit.
func (m *Systemd) Stop(name string) error { return m.control("stop", name) }

// Restart restarts the unit.
func (m *Systemd) Restart(name string) error { return m.control("restart", name) }

// Status reports the unit's load and active state.
func (m *Systemd) Status(name string) (Status, error) {
	if _, err := os.Stat(m.unitPath(name)); err != nil {
		return Status{}, nil
	}
	out, err := m.systemctl("show", "--property=ActiveState,SubState,UnitFileState", name+".service")
	if err != nil {
		return Status{Installed: true}, err
	}
	props := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			props[k] = v
		}
	}
	return Status{
		Installed: true,
		Running:   props["ActiveState"] == "active",
		Detail:    fmt.Sprintf("%s (%s), %s", props["ActiveState"], props["SubState"], props["UnitFileState"]),
	}, nil
}
