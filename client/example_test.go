package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

// exampleBus starts a bus on a temporary socket for the examples; a real
// program dials the bus that "statebus serve" runs.
func exampleBus() (path string, stop func()) {
	dir, _ := os.MkdirTemp("", "sbx")
	path = filepath.Join(dir, "bus.sock")
	srv, _ := server.New(server.Config{Logger: quiet})
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	return path, func() {
		srv.Shutdown(context.Background())
		os.RemoveAll(dir)
	}
}

// trafficLight is a small hand-written state machine: red -> green ->
// yellow -> red on TIMER, and off from any state on POWER_OFF. It knows
// nothing of the bus: it gets events through Handle and reports its
// transitions through emit.
type trafficLight struct {
	state string
	emit  func(target, event string, payload any)
}

func (l *trafficLight) Handle(ev client.Event) {
	next := map[string]map[string]string{
		"red":    {"TIMER": "green", "POWER_OFF": "off"},
		"green":  {"TIMER": "yellow", "POWER_OFF": "off"},
		"yellow": {"TIMER": "red", "POWER_OFF": "off"},
	}[l.state][ev.Name]
	if next == "" {
		return // event not handled in this state
	}
	from := l.state
	l.state = next
	l.emit(ev.Source, "STATE_CHANGED", map[string]string{"from": from, "to": next})
}

// A Go state machine as a bus member: Bind routes the events for its id
// to the machine, Emitter carries its outgoing events.
func Example_stateMachine() {
	path, stop := exampleBus()
	defer stop()
	ctx := context.Background()

	lights, err := client.Dial(ctx, path)
	if err != nil {
		panic(err)
	}
	defer lights.Close()
	light := &trafficLight{state: "red"}
	member, err := lights.Bind(ctx, "light-1", light.Handle)
	if err != nil {
		panic(err)
	}
	light.emit = member.Emitter()

	// A controller process drives the light and watches its transitions.
	ctrl, err := client.Dial(ctx, path, client.WithMachines("controller"))
	if err != nil {
		panic(err)
	}
	defer ctrl.Close()
	changes := ctrl.Events(ctx, 8)
	for _, ev := range []string{"TIMER", "TIMER", "POWER_OFF"} {
		if err := ctrl.Send(ctx, "light-1", ev, nil); err != nil {
			panic(err)
		}
		change := <-changes
		fmt.Printf("%s: %s\n", change.Source, change.Payload)
	}
	// Output:
	// light-1: {"from":"red","to":"green"}
	// light-1: {"from":"green","to":"yellow"}
	// light-1: {"from":"yellow","to":"off"}
}

// Request and OnRequest: a correlated call between two machines.
func ExampleConn_Request() {
	path, stop := exampleBus()
	defer stop()
	ctx := context.Background()

	calc, _ := client.Dial(ctx, path, client.WithMachines("calculator"))
	defer calc.Close()
	calc.OnRequest("ADD", func(ctx context.Context, ev client.Event) (any, error) {
		var in struct{ A, B int }
		if err := ev.Decode(&in); err != nil {
			return nil, err
		}
		return in.A + in.B, nil
	})

	user, _ := client.Dial(ctx, path, client.WithMachines("user"))
	defer user.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sum, err := user.Request(ctx, "calculator", "ADD", map[string]int{"A": 2, "B": 40})
	fmt.Println(string(sum), err)
	// Output: 42 <nil>
}

// WaitForEvent does not take the event from anyone else, and Expect
// registers before the send so the answer cannot be missed.
func ExampleConn_Expect() {
	path, stop := exampleBus()
	defer stop()
	ctx := context.Background()

	echo, _ := client.Dial(ctx, path, client.WithMachines("echo"))
	defer echo.Close()
	echo.OnEvent("*", func(ev client.Event) {
		echo.SendAsync(ev.Source, "ECHO_"+ev.Name, ev.Payload)
	})

	me, _ := client.Dial(ctx, path, client.WithMachines("me"))
	defer me.Close()
	reply := me.Expect("ECHO_HELLO")
	me.Send(ctx, "echo", "HELLO", "world")
	ev, _ := reply.Wait(ctx)
	fmt.Println(ev.Name, string(ev.Payload))
	// Output: ECHO_HELLO "world"
}
