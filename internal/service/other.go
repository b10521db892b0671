//go:build !linux && !darwin && !windows

package service

import "errors"

// New returns a Manager that reports the platform is unsupported.
func New() Manager { return unsupported{} }

var errUnsupported = errors.New("service: no service manager support on this platform; run \"statebus serve\" under your init system")

type unsupported struct{}

func (unsupported) Install(Options) error              { return errUnsupported }
func (unsupported) Uninstall(string) error             { return errUnsupported }
func (unsupported) Start(string) error                 { return errUnsupported }
func (unsupported) Stop(string) error                  { return errUnsupported }
func (unsupported) Restart(string) error               { return errUnsupported }
func (unsupported) Status(string) (Status, error)      { return Status{}, errUnsupported }
func (unsupported) Describe(o Options) (string, error) { return "", errUnsupported }
