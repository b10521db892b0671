package protocol

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The appenders below write one complete server line, terminated by '\n',
// to dst and return the extended slice. Every line is an object whose first
// three keys are "Success", "Data" and "Error", in that order, as the
// original service wrote them; "Kind", "Code" and "Id" follow as extensions
// that .NET readers ignore. id is the raw "Id" of the request being answered
// (nil for none) and is echoed verbatim.

func appendHead(dst []byte, ok bool) []byte {
	if ok {
		return append(dst, `{"Success":true,"Data":`...)
	}
	return append(dst, `{"Success":false,"Data":null,"Error":`...)
}

func appendTail(dst []byte, kind Kind, id []byte) []byte {
	switch kind {
	case KindEvent:
		dst = append(dst, `,"Kind":"Event"`...)
	case KindRequest:
		dst = append(dst, `,"Kind":"Request"`...)
	default:
		dst = append(dst, `,"Kind":"Reply"`...)
	}
	if id != nil {
		dst = append(dst, `,"Id":`...)
		dst = append(dst, id...)
	}
	return append(dst, '}', '\n')
}

// AppendOK appends a success reply whose Data is the raw JSON data (null
// when data is nil).
func AppendOK(dst, id, data []byte) []byte {
	dst = appendHead(dst, true)
	if data == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, data...)
	}
	dst = append(dst, `,"Error":null`...)
	return appendTail(dst, KindReply, id)
}

// AppendError appends a failure reply with the given code and text.
func AppendError(dst, id []byte, code Code, text string) []byte {
	return AppendErrorArg(dst, id, code, text, nil)
}

// AppendErrorArg appends a failure reply whose text is prefix followed by
// arg (an unescaped string such as a machine id), without allocating.
func AppendErrorArg(dst, id []byte, code Code, prefix string, arg []byte) []byte {
	dst = appendHead(dst, false)
	dst = append(dst, '"')
	dst = appendEscaped(dst, prefix)
	dst = appendEscaped(dst, arg)
	dst = append(dst, `","Kind":"Reply","Code":"`...)
	dst = append(dst, code.String()...)
	dst = append(dst, '"')
	if id != nil {
		dst = append(dst, `,"Id":`...)
		dst = append(dst, id...)
	}
	return append(dst, '}', '\n')
}

// AppendRegistered appends the Register reply:
// Data {"MachineId":..,"RegisteredAt":..}, echoing the client's RegisteredAt
// token, or now when the client sent none.
func AppendRegistered(dst, id []byte, machine String, registeredAt String, now time.Time) []byte {
	dst = appendHead(dst, true)
	dst = append(dst, `{"MachineId":`...)
	dst = append(dst, machine...)
	dst = append(dst, `,"RegisteredAt":`...)
	if registeredAt.IsZero() {
		dst = append(dst, '"')
		dst = AppendTime(dst, now)
		dst = append(dst, '"')
	} else {
		dst = append(dst, registeredAt...)
	}
	dst = append(dst, `},"Error":null`...)
	return appendTail(dst, KindReply, id)
}

// AppendSubscribed appends the Subscribe reply:
// Data {"MachineId":..,"SubscribedAt":now}.
func AppendSubscribed(dst, id []byte, machine String, now time.Time) []byte {
	dst = appendHead(dst, true)
	dst = append(dst, `{"MachineId":`...)
	dst = append(dst, machine...)
	dst = append(dst, `,"SubscribedAt":"`...)
	dst = AppendTime(dst, now)
	dst = append(dst, `"},"Error":null`...)
	return appendTail(dst, KindReply, id)
}

// AppendDelivered appends the SendEvent acknowledgement:
// Data {"Delivered":true,"TargetMachineId":..}.
func AppendDelivered(dst, id []byte, target String) []byte {
	dst = appendHead(dst, true)
	dst = append(dst, `{"Delivered":true,"TargetMachineId":`...)
	dst = append(dst, target...)
	dst = append(dst, `},"Error":null`...)
	return appendTail(dst, KindReply, id)
}

// AppendEvent appends a line pushed to a target: Data {"SourceMachineId",
// "TargetMachineId","EventName","Payload","Timestamp"}, the original's
// MachineEvent. The payload bytes are copied verbatim. target is the
// target's id token; the sender's Timestamp is kept, or now is used when it
// sent none. For KindRequest, Data also carries "RequestId".
func AppendEvent(dst []byte, kind Kind, ev *Event, target String, now time.Time, requestID uint64) []byte {
	dst = appendHead(dst, true)
	dst = append(dst, `{"SourceMachineId":`...)
	dst = append(dst, ev.Source...)
	dst = append(dst, `,"TargetMachineId":`...)
	dst = append(dst, target...)
	dst = append(dst, `,"EventName":`...)
	dst = append(dst, ev.Name...)
	dst = append(dst, `,"Payload":`...)
	if ev.Payload == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, ev.Payload...)
	}
	dst = append(dst, `,"Timestamp":`...)
	if ev.Timestamp.IsZero() {
		dst = append(dst, '"')
		dst = AppendTime(dst, now)
		dst = append(dst, '"')
	} else {
		dst = append(dst, ev.Timestamp...)
	}
	if kind == KindRequest {
		dst = append(dst, `,"RequestId":`...)
		dst = strconv.AppendUint(dst, requestID, 10)
	}
	dst = append(dst, `},"Error":null`...)
	return appendTail(dst, kind, nil)
}

// AppendAnswer appends the reply a requester gets for its Request when the
// target answered: Data {"RequestId","SourceMachineId","Payload"}, or a
// remote_error failure carrying the target's Error text.
func AppendAnswer(dst, id []byte, requestID uint64, from String, a *Answer) []byte {
	if !a.Error.IsZero() {
		var buf [256]byte
		text := a.Error.Value(buf[:0])
		if len(text) == 0 {
			return AppendError(dst, id, CodeRemote, TextRemoteEmpty)
		}
		return AppendErrorArg(dst, id, CodeRemote, "", text)
	}
	dst = appendHead(dst, true)
	dst = append(dst, `{"RequestId":`...)
	dst = strconv.AppendUint(dst, requestID, 10)
	dst = append(dst, `,"SourceMachineId":`...)
	dst = append(dst, from...)
	dst = append(dst, `,"Payload":`...)
	if a.Payload == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, a.Payload...)
	}
	dst = append(dst, `},"Error":null`...)
	return appendTail(dst, KindReply, id)
}

// AppendQuoted appends s as a JSON string token.
func AppendQuoted[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

const hexDigits = "0123456789ABCDEF"

// appendEscaped appends s with JSON string escaping (quotes, backslashes,
// control characters and invalid UTF-8, which becomes U+FFFD).
func appendEscaped[T ~string | ~[]byte](dst []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\uFFFD`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	return append(dst, s[start:]...)
}
