package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestConfigBridgeOffByDefault(t *testing.T) {
	c := Default()
	if c.Bridge.Enabled() {
		t.Fatal("bridge on by default")
	}
	if c.Bridge.HeartbeatSeconds != 1 || c.Bridge.DeadAfterSeconds != 3 || c.Bridge.Nats.Prefix != "statebus" || c.Bridge.Nats.Replicas != 1 {
		t.Fatalf("defaults: %+v", c.Bridge)
	}
	if h, err := c.Bridge.ResolvedHostName(); err != nil || h == "" {
		t.Fatalf("ResolvedHostName = %q, %v", h, err)
	}
}

func TestConfigBridgeFileAndEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appsettings.json")
	write(t, path, `{
	  // keys match ignoring case
	  "bridge": {
	    "HOSTNAME": "web-1", "heartbeatSeconds": "2", "DeadAfterSeconds": 6, "Colour": "blue",
	    "nats": {"url": "nats://a:4222,nats://b:4222", "CredsFile": "/etc/statebus/nats.creds",
	             "TlsCa": "ca.pem", "TlsCert": "c.pem", "TlsKey": "k.pem", "Replicas": 3, "Bogus": 1,},
	  },
	}`)
	c, warnings, err := Load(Sources{File: path, Environ: []string{"Bridge__Nats__Url=nats://env:4222", "bridge__hostname=web-2", "Bridge__Nats__Token=s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bridge
	want := Bridge{HostName: "web-2", HeartbeatSeconds: 2, DeadAfterSeconds: 6, Nats: BridgeNats{
		URL: "nats://env:4222", CredsFile: "/etc/statebus/nats.creds", Token: "s3cret",
		TLSCA: "ca.pem", TLSCert: "c.pem", TLSKey: "k.pem", Prefix: "statebus", Replicas: 3,
	}}
	if b != want {
		t.Fatalf("Bridge =\n%+v, want\n%+v", b, want)
	}
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "unknown setting Bridge.Colour") }) ||
		!slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "unknown setting Bridge.Nats.Bogus") }) {
		t.Fatalf("warnings: %q", warnings)
	}
	if keys := RestartRequired(Default(), c); !slices.Contains(keys, "Bridge") {
		t.Fatalf("RestartRequired = %v", keys)
	}
}

func TestConfigBridgeInvalid(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"Bridge":{"Nats":{"Url":"nats://x","User":"u"}}}`, "User and Bridge.Nats.Password"},
		{`{"Bridge":{"Nats":{"Url":"nats://x","TlsCert":"c"}}}`, "TlsCert and Bridge.Nats.TlsKey"},
		{`{"Bridge":{"HeartbeatSeconds":2,"DeadAfterSeconds":3,"Nats":{"Url":"nats://x"}}}`, "DeadAfterSeconds"},
		{`{"Bridge":{"Nats":{"Url":"nats://x","Prefix":"a.b"}}}`, "Prefix"},
		{`{"Bridge":{"Nats":{"Url":"nats://x","Replicas":7}}}`, "Replicas"},
		{`{"Bridge":{"Nats":{"Url":7}}}`, "Bridge.Nats.Url must be a string"},
		{`{"Bridge":[]}`, "Bridge must be an object"},
	} {
		path := filepath.Join(t.TempDir(), "appsettings.json")
		write(t, path, tc.doc)
		if _, _, err := Load(Sources{File: path}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.doc, err, tc.want)
		}
	}
	// Settings are not checked while the bridge is off.
	path := filepath.Join(t.TempDir(), "appsettings.json")
	write(t, path, `{"Bridge":{"Nats":{"User":"u"}}}`)
	if _, _, err := Load(Sources{File: path}); err != nil {
		t.Fatalf("bridge off: %v", err)
	}
}
