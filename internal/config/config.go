// Package config reads statebus's appsettings.json-style configuration
// into a typed Config with defaults and validation.
//
// The file has the shape of the original service's appsettings.json:
//
//	{
//	  "Logging":    { "LogLevel": { "Default": "Information" } },
//	  "MessageBus": { "PipeName": "XStateNet.MessageBus", "MaxConnections": 100 }
//	}
//
// As with .NET's JSON configuration provider, keys match ignoring case,
// numbers may be written as strings, and // and /* */ comments and
// trailing commas are allowed. Unknown keys under MessageBus are reported
// as warnings, not errors, so a file written for a newer version loads.
// The optional "Bridge" section links buses on several hosts over NATS.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the bus's configuration. Field comments give each key (under
// "MessageBus" unless stated) and its default.
type Config struct {
	PipeName                   string   // PipeName: "XStateNet.MessageBus"
	SocketPath                 string   // SocketPath: "" (derive from PipeName as .NET does)
	SocketMode                 uint32   // SocketMode: "0600" (octal string or number)
	MaxConnections             int      // MaxConnections: 100
	HealthCheckIntervalSeconds int      // HealthCheckIntervalSeconds: 30
	MaxMessageBytes            int      // MaxMessageBytes: 1048576
	MaxQueueBytes              int      // MaxQueueBytes: 4194304
	MaxMachinesPerConnection   int      // MaxMachinesPerConnection: 1000
	MaxPendingRequests         int      // MaxPendingRequests: 1000
	RequestTimeoutSeconds      int      // RequestTimeoutSeconds: 30
	WriteTimeoutSeconds        int      // WriteTimeoutSeconds: 30
	ShutdownTimeoutSeconds     int      // ShutdownTimeoutSeconds: 10
	IdleAlertMinutes           int      // IdleAlertMinutes: 5 (0 turns the alert off)
	ConnectionAlertPercent     int      // ConnectionAlertPercent: 80
	HTTPAddress                string   // HttpAddress: "" (off); e.g. "127.0.0.1:9475"
	MaxEventsPerSecond         int      // MaxEventsPerSecond: 0 (no limit)
	Token                      string   // Token: "" (none); never logged
	TokenFile                  string   // TokenFile: "" (none); the token is the file's first line
	SocketGroup                string   // SocketGroup: "" (the process's group); name or number
	AllowedUsers               []string // AllowedUsers: [] (anyone the socket mode lets in); names or uids
	AllowedGroups              []string // AllowedGroups: [] ; names or gids
	MonitorUsers               []string // MonitorUsers: [] (the bus's user and root); names or uids who may attach monitors
	MonitorGroups              []string // MonitorGroups: [] ; groups whose members may attach monitors

	// Bridge links this bus to other hosts' buses over NATS; the
	// "Bridge" section, off by default.
	Bridge Bridge

	// LogLevels maps log categories to level names (Logging.LogLevel).
	// "Default" applies where no longer category prefix matches.
	LogLevels map[string]string
}

