package protocol

// Code classifies a failure. Error replies carry it as "Code" so clients can
// branch on it without matching texts; the texts are kept as the original
// service wrote them where it had one.
type Code uint8

// Error codes. The comment gives the wire name.
const (
	CodeNone               Code = iota
	CodeInvalidJSON             // invalid_json: the line is not a JSON request object
	CodeUnknownType             // unknown_type: Type is not a known message type
	CodePayloadNull             // payload_null: Payload is absent or null
	CodeInvalidPayload          // invalid_payload: Payload has the wrong shape
	CodeNotConnected            // target_not_connected: no live connection owns the target id
	CodeQueueFull               // queue_full: the target's outbound queue is full
	CodeIDTaken                 // id_taken: another live connection owns the id
	CodeNotOwner                // not_owner: the id belongs to another connection
	CodeLineTooLong             // line_too_long: a line exceeded MaxMessageBytes (fatal)
	CodeTooManyConnections      // too_many_connections: MaxConnections reached (fatal)
	CodeTooManyMachines         // too_many_machines: per-connection machine id limit
	CodeTooManyRequests         // too_many_requests: per-connection pending request limit
	CodeTimeout                 // timeout: a Request got no Reply in time
	CodeTargetGone              // target_disconnected: the target left before replying
	CodeUnknownRequest          // unknown_request: Reply to no pending request
	CodeRemote                  // remote_error: the target answered a Request with an error
	CodeUnauthorized            // unauthorized: the connection is not allowed to do this (fatal at accept)
	CodeRateLimited             // rate_limited: the connection sends events faster than allowed
	CodeBridgeDown              // bridge_down: the target may be on another host, but the link to them is down
	CodeInternal                // internal_error: the bus failed to build its reply (a bug; the connection stays open)
)

var codeNames = [...]string{
	CodeNone:               "",
	CodeInvalidJSON:        "invalid_json",
	CodeUnknownType:        "unknown_type",
	CodePayloadNull:        "payload_null",
	CodeInvalidPayload:     "invalid_payload",
	CodeNotConnected:       "target_not_connected",
	CodeQueueFull:          "queue_full",
	CodeIDTaken:            "id_taken",
	CodeNotOwner:           "not_owner",
	CodeLineTooLong:        "line_too_long",
	CodeTooManyConnections: "too_many_connections",
	CodeTooManyMachines:    "too_many_machines",
	CodeTooManyRequests:    "too_many_requests",
	CodeTimeout:            "timeout",
	CodeTargetGone:         "target_disconnected",
	CodeUnknownRequest:     "unknown_request",
	CodeRemote:             "remote_error",
	CodeUnauthorized:       "unauthorized",
	CodeRateLimited:        "rate_limited",
	CodeBridgeDown:         "bridge_down",
	CodeInternal:           "internal_error",
}

// String returns the code's wire name.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "unknown"
}

// CodeByName returns the code with the given wire name, or CodeNone.
func CodeByName(s string) Code {
	for i, n := range codeNames {
		if n == s && n != "" {
			return Code(i)
		}
	}
	return CodeNone
}

// Fatal reports whether the server closes the connection after replying
// with this code.
func (c Code) Fatal() bool {
	return c == CodeLineTooLong || c == CodeTooManyConnections
}

// Error is a protocol failure: the text written in a reply's "Error" field
// and its code. Two Errors match under errors.Is when their codes are equal.
type Error struct {
	Code Code
	Text string
}

func (e *Error) Error() string { return e.Text }

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Fixed error texts, as the original service wrote them where it had one.
const (
	TextInvalidJSON    = "Invalid JSON format"
	TextPayloadNull    = "Payload is null"
	TextNotConnected   = "Target machine not connected: "
	TextUnknownType    = "Unknown message type: "
	TextQueueFull      = "Target machine queue full: "
	TextIDTaken        = "Machine id is owned by another connection: "
	TextNotOwner       = "Not the owner of machine id: "
	TextLineTooLong    = "Message exceeds the maximum line length"
	TextTooManyConns   = "Too many connections"
	TextTimeout        = "Request timed out: "
	TextTargetGone     = "Target machine disconnected before replying: "
	TextUnknownRequest = "Unknown or expired request: "
	TextUnauthorized   = "Unauthorized: Register with a valid Token first"
	TextRateLimited    = "Rate limit exceeded: events per second on this connection: "
	TextBridgeDown     = "Bridge to other hosts is down; cannot reach: "
	TextTooManyMachine = "Too many machine ids on this connection; cannot add: "
	TextTooManyPending = "Too many pending requests on this connection; cannot send to: "
	TextNeedsID        = "Request needs an Id to match its reply"
	TextAccessDenied   = "Access denied: "
	TextWrongToken     = "Unauthorized: missing or wrong Token"
	TextInternal       = "Internal error: "
	TextMonitorRefused = "Monitoring requires a privileged peer: "
	// TextRemoteEmpty is the remote_error text when the target's Reply
	// carried "Error":"".
	TextRemoteEmpty = "Target replied with an error"
)

// Prefix returns the text of a failure about one machine id (or request
// id), which follows it: "Target machine not connected: " for
// CodeNotConnected, say. Codes without such a text give their wire name
// and ": ".
func (c Code) Prefix() string {
	switch c {
	case CodeNotConnected:
		return TextNotConnected
	case CodeQueueFull:
		return TextQueueFull
	case CodeIDTaken:
		return TextIDTaken
	case CodeNotOwner:
		return TextNotOwner
	case CodeTooManyMachines:
		return TextTooManyMachine
	case CodeTimeout:
		return TextTimeout
	case CodeBridgeDown:
		return TextBridgeDown
	case CodeTargetGone:
		return TextTargetGone
	case CodeTooManyRequests:
		return TextTooManyPending
	case CodeUnknownRequest:
		return TextUnknownRequest
	default:
		return c.String() + ": "
	}
}

// Errors returned by decoders; compare with errors.Is.
var (
	ErrInvalidJSON = &Error{CodeInvalidJSON, TextInvalidJSON}
	ErrPayloadNull = &Error{CodePayloadNull, TextPayloadNull}
	ErrLineTooLong = &Error{CodeLineTooLong, TextLineTooLong}
)

func invalidPayload(text string) *Error { return &Error{CodeInvalidPayload, text} }
