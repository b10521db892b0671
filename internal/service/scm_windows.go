package service

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// SCM manages Windows services through the Service Control Manager.
type SCM struct{}

// New returns the platform's Manager.
func New() Manager { return SCM{} }

// RunArgs is the command line the SCM starts: an explicit "service run"
// rather than detection of the service context, which misreports under
// Wine and in some containers.
func RunArgs(o Options) []string {
	args := []string{"service", "run", "--name", o.Name}
	if o.ConfigFile != "" {
		args = append(args, "--config", o.ConfigFile)
	}
	return append(args, o.ServeArgs...)
}

func startType(s Startup) uint32 {
	switch s {
	case Manual:
		return mgr.StartManual
	case Disabled:
		return mgr.StartDisabled
	default:
		return mgr.StartAutomatic
	}
}

// Describe lists the SCM settings Install uses.
func (SCM) Describe(o Options) (string, error) {
	if err := o.fill(); err != nil {
		return "", err
	}
	return fmt.Sprintf("Name: %s\nDisplayName: %s\nDescription: %s\nStartType: %s\nCommand: %q %s\nRecovery: restart after 2s, 5s, 10s; reset after 1 day\nEventLogSource: %s\n",
		o.Name, o.DisplayName, o.Description, o.Startup, o.Executable, strings.Join(RunArgs(o), " "), EventSource), nil
}

// Install creates the service with restart-on-failure recovery actions,
// registers the Event Log source and, for automatic startup, starts it.
func (SCM) Install(o Options) error {
	if err := o.fill(); err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service: connecting to the SCM (run as Administrator): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(o.Name); err == nil {
		s.Close()
		return fmt.Errorf("service: %s is already installed; uninstall it first", o.Name)
	}
	cfg := mgr.Config{
		DisplayName:      o.DisplayName,
		Description:      o.Description,
		StartType:        startType(o.Startup),
		ServiceStartName: o.User,
	}
	s, err := m.CreateService(o.Name, o.Executable, cfg, RunArgs(o)...)
	if err != nil {
		return fmt.Errorf("service: creating %s: %w", o.Name, err)
	}
	defer s.Close()
	err = s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 2 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second},
	}, uint32((24 * time.Hour).Seconds()))
	if err != nil {
		return fmt.Errorf("service: setting recovery actions: %w", err)
	}
	if err := installEventSource(); err != nil {
		return fmt.Errorf("service: registering Event Log source %s: %w", EventSource, err)
	}
	if o.Startup == Automatic {
		return s.Start()
	}
	return nil
}

// Uninstall stops the service, deletes it and removes the Event Log
// source.
func (c SCM) Uninstall(name string) error {
	m, s, err := open(name)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	stopAndWait(s, 30*time.Second)
	if err := s.Delete(); err != nil {
		return err
	}
	eventlog.Remove(EventSource)
	return nil
}

func open(name string) (*mgr.Mgr, *mgr.Service, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("service: connecting to the SCM (run as Administrator): %w", err)
	}
	s, err := m.OpenService(name)
	if err != nil {
		m.Disconnect()
		if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
			return nil, nil, fmt.Errorf("%w: %s", ErrNotInstalled, name)
		}
		return nil, nil, err
	}
	return m, s, nil
}

// stopAndWait asks the service to stop and waits until it has.
func stopAndWait(s *mgr.Service, timeout time.Duration) error {
	st, err := s.Control(svc.Stop)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for st.State != svc.Stopped {
		if time.Now().After(deadline) {
			return fmt.Errorf("service: %s did not stop within %v", s.Name, timeout)
		}
		time.Sleep(100 * time.Millisecond)
		if st, err = s.Query(); err != nil {
			return err
		}
	}
	return nil
}

// Start starts the service.
func (SCM) Start(name string) error {
	m, s, err := open(name)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	return s.Start()
}

// Stop stops the service and waits for it.
func (SCM) Stop(name string) error {
	m, s, err := open(name)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	return stopAndWait(s, 30*time.Second)
}

// Restart stops and starts the service.
func (c SCM) Restart(name string) error {
	if err := c.Stop(name); err != nil {
		return err
	}
	return c.Start(name)
}

// Status queries the service's state.
func (SCM) Status(name string) (Status, error) {
	m, s, err := open(name)
	if errors.Is(err, ErrNotInstalled) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	defer m.Disconnect()
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return Status{Installed: true}, err
	}
	names := map[svc.State]string{svc.Stopped: "stopped", svc.StartPending: "starting", svc.StopPending: "stopping",
		svc.Running: "running", svc.ContinuePending: "continuing", svc.PausePending: "pausing", svc.Paused: "paused"}
	return Status{Installed: true, Running: st.State == svc.Running, Detail: names[st.State]}, nil
}

// eventLogKey is where the Event Log keeps the sources of the Application
// log.
const eventLogKey = `SYSTEM\CurrentControlSet\Services\EventLog\Application\`

// installEventSource registers EventSource with the Event Log unless it is
// already registered (a reinstall): the registry says so, not an error
// text.
func installEventSource() error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, eventLogKey+EventSource, registry.QUERY_VALUE)
	if err == nil {
		k.Close()
		return nil
	}
	if !errors.Is(err, registry.ErrNotExist) {
		return err
	}
	return eventlog.InstallAsEventCreate(EventSource, eventlog.Error|eventlog.Warning|eventlog.Info)
}
