package protocol

// Data shapes of the extension replies, shared by the server that writes
// them and the client that reads them. Field names are the wire names
// (PascalCase, as the original's HealthStatus and PerformanceMetrics);
// times are in .NET form.

// HealthData is the Data of a Health reply.
type HealthData struct {
	IsHealthy          bool
	ConnectionCount    int
	RegisteredMachines int
	LastActivityAt     Time
	ErrorMessage       *string     // null when healthy
	Bridge             *BridgeData `json:",omitempty"` // absent without a bridge
	Version            string      `json:",omitempty"` // the bus's version; absent when unknown
}

// BridgeData is the state of the link to other hosts.
type BridgeData struct {
	Connected      bool
	Hosts          int
	RemoteMachines int
	Error          string `json:",omitempty"`
}

// MetricsData is the Data of a Metrics reply.
type MetricsData struct {
	StartedAt           Time
	Uptime              string // .NET TimeSpan form, [d.]hh:mm:ss[.fffffff]
	UptimeSeconds       float64
	ConnectionCount     int
	RegisteredMachines  int
	PendingRequests     int
	PeakConnections     int
	PeakConnectionsAt   Time
	QueuedBytes         int
	LinesIn             uint64
	BytesIn             uint64
	BytesOut            uint64
	EventsRouted        uint64
	EventsPublished     uint64
	Requests            uint64
	Replies             uint64
	RejectedConnections uint64
	DroppedLines        uint64            // queued lines never written because the peer went away
	Failures            map[string]uint64 // by error code
	Goroutines          int               // of the bus process
	OpenFiles           int               // of the bus process; -1 when unknown
	ResidentBytes       uint64            // of the bus process
	Monitors            int               // monitors attached (§4.12)
	TracesDropped       uint64            // traces monitors missed by falling behind
}

// MachineData is one element of the Data array of a ListMachines reply.
type MachineData struct {
	MachineId    string //lint:ignore ST1003 wire name
	ProcessName  string
	ProcessId    int64 //lint:ignore ST1003 wire name
	RegisteredAt Time
	ConnectionId uint64 //lint:ignore ST1003 wire name
	Subscribed   bool
	PeerPid      int    //lint:ignore ST1003 wire name; from the OS, -1 when unknown
	PeerUid      int    //lint:ignore ST1003 wire name; from the OS, -1 when unknown
	Host         string `json:",omitempty"` // the owning host, for a machine on another host (bridge)
	State        *State `json:",omitempty"` // its last ReportState, for machines that reported one (§4.13)
	QueuedBytes  int    // bytes waiting in its connection's outbound queue (shared by that connection's machines)
}
