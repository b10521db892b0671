package service

// Manager installs and controls services on this platform.
type Manager interface {
	// Install registers the service and, for automatic startup, starts it.
	Install(o Options) error
	// Uninstall stops the service if it runs and removes it.
	Uninstall(name string) error
	Start(name string) error
	Stop(name string) error
	Restart(name string) error
	Status(name string) (Status, error)
	// Describe renders what Install would write (unit, plist, or the SCM
	// settings), for --dry-run.
	Describe(o Options) (string, error)
}
