package conformance

import (
	"reflect"
	"testing"
)

// Every feature can guard a transcript line under its field name.
func TestEveryFeatureHasAName(t *testing.T) {
	ft := reflect.TypeFor[Features]()
	for i := range ft.NumField() {
		name := ft.Field(i).Name
		var f Features
		if _, known := f.flag(name); !known {
			t.Errorf("Features.%s cannot guard a transcript line: add it to Features.flag", name)
		}
		reflect.ValueOf(&f).Elem().Field(i).SetBool(true)
		if set, _ := f.flag(name); !set {
			t.Errorf("Features.flag(%q) does not read Features.%s", name, name)
		}
	}
}

func TestPattern(t *testing.T) {
	for _, c := range []struct {
		f     Features
		want  string
		line  string
		match bool
	}{
		{Features{}, `{"T":"<TIME>"}`, `{"T":"2025-10-04T02:24:27.1234567Z"}`, true},
		{Features{}, `{"T":"<TIME>"}`, `{"T":"2025-10-04T02:24:28Z"}`, true},
		{Features{}, `{"T":"<TIME>"}`, `{"T":"2025-10-04T02:24:28"}`, false},
		{Features{}, `{"N":<N>}`, `{"N":12}`, true},
		{Features{}, `{"N":<N>}`, `{"N":-1}`, false},
		{Features{}, `{"P":<PEERPID>,"U":<PEERUID>}`, `{"P":-1,"U":-1}`, true},
		{Features{}, `{"P":<PEERPID>}`, `{"P":42}`, false},
		{Features{PeerPID: true}, `{"P":<PEERPID>,"U":<PEERUID>}`, `{"P":42,"U":-1}`, true},
		{Features{PeerPID: true, PeerUID: true}, `{"P":<PEERPID>,"U":<PEERUID>}`, `{"P":42,"U":-1}`, false},
		{Features{}, `{"H":"<TEXT>"}`, `{"H":"be\"ta"}`, true},
		{Features{}, `{"H":"<TEXT>"}`, `{"H":"a","X":"b"}`, false},
		{Features{}, `{"a":"<b>.*"}`, `{"a":"<b>.*"}`, true},
		{Features{}, `{"a":"<b>.*"}`, `{"a":"<b>xx"}`, false},
		{Features{}, `{"a":1}`, `{"a":1} `, false},
	} {
		if got := pattern(c.f, c.want).MatchString(c.line); got != c.match {
			t.Errorf("pattern(%+v, %s) matches %s: %v, want %v", c.f, c.want, c.line, got, c.match)
		}
	}
}
