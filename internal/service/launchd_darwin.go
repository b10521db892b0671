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

// Launchd manages services as launchd daemons.
type Launchd struct {
	Dir string    // default /Library/LaunchDaemons
	Log io.Writer // default os.Stdout
}

// New returns the platform's Manager.
func New() Manager { return &Launchd{} }

func (m *Launchd) path(name string) string {
	dir := m.Dir
	if dir == "" {
		dir = "/Library/LaunchDaemons"
	}
	return filepath.Join(dir, LaunchdLabel(name)+".plist")
}

func (m *Launchd) log() io.Writer {
	if m.Log != nil {
		return m.Log
	}
	return os.Stdout
}

func launchctl(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command("launchctl", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("launchctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Describe returns the plist.
func (m *Launchd) Describe(o Options) (string, error) { return LaunchdPlist(o) }

// Install writes the plist and loads it.
func (m *Launchd) Install(o Options) error {
	if err := o.fill(); err != nil {
		return err
	}
	plist, err := LaunchdPlist(o)
	if err != nil {
		return err
	}
	p := m.path(o.Name)
	if err := os.WriteFile(p, []byte(plist), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(m.log(), "wrote %s\n", p)
	if o.Startup == Disabled {
		return nil
	}
	_, err = launchctl("load", "-w", p)
	return err
}

// Uninstall unloads and removes the plist.
func (m *Launchd) Uninstall(name string) error {
	p := m.path(name)
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("%w: %s", ErrNotInstalled, p)
	}
	launchctl("unload", "-w", p)
	return os.Remove(p)
}

// Start starts the job.
func (m *Launchd) Start(name string) error {
	_, err := launchctl("start", LaunchdLabel(name))
	return err
}

// Stop stops the job (KeepAlive restarts it unless it is unloaded).
func (m *Launchd) Stop(name string) error {
	_, err := launchctl("stop", LaunchdLabel(name))
	return err
}

// Restart stops and starts the job.
func (m *Launchd) Restart(name string) error {
	if err := m.Stop(name); err != nil {
		return err
	}
	return m.Start(name)
}

// Status reports whether the job is loaded and has a PID.
func (m *Launchd) Status(name string) (Status, error) {
	if _, err := os.Stat(m.path(name)); err != nil {
		return Status{}, nil
	}
	out, err := launchctl("list", LaunchdLabel(name))
	if err != nil {
		return Status{Installed: true, Detail: "not loaded"}, nil
	}
	return Status{Installed: true, Running: strings.Contains(out, `"PID" =`), Detail: strings.TrimSpace(out)}, nil
}
