package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// A small RESP2/RESP3 codec: enough to PUBLISH, SUBSCRIBE and read what
// Redis pushes back, without a client library in the way.

// appendCommand appends a RESP array of bulk strings.
func appendCommand(b []byte, args ...[]byte) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = appendBulk(b, a)
	}
	return b
}

func appendBulk(b, a []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(a)), 10)
	b = append(b, '\r', '\n')
	b = append(b, a...)
	return append(b, '\r', '\n')
}

// publishHeader is the start of PUBLISH channel <n bytes>: the message
// body and "\r\n" follow it.
func publishHeader(channel string, n int) []byte {
	b := []byte("*3\r\n$7\r\nPUBLISH\r\n")
	b = appendBulk(b, []byte(channel))
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// errRedis is a RESP error reply.
var errRedis = errors.New("bench: redis error")

// respReader reads top-level RESP values.
type respReader struct{ r *bufio.Reader }

// Kinds next returns besides the RESP type bytes.
const respMessage = 'm' // a pub/sub "message" push; data is its body

// next reads one top-level value. A pub/sub message (RESP2 array or RESP3
// push) comes back as respMessage with its body in data, valid until the
// next call; an integer as ':' with n; anything else is read whole and
// returned as its type byte. An error reply is returned as an error
// wrapping errRedis.
func (p *respReader) next() (kind byte, n int64, data []byte, err error) {
	line, err := p.line()
	if err != nil {
		return 0, 0, nil, err
	}
	kind = line[0]
	switch kind {
	case ':':
		n, err = strconv.ParseInt(string(line[1:]), 10, 64)
		return kind, n, nil, err
	case '-', '!':
		if kind == '!' {
			if data, err = p.bulkBody(line); err != nil {
				return 0, 0, nil, err
			}
			line = data
		}
		return kind, 0, nil, fmt.Errorf("%w: %s", errRedis, line)
	case '*', '>':
		cnt, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return 0, 0, nil, fmt.Errorf("bench: bad RESP array %q", line)
		}
		if cnt != 3 {
			return kind, 0, nil, p.skipN(cnt)
		}
		first, err := p.elem()
		if err != nil {
			return 0, 0, nil, err
		}
		isMsg := bytes.Equal(first, []byte("message"))
		if _, err := p.elem(); err != nil {
			return 0, 0, nil, err
		}
		body, err := p.elem()
		if err != nil {
			return 0, 0, nil, err
		}
		if isMsg {
			return respMessage, 0, body, nil
		}
		return kind, 0, nil, nil
	default:
		return kind, 0, nil, p.skipRest(line)
	}
}

// line reads one CRLF-terminated line without its terminator.
func (p *respReader) line() ([]byte, error) {
	l, err := p.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(l) < 3 || l[len(l)-2] != '\r' {
		return nil, fmt.Errorf("bench: bad RESP line %q", l)
	}
	return l[:len(l)-2], nil
}

// bulkBody reads the body announced by a "$n" (or "=n", "!n") line.
func (p *respReader) bulkBody(line []byte) ([]byte, error) {
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil {
		return nil, fmt.Errorf("bench: bad RESP length %q", line)
	}
	if n < 0 {
		return nil, nil
	}
	var body []byte
	if n+2 <= p.r.Size() {
		if body, err = p.r.Peek(n + 2); err != nil {
			return nil, err
		}
		_, _ = p.r.Discard(n + 2)
	} else {
		body = make([]byte, n+2)
		if _, err = readFull(p.r, body); err != nil {
			return nil, err
		}
	}
	return body[:n], nil
}

// elem reads one element of an array: a bulk or simple string's bytes,
// valid until the next read; other values are skipped and give nil.
func (p *respReader) elem() ([]byte, error) {
	line, err := p.line()
	if err != nil {
		return nil, err
	}
	switch line[0] {
	case '$':
		return p.bulkBody(line)
	case '+':
		return line[1:], nil
	default:
		return nil, p.skipRest(line)
	}
}

// skipRest skips what follows the header line of a value.
func (p *respReader) skipRest(line []byte) error {
	switch line[0] {
	case '$', '=', '!':
		_, err := p.bulkBody(line)
		return err
	case '*', '>', '~', '%', '|':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return fmt.Errorf("bench: bad RESP aggregate %q", line)
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		return p.skipN(n)
	default: // + - : _ # , ( are one line
		return nil
	}
}

func (p *respReader) skipN(n int) error {
	for range max(n, 0) {
		line, err := p.line()
		if err != nil {
			return err
		}
		if err := p.skipRest(line); err != nil {
			return err
		}
	}
	return nil
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
