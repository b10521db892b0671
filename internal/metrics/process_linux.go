package metrics

import (
	"bytes"
	"os"
	"strconv"
)

func readProc(p *ProcessStats) {
	if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
		p.OpenFiles = len(entries)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range bytes.Split(status, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) >= 1 {
				if kb, err := strconv.ParseUint(string(f[0]), 10, 64); err == nil {
					p.ResidentBytes = kb * 1024
				}
			}
		}
	}
}
