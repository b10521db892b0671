// Package protocol implements statebus wire protocol v1, the newline-delimited
// JSON dialect spoken by XStateNet InterProcess clients.
//
// It holds the message type enum (numbers 0-3 as the C# client sends them, and
// case-insensitive names as a superset), a bounded line reader that survives
// split reads, a validating scanner that finds the header fields of a request
// without decoding its payload, and appenders that write replies and pushed
// events byte for byte in the shapes the original service produced.
//
// Payloads are never re-encoded: a request's payload bytes are copied verbatim
// into the line pushed to the target, so big integers, escapes and key order
// survive. Nothing in this package allocates per message in steady state; the
// decoded structures hold slices into the caller's line buffer and are valid
// only until that buffer is reused.
//
// The package uses the standard library only and is safe for concurrent use
// as long as each goroutine uses its own Reader, Request and Event values.
package protocol
