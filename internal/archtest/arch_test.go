package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/statebus/statebus/"

// allowed lists, for each of our packages, the packages of ours it may
// import directly. Leaves import none; cmd may import anything.
var allowed = map[string][]string{
	"internal/protocol":  {},
	"internal/transport": {},
	"internal/config":    {},
	"internal/metrics":   {},
	"internal/logging":   {},
	"internal/service":   {},
	"internal/version":   {},
	"internal/soak":      {"client"},
	"internal/top":       {"client"},
	"internal/router":    {"internal/protocol"},
	"internal/server":    {"internal/protocol", "internal/router", "internal/metrics"},
	"client":             {"internal/protocol", "internal/transport"},
	"internal/archtest":  {},
	// The conformance suite tests buses over the wire only.
	"internal/conformance": {},
	"statechart":           {},
	"chartbus":             {"client", "statechart", "internal/protocol"},
	"bridge/nats":          {"internal/server", "internal/protocol"},
	"internal/daemon":      {"internal/config", "internal/logging", "internal/metrics", "internal/server", "internal/transport", "bridge/nats", "internal/inspector"},
	"internal/inspector":   {"internal/server", "internal/protocol", "internal/metrics"},
}

func TestImportGraph(t *testing.T) {
	for _, goos := range []string{"linux", "windows", "darwin"} {
		cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...")
		cmd.Dir = "../.."
		cmd.Env = append(cmd.Environ(), "GOOS="+goos)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			fields := strings.Fields(line)
			pkg := strings.TrimPrefix(fields[0], module)
			if strings.HasPrefix(pkg, "cmd/") {
				continue
			}
			ok, known := allowed[pkg]
			if !known {
				t.Errorf("%s: package %s is not in the architecture table; add it to docs/architecture.md and here", goos, pkg)
				continue
			}
			for _, imp := range fields[1:] {
				if !strings.HasPrefix(imp, module) {
					continue
				}
				dep := strings.TrimPrefix(imp, module)
				if !contains(ok, dep) {
					t.Errorf("%s: %s imports %s, which the architecture forbids", goos, pkg, dep)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
