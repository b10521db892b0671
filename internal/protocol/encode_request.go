package protocol

import (
	"strconv"
	"time"
)

// The appenders below write one request line, as a client sends it, ending
// in '\n'. Types 0-3 are written as numbers, as the C# client does; the
// extensions by name. id is written as "Id" when non-zero. A payload is
// copied as it is: the caller makes sure it is valid JSON on one line.

func appendRequestHead(dst []byte, t Type, id uint64) []byte {
	dst = append(dst, `{"Type":`...)
	if t <= TypeSubscribe {
		dst = strconv.AppendInt(dst, int64(t), 10)
	} else {
		dst = append(dst, '"')
		dst = append(dst, t.String()...)
		dst = append(dst, '"')
	}
	if id != 0 {
		dst = append(dst, `,"Id":`...)
		dst = strconv.AppendUint(dst, id, 10)
	}
	return dst
}

// AppendSimpleRequest appends a request without payload (Ping, Health,
// Metrics, ListMachines).
func AppendSimpleRequest(dst []byte, t Type, id uint64) []byte {
	dst = appendRequestHead(dst, t, id)
	return append(dst, '}', '\n')
}

// AppendPayloadRequest appends a request of type t whose payload is the
// raw JSON payload (nil for null): Monitor's filter, ReportState's state
// object, MachineState's id.
func AppendPayloadRequest(dst []byte, t Type, id uint64, payload []byte) []byte {
	dst = appendRequestHead(dst, t, id)
	dst = append(dst, `,"Payload":`...)
	if payload == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, payload...)
	}
	return append(dst, '}', '\n')
}

// AppendRequestHeadPayload appends the start of a request of type t up
// to its payload: the caller appends the payload, then "}\n".
func AppendRequestHeadPayload(dst []byte, t Type, id uint64) []byte {
	dst = appendRequestHead(dst, t, id)
	return append(dst, `,"Payload":`...)
}

// AppendAuthRequest appends a Ping carrying the bus's shared token on its
// envelope, which authenticates the connection.
func AppendAuthRequest(dst []byte, id uint64, token string) []byte {
	dst = appendRequestHead(dst, TypePing, id)
	dst = append(dst, `,"Token":`...)
	dst = AppendQuoted(dst, token)
	return append(dst, '}', '\n')
}

// AppendRegisterRequest appends a Register with the C# client's payload,
// plus "Token" when token is not empty.
func AppendRegisterRequest(dst []byte, id uint64, machine, processName string, pid int, at time.Time, token string) []byte {
	dst = appendRequestHead(dst, TypeRegister, id)
	dst = append(dst, `,"Payload":{"MachineId":`...)
	dst = AppendQuoted(dst, machine)
	dst = append(dst, `,"ProcessName":`...)
	dst = AppendQuoted(dst, processName)
	dst = append(dst, `,"ProcessId":`...)
	dst = strconv.AppendInt(dst, int64(pid), 10)
	dst = append(dst, `,"RegisteredAt":"`...)
	dst = AppendTime(dst, at)
	dst = append(dst, '"')
	if token != "" {
		dst = append(dst, `,"Token":`...)
		dst = AppendQuoted(dst, token)
	}
	return append(dst, "}}\n"...)
}

// AppendMachineRequest appends an Unregister or Subscribe for machine.
func AppendMachineRequest(dst []byte, t Type, id uint64, machine string) []byte {
	dst = appendRequestHead(dst, t, id)
	dst = append(dst, `,"Payload":`...)
	dst = AppendQuoted(dst, machine)
	return append(dst, '}', '\n')
}

// AppendEventRequest appends a SendEvent, Publish (target "") or Request
// (timeoutMs > 0 sets TimeoutMs). payload is raw JSON, nil for null. The
// Timestamp at is written by clk, or by AppendTime when clk is nil.
func AppendEventRequest(dst []byte, t Type, id uint64, source, target, event string, payload []byte, clk *Clock, at time.Time, timeoutMs int64) []byte {
	dst = appendRequestHead(dst, t, id)
	dst = append(dst, `,"Payload":{"SourceMachineId":`...)
	dst = AppendQuoted(dst, source)
	if t != TypePublish {
		dst = append(dst, `,"TargetMachineId":`...)
		dst = AppendQuoted(dst, target)
	}
	dst = append(dst, `,"EventName":`...)
	dst = AppendQuoted(dst, event)
	dst = append(dst, `,"Payload":`...)
	if payload == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, payload...)
	}
	dst = append(dst, `,"Timestamp":"`...)
	if clk != nil {
		dst = clk.AppendTime(dst, at)
	} else {
		dst = AppendTime(dst, at)
	}
	dst = append(dst, '"')
	if timeoutMs > 0 {
		dst = append(dst, `,"TimeoutMs":`...)
		dst = strconv.AppendInt(dst, timeoutMs, 10)
	}
	return append(dst, '}', '}', '\n')
}

// AppendReplyRequest appends a Reply answering requestID with payload, or
// with errText when it is not empty.
func AppendReplyRequest(dst []byte, id, requestID uint64, payload []byte, errText string) []byte {
	dst = appendRequestHead(dst, TypeReply, id)
	dst = append(dst, `,"Payload":{"RequestId":`...)
	dst = strconv.AppendUint(dst, requestID, 10)
	if errText != "" {
		dst = append(dst, `,"Error":`...)
		dst = AppendQuoted(dst, errText)
	} else {
		dst = append(dst, `,"Payload":`...)
		if payload == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, payload...)
		}
	}
	return append(dst, '}', '}', '\n')
}
