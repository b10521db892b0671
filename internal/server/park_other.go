//go:build !linux

package server

// startIdler returns the idler of this platform: none, idle connections
// keep their reader goroutine here.
func startIdler(*Server) (idler, bool) { return noParking{}, false }
