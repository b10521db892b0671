package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Bridge is the "Bridge" section: the link to the buses of other hosts
// through NATS (see docs/scale-out.md). It is off while Nats.Url is empty.
type Bridge struct {
	HostName         string     // Bridge.HostName: "" (the OS host name); unique per host
	HeartbeatSeconds int        // Bridge.HeartbeatSeconds: 1
	DeadAfterSeconds int        // Bridge.DeadAfterSeconds: 3; a host silent this long is dead
	Nats             BridgeNats // Bridge.Nats
}

// BridgeNats is the "Bridge.Nats" section: how to reach NATS.
type BridgeNats struct {
	URL       string // Bridge.Nats.Url: "" (bridge off); comma-separated server URLs
	CredsFile string // Bridge.Nats.CredsFile: "" ; a .creds file (JWT and NKey seed)
	NKeyFile  string // Bridge.Nats.NKeyFile: "" ; an NKey seed file
	User      string // Bridge.Nats.User: "" ; with Password
	Password  string // Bridge.Nats.Password: "" ; never logged
	Token     string // Bridge.Nats.Token: "" ; never logged
	TLSCA     string // Bridge.Nats.TlsCa: "" (system roots); PEM CA file
	TLSCert   string // Bridge.Nats.TlsCert: "" ; PEM client certificate, with TlsKey
	TLSKey    string // Bridge.Nats.TlsKey: ""
	Prefix    string // Bridge.Nats.Prefix: "statebus"; subjects and the bucket name
	Replicas  int    // Bridge.Nats.Replicas: 1; replicas of the ownership bucket
}

// Enabled reports whether the bridge is configured.
func (b *Bridge) Enabled() bool { return b.Nats.URL != "" }

// ResolvedHostName is HostName, or the OS host name when it is empty.
func (b *Bridge) ResolvedHostName() (string, error) {
	if b.HostName != "" {
		return b.HostName, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("config: Bridge.HostName is not set and the OS host name is unknown: %w", err)
	}
	return h, nil
}

func defaultBridge() Bridge {
	return Bridge{HeartbeatSeconds: 1, DeadAfterSeconds: 3, Nats: BridgeNats{Prefix: "statebus", Replicas: 1}}
}

func (b *Bridge) validate() error {
	if !b.Enabled() {
		return nil
	}
	switch {
	case b.HeartbeatSeconds < 1:
		return fmt.Errorf("config: Bridge.HeartbeatSeconds is %d; it must be at least 1", b.HeartbeatSeconds)
	case b.DeadAfterSeconds < 2*b.HeartbeatSeconds:
		return fmt.Errorf("config: Bridge.DeadAfterSeconds is %d; it must be at least twice HeartbeatSeconds", b.DeadAfterSeconds)
	case b.Nats.Replicas < 1 || b.Nats.Replicas > 5:
		return fmt.Errorf("config: Bridge.Nats.Replicas is %d; it must be 1 to 5", b.Nats.Replicas)
	case (b.Nats.User == "") != (b.Nats.Password == ""):
		return errors.New("config: set Bridge.Nats.User and Bridge.Nats.Password together")
	case (b.Nats.TLSCert == "") != (b.Nats.TLSKey == ""):
		return errors.New("config: set Bridge.Nats.TlsCert and Bridge.Nats.TlsKey together")
	case b.Nats.Prefix == "" || strings.ContainsAny(b.Nats.Prefix, ". *>\t\r\n"):
		return fmt.Errorf("config: Bridge.Nats.Prefix %q must be one NATS subject token", b.Nats.Prefix)
	case strings.ContainsFunc(b.HostName, func(r rune) bool { return r < 0x20 || r == 0x7f }) || len(b.HostName) > 200:
		return errors.New("config: Bridge.HostName must be at most 200 bytes without control characters")
	}
	return nil
}

// applyBridge overlays the Bridge section.
func (c *Config) applyBridge(raw json.RawMessage) ([]string, error) {
	var section map[string]json.RawMessage
	if err := json.Unmarshal(raw, &section); err != nil {
		return nil, errors.New("Bridge must be an object")
	}
	b := &c.Bridge
	ints := map[string]*int{
		"heartbeatseconds": &b.HeartbeatSeconds,
		"deadafterseconds": &b.DeadAfterSeconds,
	}
	strs := map[string]*string{"hostname": &b.HostName}
	var warnings []string
	for key, v := range section {
		lk := strings.ToLower(key)
		switch {
		case ints[lk] != nil:
			n, err := intValue(v)
			if err != nil {
				return warnings, fmt.Errorf("Bridge.%s: %w", key, err) //lint:ignore ST1005 starts with the key
			}
			*ints[lk] = n
		case strs[lk] != nil:
			if err := json.Unmarshal(v, strs[lk]); err != nil {
				return warnings, fmt.Errorf("Bridge.%s must be a string", key) //lint:ignore ST1005 starts with the key
			}
		case lk == "nats":
			w, err := b.Nats.apply(v)
			warnings = append(warnings, w...)
			if err != nil {
				return warnings, err
			}
		default:
			warnings = append(warnings, fmt.Sprintf("unknown setting Bridge.%s ignored", key))
		}
	}
	return warnings, nil
}

func (n *BridgeNats) apply(raw json.RawMessage) ([]string, error) {
	var section map[string]json.RawMessage
	if err := json.Unmarshal(raw, &section); err != nil {
		return nil, errors.New("Bridge.Nats must be an object")
	}
	strs := map[string]*string{
		"url": &n.URL, "credsfile": &n.CredsFile, "nkeyfile": &n.NKeyFile,
		"user": &n.User, "password": &n.Password, "token": &n.Token,
		"tlsca": &n.TLSCA, "tlscert": &n.TLSCert, "tlskey": &n.TLSKey, "prefix": &n.Prefix,
	}
	var warnings []string
	for key, v := range section {
		lk := strings.ToLower(key)
		switch {
		case strs[lk] != nil:
			if err := json.Unmarshal(v, strs[lk]); err != nil {
				return warnings, fmt.Errorf("Bridge.Nats.%s must be a string", key)
			}
		case lk == "replicas":
			r, err := intValue(v)
			if err != nil {
				return warnings, fmt.Errorf("Bridge.Nats.%s: %w", key, err)
			}
			n.Replicas = r
		default:
			warnings = append(warnings, fmt.Sprintf("unknown setting Bridge.Nats.%s ignored", key))
		}
	}
	return warnings, nil
}

// bridgeRestartRequired lists the Bridge settings that differ; all of them
// take effect after a restart.
func bridgeRestartRequired(old, new Bridge) []string {
	if old == new {
		return nil
	}
	return []string{"Bridge"}
}
