//go:build !windows

package main

const peerCredentialsSupported = true
