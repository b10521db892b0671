package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.PipeName != "XStateNet.MessageBus" || c.MaxConnections != 100 || c.HealthCheckIntervalSeconds != 30 || c.MaxMessageBytes != 1<<20 {
		t.Fatalf("defaults differ from the original's: %+v", c)
	}
}

func TestLoadFileDotNetStyle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appsettings.json")
	os.WriteFile(path, []byte("\xEF\xBB\xBF"+`{
  // .NET allows comments
  "Logging": { "LogLevel": { "Default": "Warning", "XStateNet.InterProcess.Service": "Debug" } },
  /* and block comments */
  "messagebus": {
    "pipeName": "XStateNet.MessageBus.Prod",
    "MaxConnections": "500",
    "HealthCheckIntervalSeconds": 60,
    "SocketMode": 660,
    "SomethingNew": true,
  },
  "Unrelated": {"x": "// not a comment"}
}`), 0o600)
	c, warnings, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.PipeName != "XStateNet.MessageBus.Prod" || c.MaxConnections != 500 || c.HealthCheckIntervalSeconds != 60 || c.SocketMode != 0o660 || c.LogLevels["Default"] != "Warning" || c.LogLevels["XStateNet.InterProcess.Service"] != "Debug" {
		t.Fatalf("loaded %+v", c)
	}
	if c.MaxMessageBytes != Default().MaxMessageBytes {
		t.Fatal("absent key did not keep its default")
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "SomethingNew") {
		t.Fatalf("warnings %v", warnings)
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, want string }{
		"syntax":     {`{"MessageBus": {`, "not a JSON object"},
		"notobject":  {`{"MessageBus": 3}`, "MessageBus must be an object"},
		"int":        {`{"MessageBus": {"MaxConnections": "many"}}`, "MaxConnections"},
		"float":      {`{"MessageBus": {"MaxConnections": 1.5}}`, "MaxConnections"},
		"zero":       {`{"MessageBus": {"MaxConnections": 0}}`, "at least 1"},
		"world":      {`{"MessageBus": {"SocketMode": "0666"}}`, "world-writable"},
		"owner":      {`{"MessageBus": {"SocketMode": "0060"}}`, "owner read/write"},
		"octal":      {`{"MessageBus": {"SocketMode": "0x1ff"}}`, "octal"},
		"pipe":       {`{"MessageBus": {"PipeName": ""}}`, "PipeName"},
		"pipechar":   {`{"MessageBus": {"PipeName": "a\\b"}}`, "PipeName"},
		"level":      {`{"Logging": {"LogLevel": {"Default": "Loud"}}}`, "Loud"},
		"smallline":  {`{"MessageBus": {"MaxMessageBytes": 10}}`, "MaxMessageBytes"},
		"stringtype": {`{"MessageBus": {"PipeName": 5}}`, "must be a string"},
	} {
		path := filepath.Join(dir, name+".json")
		os.WriteFile(path, []byte(tc.body), 0o600)
		_, _, err := LoadFile(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
	}
	if _, _, err := LoadFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestStripJSONC(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,}`:                 `{"a":1}`,
		`[1,2, ]`:                  `[1,2 ]`,
		`{"s":"a//b /* c */ d,}"}`: `{"s":"a//b /* c */ d,}"}`,
		"{\"a\":1 // x\n}":         "{\"a\":1 \n}",
		`{"a":/* x */1}`:           `{"a": 1}`,
		`{"e":"q\"//"}`:            `{"e":"q\"//"}`,
	} {
		if got := string(stripJSONC([]byte(in))); got != want {
			t.Errorf("stripJSONC(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzApply feeds arbitrary documents to the config parser: it must never
// panic, and whenever it accepts a document, a document of plain JSON
// (no comments) must be accepted exactly when encoding/json accepts it.
func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"MessageBus":{"PipeName":"x","MaxConnections":5}}`))
	f.Add([]byte(`{"Logging":{"LogLevel":{"Default":"Debug"}},}`))
	f.Add([]byte("{/* c */\"MessageBus\":{\"SocketMode\":\"0660\"} // t\n}"))
	f.Add([]byte(`{"MessageBus":{"MaxConnections":"1e3"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		_, err := c.Apply(data)
		if err == nil {
			_ = c.Validate()
		}
		plain := !strings.Contains(string(data), "/") && !strings.Contains(string(data), ",") && !strings.Contains(string(data), "\xEF")
		if plain && err == nil {
			var m map[string]json.RawMessage
			if json.Unmarshal(data, &m) != nil {
				t.Fatalf("accepted invalid JSON %q", data)
			}
		}
	})
}
