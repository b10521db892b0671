//go:build !windows

package daemon

const peerCredentialsSupported = true
