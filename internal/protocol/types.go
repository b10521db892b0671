package protocol

import "strconv"

// Type is a request's message type. Types 0-3 are the original XStateNet
// enum and may be sent as numbers or names; the others are statebus
// extensions, sent by name only (a number outside 0-3 is an unknown type,
// as in the original).
type Type int

// Message types.
const (
	TypeRegister   Type = 0 // bind a machine id to this connection
	TypeUnregister Type = 1 // release a machine id this connection owns
	TypeSendEvent  Type = 2 // route an event to the connection owning a machine id
	TypeSubscribe  Type = 3 // bind a machine id (same effect as Register)

	// Extensions; the numbers are internal and never accepted on the wire.
	TypeHealth       Type = 16 + iota // health status
	TypeMetrics                       // counters and peaks
	TypeListMachines                  // registered machines
	TypePing                          // liveness round trip
	TypePublish                       // an event to every machine but the publisher's
	TypeRequest                       // an event that expects a correlated reply
	TypeReply                         // the answer to a Request
	TypeMonitor                       // receive Trace lines of the bus's traffic (§4.12)
	TypeReportState                   // a machine reports its current state (§4.13)
	TypeMachineState                  // a machine's last reported state and definition (§4.14)
)

var typeNames = [...]struct {
	name string
	t    Type
}{
	{"Register", TypeRegister},
	{"Unregister", TypeUnregister},
	{"SendEvent", TypeSendEvent},
	{"Subscribe", TypeSubscribe},
	{"Health", TypeHealth},
	{"Metrics", TypeMetrics},
	{"ListMachines", TypeListMachines},
	{"Ping", TypePing},
	{"Publish", TypePublish},
	{"Request", TypeRequest},
	{"Reply", TypeReply},
	{"Monitor", TypeMonitor},
	{"ReportState", TypeReportState},
	{"MachineState", TypeMachineState},
}

// String returns the type's canonical name.
func (t Type) String() string {
	for _, n := range typeNames {
		if n.t == t {
			return n.name
		}
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// TypeByName returns the type whose name equals s ignoring ASCII case.
func TypeByName(s []byte) (Type, bool) {
	for _, n := range typeNames {
		if equalFold(s, n.name) {
			return n.t, true
		}
	}
	return 0, false
}

func equalFold(k []byte, name string) bool {
	if len(k) != len(name) {
		return false
	}
	for j := 0; j < len(k); j++ {
		a, b := k[j], name[j]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// Kind discriminates the lines a server writes. .NET readers ignore the
// field; statebus clients use it instead of guessing from content.
type Kind uint8

// Line kinds.
const (
	KindReply   Kind = iota // the answer to one request line
	KindEvent               // an event pushed to a target machine
	KindRequest             // a request pushed to a target machine; answer with Reply
	KindTrace               // a record of the bus's traffic, to a monitor (§4.12)
)

// String returns the kind as written on the wire.
func (k Kind) String() string {
	switch k {
	case KindEvent:
		return "Event"
	case KindRequest:
		return "Request"
	case KindTrace:
		return "Trace"
	default:
		return "Reply"
	}
}
