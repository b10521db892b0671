package service

import (
	"context"
	"log/slog"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
)

// Run runs bus as the Windows service name: it reports Running once
// ready is closed, and cancels bus's context on Stop or Shutdown, then
// reports Stopped when bus returns. Call it from "statebus service run".
func Run(name string, bus func(ctx context.Context, ready func()) error) error {
	return svc.Run(name, &handler{bus: bus})
}

type handler struct {
	bus func(ctx context.Context, ready func()) error
}

func (h *handler) Execute(args []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readyc := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- h.bus(ctx, func() { close(readyc) }) }()
	accepts := svc.AcceptStop | svc.AcceptShutdown
	for {
		select {
		case <-readyc:
			readyc = nil
			status <- svc.Status{State: svc.Running, Accepts: accepts}
		case err := <-done:
			if err != nil {
				return true, 1
			}
			return false, 0
		case r := <-req:
			switch r.Cmd {
			case svc.Interrogate:
				status <- r.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
			}
		}
	}
}

// EventLogHandler returns a slog.Handler writing Information and above to
// the Windows Event Log under EventSource, for use next to the console
// handler when running as a service.
func EventLogHandler() (slog.Handler, func(), error) {
	l, err := eventlog.Open(EventSource)
	if err != nil {
		return nil, nil, err
	}
	return &eventHandler{log: l}, func() { l.Close() }, nil
}

type eventHandler struct {
	log   *eventlog.Log
	attrs []slog.Attr
}

func (h *eventHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *eventHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	for _, a := range h.attrs {
		msg += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		return h.log.Error(3, msg)
	case r.Level >= slog.LevelWarn:
		return h.log.Warning(2, msg)
	default:
		return h.log.Info(1, msg)
	}
}

func (h *eventHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &n
}

func (h *eventHandler) WithGroup(string) slog.Handler { return h }

// NotifyReady does nothing on Windows; Run reports readiness to the SCM.
func NotifyReady() error { return nil }

// NotifyStopping does nothing on Windows.
func NotifyStopping() error { return nil }

// NotifyStatus does nothing on Windows.
func NotifyStatus(string) error { return nil }
