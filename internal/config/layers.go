package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sources names where configuration comes from. Later layers override
// earlier ones, as in .NET's Host.CreateApplicationBuilder: the defaults,
// File (appsettings.json), the environment's file next to it
// (appsettings.{Environment}.json, optional), then environment variables
// (MessageBus__MaxConnections, Bridge__Nats__Url, Logging__LogLevel__Default). Command-line
// flags are applied by the caller on top.
type Sources struct {
	File        string   // base file; "" for none (then no environment file either)
	Environment string   // "" means STATEBUS_ENVIRONMENT, else DOTNET_ENVIRONMENT, from Environ
	Environ     []string // KEY=VALUE pairs; nil means none
}

// EnvironmentName returns the environment the sources select.
func (s Sources) EnvironmentName() string {
	if s.Environment != "" {
		return s.Environment
	}
	for _, key := range []string{"STATEBUS_ENVIRONMENT", "DOTNET_ENVIRONMENT"} {
		if v := lookup(s.Environ, key); v != "" {
			return v
		}
	}
	return ""
}

// EnvironmentFile returns the environment's file for base:
// appsettings.json -> appsettings.Production.json.
func EnvironmentFile(base, env string) string {
	if base == "" || env == "" {
		return ""
	}
	ext := filepath.Ext(base)
	return strings.TrimSuffix(base, ext) + "." + env + ext
}

// Files returns the files the sources read, in order.
func (s Sources) Files() []string {
	if s.File == "" {
		return nil
	}
	files := []string{s.File}
	if f := EnvironmentFile(s.File, s.EnvironmentName()); f != "" {
		files = append(files, f)
	}
	return files
}

// Load builds and validates a Config from the sources. Errors name the
// file or environment variable and the key.
func Load(s Sources) (Config, []string, error) {
	c := Default()
	var warnings []string
	for i, f := range s.Files() {
		w, err := c.applyFile(f, i > 0)
		warnings = append(warnings, w...)
		if err != nil {
			return Config{}, warnings, err
		}
	}
	w, err := c.applyEnviron(s.Environ)
	warnings = append(warnings, w...)
	if err != nil {
		return Config{}, warnings, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, warnings, fmt.Errorf("%w (from %s)", err, s.describe())
	}
	return c, warnings, nil
}

func (s Sources) describe() string {
	parts := append(s.Files(), "the defaults and environment variables")
	return strings.Join(parts, ", ")
}

// applyEnviron overlays MessageBus__*, Bridge__*, Bridge__Nats__* and
// Logging__LogLevel__* variables.
func (c *Config) applyEnviron(environ []string) ([]string, error) {
	var warnings []string
	for _, kv := range environ {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		path := strings.Split(key, "__")
		if len(path) < 2 {
			continue
		}
		var doc map[string]any
		switch {
		case strings.EqualFold(path[0], "MessageBus") && len(path) == 2:
			doc = map[string]any{"MessageBus": map[string]any{path[1]: val}}
		case strings.EqualFold(path[0], "Bridge") && len(path) == 2:
			doc = map[string]any{"Bridge": map[string]any{path[1]: val}}
		case strings.EqualFold(path[0], "Bridge") && len(path) == 3 && strings.EqualFold(path[1], "Nats"):
			doc = map[string]any{"Bridge": map[string]any{"Nats": map[string]any{path[2]: val}}}
		case strings.EqualFold(path[0], "Logging") && len(path) == 3 && strings.EqualFold(path[1], "LogLevel"):
			doc = map[string]any{"Logging": map[string]any{"LogLevel": map[string]any{path[2]: val}}}
		default:
			continue
		}
		data, _ := json.Marshal(doc)
		w, err := c.Apply(data)
		for _, x := range w {
			warnings = append(warnings, "environment variable "+key+": "+x)
		}
		if err != nil {
			return warnings, fmt.Errorf("config: environment variable %s: %w", key, err)
		}
	}
	return warnings, nil
}

func lookup(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Environ returns the process environment, for Sources.Environ.
func Environ() []string { return os.Environ() }
