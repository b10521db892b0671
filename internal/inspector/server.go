package inspector

import (
	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/server"
)

// ForServer returns s as a Bus.
func ForServer(s *server.Server) Bus { return serverBus{s} }

type serverBus struct{ *server.Server }

func (b serverBus) Tap(f protocol.TraceFilter, buffer int) Tap { return b.Server.Tap(f, buffer) }