// Default returns the configuration used when no file is given.
func Default() Config {
	return Config{
		PipeName:                   "XStateNet.MessageBus",
		SocketMode:                 0o600,
		MaxConnections:             100,
		HealthCheckIntervalSeconds: 30,
		MaxMessageBytes:            1 << 20,
		MaxQueueBytes:              4 << 20,
		MaxMachinesPerConnection:   1000,
		MaxPendingRequests:         1000,
		RequestTimeoutSeconds:      30,
		WriteTimeoutSeconds:        30,
		ShutdownTimeoutSeconds:     10,
		IdleAlertMinutes:           5,
		ConnectionAlertPercent:     80,
		LogLevels:                  map[string]string{"Default": "Information"},
		Bridge:                     defaultBridge(),
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if c.PipeName == "" && c.SocketPath == "" {
		return errors.New("config: MessageBus.PipeName must not be empty")
	}
	if strings.ContainsAny(c.PipeName, "\\\x00") {
		return errors.New("config: MessageBus.PipeName must not contain '\\' or NUL")
	}
	if c.SocketMode&^0o777 != 0 || c.SocketMode&0o600 != 0o600 {
		return fmt.Errorf("config: MessageBus.SocketMode %#o must be permission bits including owner read/write (0600)", c.SocketMode)
	}
	if c.SocketMode&0o002 != 0 {
		return fmt.Errorf("config: MessageBus.SocketMode %#o must not be world-writable", c.SocketMode)
	}
	for _, r := range []struct {
		name     string
		val, min int
	}{
		{"MaxConnections", c.MaxConnections, 1},
		{"HealthCheckIntervalSeconds", c.HealthCheckIntervalSeconds, 1},
		{"MaxMessageBytes", c.MaxMessageBytes, 1024},
		{"MaxQueueBytes", c.MaxQueueBytes, 1024},
		{"MaxMachinesPerConnection", c.MaxMachinesPerConnection, 1},
		{"MaxPendingRequests", c.MaxPendingRequests, 1},
		{"RequestTimeoutSeconds", c.RequestTimeoutSeconds, 1},
		{"WriteTimeoutSeconds", c.WriteTimeoutSeconds, 1},
		{"ShutdownTimeoutSeconds", c.ShutdownTimeoutSeconds, 1},
		{"IdleAlertMinutes", c.IdleAlertMinutes, 0},
		{"ConnectionAlertPercent", c.ConnectionAlertPercent, 1},
		{"MaxEventsPerSecond", c.MaxEventsPerSecond, 0},
	} {
		if r.val < r.min {
			return fmt.Errorf("config: MessageBus.%s is %d; it must be at least %d", r.name, r.val, r.min)
		}
	}
	if c.Token != "" && c.TokenFile != "" {
		return errors.New("config: set MessageBus.Token or MessageBus.TokenFile, not both")
	}
	if c.ConnectionAlertPercent > 100 {
		return fmt.Errorf("config: MessageBus.ConnectionAlertPercent is %d; it must be at most 100", c.ConnectionAlertPercent)
	}
	if err := c.Bridge.validate(); err != nil {
		return err
	}
	for cat, lvl := range c.LogLevels {
		if _, ok := LogLevels[strings.ToLower(lvl)]; !ok {
			return fmt.Errorf("config: Logging.LogLevel.%s %q is not one of Trace, Debug, Information, Warning, Error, Critical, None", cat, lvl)
		}
	}
	return nil
}

// RequestTimeout, WriteTimeout and ShutdownTimeout return the durations.
func (c *Config) RequestTimeout() time.Duration {
	return time.Duration(c.RequestTimeoutSeconds) * time.Second
}

// WriteTimeout is WriteTimeoutSeconds as a duration.
func (c *Config) WriteTimeout() time.Duration {
	return time.Duration(c.WriteTimeoutSeconds) * time.Second
}

// ShutdownTimeout is ShutdownTimeoutSeconds as a duration.
func (c *Config) ShutdownTimeout() time.Duration {
	return time.Duration(c.ShutdownTimeoutSeconds) * time.Second
}

// LogLevels maps .NET log level names (lower case) to a severity: Trace
// and Debug are -4, Information 0, Warning 4, Error 8, Critical 12, None
// 16 (the numbers are log/slog's levels).
var LogLevels = map[string]int{
	"trace": -4, "debug": -4, "information": 0, "info": 0,
	"warning": 4, "warn": 4, "error": 8, "critical": 12, "none": 16,
}

// LoadFile reads the file at path over the defaults and validates the
// result. It returns warnings for keys it ignored.
func LoadFile(path string) (Config, []string, error) {
	return Load(Sources{File: path})
}

// applyFile overlays the file at path; a missing optional file is skipped.
func (c *Config) applyFile(path string, optional bool) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	warnings, err := c.Apply(data)
	for i := range warnings {
		warnings[i] = path + ": " + warnings[i]
	}
	if err != nil {
		return warnings, fmt.Errorf("config: %s: %w", path, err)
	}
	return warnings, nil
}

// Apply overlays the settings in an appsettings.json document onto c,
// leaving absent keys as they are. It does not validate.
func (c *Config) Apply(data []byte) (warnings []string, err error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(stripJSONC(data), &root); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	for key, raw := range root {
		switch {
		case strings.EqualFold(key, "MessageBus"):
			w, err := c.applyMessageBus(raw)
			warnings = append(warnings, w...)
			if err != nil {
				return warnings, err
			}
		case strings.EqualFold(key, "Logging"):
			if err := c.applyLogging(raw); err != nil {
				return warnings, err
			}
		case strings.EqualFold(key, "Bridge"):
			w, err := c.applyBridge(raw)
			warnings = append(warnings, w...)
			if err != nil {
				return warnings, err
			}
		}
	}
	return warnings, nil
}

