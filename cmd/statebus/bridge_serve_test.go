package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/statebus/statebus/client"
)

// TestServeBridge runs two "statebus serve" processes as two hosts bridged
// through an in-process nats-server, configured by environment variables.
func TestServeBridge(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	url := "nats://" + ns.Addr().(*net.TCPAddr).String()

	start := func(name string) (string, *proc) {
		path := filepath.Join(shortDir(t), "bus.sock")
		p := startServe(t, []string{"Bridge__Nats__Url=" + url, "Bridge__HostName=" + name}, "--socket", path)
		p.listening(t)
		return path, p
	}
	pathA, procA := start("host-a")
	pathB, _ := start("host-b")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, err := client.Dial(ctx, pathA, client.WithMachines("on-a"))
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := client.Dial(ctx, pathB, client.WithMachines("on-b"))
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	events := cb.Events(ctx, 4)
	if err := ca.Send(ctx, "on-b", "HELLO", nil); err != nil {
		t.Fatalf("host-a -> host-b: %v", err)
	}
	select {
	case ev := <-events:
		if ev.Name != "HELLO" || ev.Source != "on-a" {
			t.Fatalf("got %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("no event crossed the bridge")
	}

	// statebus machines and health show the other host.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _, code := runCLI(t, "machines", "--socket", pathA)
		if code == 0 && strings.Contains(out, "on-b") && strings.Contains(out, "(on host host-b)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("machines on host-a:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, _, _ := runCLI(t, "health", "--socket", pathA)
	if !strings.Contains(out, "bridge") || !strings.Contains(out, "connected, 1 other host(s), 1 remote machine(s)") {
		t.Fatalf("health on host-a:\n%s", out)
	}

	// A graceful stop removes host-a's machines from host-b at once.
	if err := procA.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := procA.wait(t); code != 0 {
		t.Fatalf("host-a exited %d; stderr:\n%s", code, procA.stderr)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		list, err := cb.ListMachines(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].ID == "on-b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host-b still lists %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
