//go:build !windows

package service

import "github.com/coreos/go-systemd/v22/daemon"

// NotifyReady tells systemd (Type=notify) that the bus accepts
// connections. Without NOTIFY_SOCKET it does nothing.
func NotifyReady() error {
	_, err := daemon.SdNotify(false, daemon.SdNotifyReady)
	return err
}

// NotifyStopping tells systemd that the bus is shutting down.
func NotifyStopping() error {
	_, err := daemon.SdNotify(false, daemon.SdNotifyStopping)
	return err
}

// NotifyStatus sets the status line systemctl status shows.
func NotifyStatus(s string) error {
	_, err := daemon.SdNotify(false, "STATUS="+s)
	return err
}