func (c *Config) applyMessageBus(raw json.RawMessage) ([]string, error) {
	var section map[string]json.RawMessage
	if err := json.Unmarshal(raw, &section); err != nil {
		return nil, errors.New("MessageBus must be an object")
	}
	ints := map[string]*int{
		"maxconnections":             &c.MaxConnections,
		"healthcheckintervalseconds": &c.HealthCheckIntervalSeconds,
		"maxmessagebytes":            &c.MaxMessageBytes,
		"maxqueuebytes":              &c.MaxQueueBytes,
		"maxmachinesperconnection":   &c.MaxMachinesPerConnection,
		"maxpendingrequests":         &c.MaxPendingRequests,
		"requesttimeoutseconds":      &c.RequestTimeoutSeconds,
		"writetimeoutseconds":        &c.WriteTimeoutSeconds,
		"shutdowntimeoutseconds":     &c.ShutdownTimeoutSeconds,
		"idlealertminutes":           &c.IdleAlertMinutes,
		"connectionalertpercent":     &c.ConnectionAlertPercent,
		"maxeventspersecond":         &c.MaxEventsPerSecond,
	}
	strs := map[string]*string{
		"pipename":    &c.PipeName,
		"socketpath":  &c.SocketPath,
		"httpaddress": &c.HTTPAddress,
		"token":       &c.Token,
		"tokenfile":   &c.TokenFile,
		"socketgroup": &c.SocketGroup,
	}
	lists := map[string]*[]string{
		"allowedusers":  &c.AllowedUsers,
		"allowedgroups": &c.AllowedGroups,
		"monitorusers":  &c.MonitorUsers,
		"monitorgroups": &c.MonitorGroups,
	}
	var warnings []string
	for key, v := range section {
		lk := strings.ToLower(key)
		switch {
		case ints[lk] != nil:
			n, err := intValue(v)
			if err != nil {
				return warnings, fmt.Errorf("MessageBus.%s: %w", key, err)
			}
			*ints[lk] = n
		case strs[lk] != nil:
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return warnings, fmt.Errorf("MessageBus.%s must be a string", key)
			}
			*strs[lk] = s
		case lists[lk] != nil:
			l, err := listValue(v)
			if err != nil {
				return warnings, fmt.Errorf("MessageBus.%s: %w", key, err)
			}
			*lists[lk] = l
		case lk == "socketmode":
			m, err := modeValue(v)
			if err != nil {
				return warnings, fmt.Errorf("MessageBus.%s: %w", key, err)
			}
			c.SocketMode = m
		default:
			warnings = append(warnings, fmt.Sprintf("unknown setting MessageBus.%s ignored", key))
		}
	}
	return warnings, nil
}

func (c *Config) applyLogging(raw json.RawMessage) error {
	var section struct {
		LogLevel map[string]string
	}
	if err := json.Unmarshal(raw, &section); err != nil {
		return errors.New("Logging.LogLevel must map categories to level names")
	}
	levels := make(map[string]string, len(c.LogLevels)+len(section.LogLevel))
	for k, v := range c.LogLevels {
		levels[k] = v
	}
	for k, v := range section.LogLevel {
		// Categories match ignoring case, as in .NET; keep one spelling.
		for old := range levels {
			if strings.EqualFold(old, k) {
				delete(levels, old)
			}
		}
		levels[k] = v
	}
	c.LogLevels = levels
	return nil
}

// intValue accepts a JSON integer or a string holding one, as .NET's
// configuration binder does.
func intValue(v json.RawMessage) (int, error) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer", v)
	}
	return n, nil
}

// listValue accepts a JSON array of strings or numbers, or one string
// with comma-separated items (as an environment variable gives it).
func listValue(v json.RawMessage) ([]string, error) {
	var items []any
	if err := json.Unmarshal(v, &items); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, fmt.Errorf("%s is not a list", v)
		}
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch x := it.(type) {
		case string:
			out = append(out, x)
		case float64:
			out = append(out, strconv.FormatFloat(x, 'f', -1, 64))
		default:
			return nil, fmt.Errorf("%s: items must be names or numbers", v)
		}
	}
	return out, nil
}

// ReadToken returns the shared token: Token, or the first line of
// TokenFile. It is "" when neither is set.
func (c *Config) ReadToken() (string, error) {
	if c.TokenFile == "" {
		return c.Token, nil
	}
	data, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("config: MessageBus.TokenFile: %w", err)
	}
	tok, _, _ := strings.Cut(string(data), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("config: MessageBus.TokenFile %s is empty", c.TokenFile)
	}
	return tok, nil
}

// modeValue accepts an octal string such as "0660" or "660", or a JSON
// number read as octal digits (660).
func modeValue(v json.RawMessage) (uint32, error) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 8, 32)
	if err != nil {
		return 0, fmt.Errorf("%s is not an octal file mode", v)
	}
	return uint32(n), nil
}

// stripJSONC removes // and /* */ comments and trailing commas outside
// strings, as .NET's configuration JSON reader allows them.
func stripJSONC(in []byte) []byte {
	in = bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(in) && in[j] != '"' {
				if in[j] == '\\' {
					j++
				}
				j++
			}
			end := min(j+1, len(in))
			out = append(out, in[i:end]...)
			i = end - 1
		case c == '/' && i+1 < len(in) && in[i+1] == '/':
			for i < len(in) && in[i] != '\n' {
				i++
			}
			i--
		case c == '/' && i+1 < len(in) && in[i+1] == '*':
			end := bytes.Index(in[i+2:], []byte("*/"))
			if end < 0 {
				return append(out, in[i:]...) // unterminated: let the parser fail
			}
			out = append(out, ' ')
			i += 2 + end + 1
		case c == '}' || c == ']':
			// Drop a comma that only whitespace separates from this bracket.
			k := len(out) - 1
			for k >= 0 && (out[k] == ' ' || out[k] == '\t' || out[k] == '\n' || out[k] == '\r') {
				k--
			}
			if k >= 0 && out[k] == ',' {
				out = append(out[:k], out[k+1:]...)
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	return out
}
