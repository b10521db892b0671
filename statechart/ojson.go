package statechart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// object is a JSON object that keeps its keys in document order, which
// XState's semantics depend on (transition priority, entry order).
type object struct {
	keys []string
	vals []any
}

func (o *object) get(key string) (any, bool) {
	for i, k := range o.keys {
		if k == key {
			return o.vals[i], true
		}
	}
	return nil, false
}

// maxDepth bounds the nesting of a document, so a hostile input cannot
// exhaust the stack of the recursive decoder or of the loader.
const maxDepth = 200

// decodeOrdered decodes one JSON document into *object, []any, string,
// float64, bool and nil values, keeping object keys in order. Duplicate
// keys and trailing data are errors.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &LoadError{Msg: "unexpected data after the top-level value"}
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, &LoadError{Path: path, Msg: "document nested too deeply"}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, &LoadError{Path: path, Msg: "invalid JSON: " + err.Error()}
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return decodeObject(dec, path, depth)
		}
		if t == '[' {
			return decodeArray(dec, path, depth)
		}
		return nil, &LoadError{Path: path, Msg: fmt.Sprintf("invalid JSON: unexpected %q", t)}
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return nil, &LoadError{Path: path, Msg: "number out of range: " + t.String()}
		}
		return f, nil
	default:
		return t, nil // string, bool or nil
	}
}

func decodeObject(dec *json.Decoder, path string, depth int) (any, error) {
	o := &object{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &LoadError{Path: path, Msg: "invalid JSON: " + err.Error()}
		}
		key, ok := tok.(string)
		if !ok {
			return nil, &LoadError{Path: path, Msg: "invalid JSON: object key is not a string"}
		}
		if _, dup := o.get(key); dup {
			return nil, &LoadError{Path: joinPath(path, key), Msg: "duplicate key"}
		}
		v, err := decodeValue(dec, joinPath(path, key), depth+1)
		if err != nil {
			return nil, err
		}
		o.keys = append(o.keys, key)
		o.vals = append(o.vals, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, &LoadError{Path: path, Msg: "invalid JSON: " + err.Error()}
	}
	return o, nil
}

func decodeArray(dec *json.Decoder, path string, depth int) (any, error) {
	list := []any{}
	for i := 0; dec.More(); i++ {
		v, err := decodeValue(dec, fmt.Sprintf("%s/%d", path, i), depth+1)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, &LoadError{Path: path, Msg: "invalid JSON: " + err.Error()}
	}
	return list, nil
}

// joinPath appends key to a JSON Pointer (RFC 6901).
func joinPath(path, key string) string {
	key = strings.ReplaceAll(key, "~", "~0")
	key = strings.ReplaceAll(key, "/", "~1")
	return path + "/" + key
}

// plain converts a decoded value to the shapes encoding/json produces
// (map[string]any for objects), for context values and parameters.
func plain(v any) any {
	switch t := v.(type) {
	case *object:
		m := make(map[string]any, len(t.keys))
		for i, k := range t.keys {
			m[k] = plain(t.vals[i])
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = plain(x)
		}
		return out
	default:
		return v
	}
}

// typeName names a decoded value's JSON type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case *object, map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
