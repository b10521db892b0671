// Package service installs and controls statebus as an operating-system
// service: a systemd unit on Linux, a launchd daemon on macOS, a service
// of the Windows Service Control Manager. It also tells the service
// manager when the bus is ready and stopping. Only cmd imports it.
package service

import (
	"errors"
	"fmt"
	"strings"
)

// Defaults, as the original install-service.ps1 names them.
const (
	DefaultName        = "XStateNetMessageBus"
	DefaultDisplayName = "XStateNet InterProcess Message Bus"
	DefaultDescription = "Message bus service for XStateNet InterProcess communication"
	EventSource        = "XStateNet.InterProcess"
)

// Startup is when the service starts.
type Startup string

// Startup types.
const (
	Automatic Startup = "automatic" // at boot
	Manual    Startup = "manual"    // when started by hand
	Disabled  Startup = "disabled"  // cannot be started
)

// ParseStartup accepts automatic, manual or disabled in any case.
func ParseStartup(s string) (Startup, error) {
	switch st := Startup(strings.ToLower(s)); st {
	case Automatic, Manual, Disabled:
		return st, nil
	}
	return "", fmt.Errorf("service: startup %q is not automatic, manual or disabled", s)
}

// Options describe the service to install.
type Options struct {
	Name        string
	DisplayName string
	Description string
	Startup     Startup
	Executable  string   // absolute path of the statebus binary
	ServeArgs   []string // arguments after "serve" (--config, --pipe, --socket-mode ...)
	ConfigFile  string   // absolute path, or ""
	User        string   // account to run as; "" for the platform default
	Group       string   // Unix group allowed to connect (socket mode 0660); "" for none
	PipeName    string   // pipe name the bus serves
}

func (o *Options) fill() error {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.DisplayName == "" {
		o.DisplayName = DefaultDisplayName
	}
	if o.Description == "" {
		o.Description = DefaultDescription
	}
	if o.Startup == "" {
		o.Startup = Automatic
	}
	if o.PipeName == "" {
		o.PipeName = "XStateNet.MessageBus"
	}
	if o.Executable == "" {
		return errors.New("service: executable path is required")
	}
	if strings.ContainsAny(o.Name, " /\\\t\n") {
		return fmt.Errorf("service: name %q must not contain spaces or slashes", o.Name)
	}
	return nil
}

// Status is a service's state as the service manager reports it.
type Status struct {
	Installed bool
	Running   bool
	Detail    string // the manager's own words
}

// ErrNotInstalled is returned for a service that does not exist.
var ErrNotInstalled = errors.New("service: not installed")
