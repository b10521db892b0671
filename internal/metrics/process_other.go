//go:build !linux

package metrics

func readProc(*ProcessStats) {}
