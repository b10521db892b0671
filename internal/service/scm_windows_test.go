package service

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// When the SCM starts this test binary as the service (RunArgs: "service
// run --name NAME"), it runs a trivial bus until told to stop.
func TestMain(m *testing.M) {
	if len(os.Args) > 3 && os.Args[1] == "service" && os.Args[2] == "run" {
		err := Run(os.Args[4], func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			return nil
		})
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func waitState(t *testing.T, m Manager, name string, running bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := m.Status(name)
		if err == nil && st.Running == running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("service never reached running=%v: %+v %v", running, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSCMLifecycle creates, starts, queries, stops and deletes a real
// service through the Service Control Manager.
func TestSCMLifecycle(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("StatebusTest%d", time.Now().UnixNano()%1e9)
	m := New()
	o := Options{Name: name, Executable: exe, Startup: Manual}
	if err := m.Install(o); err != nil {
		t.Skipf("cannot install services here (needs Administrator): %v", err)
	}
	defer m.Uninstall(name)
	if err := m.Install(o); err == nil {
		t.Fatal("installing twice succeeded")
	}
	if st, err := m.Status(name); err != nil || !st.Installed || st.Running {
		t.Fatalf("after install: %+v %v", st, err)
	}
	if err := m.Start(name); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, name, true)
	if err := m.Stop(name); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, name, false)
	if err := m.Uninstall(name); err != nil {
		t.Fatal(err)
	}
	if st, err := m.Status(name); err != nil || st.Installed {
		t.Fatalf("after uninstall: %+v %v", st, err)
	}
}
