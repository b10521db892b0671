package config

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Reload is the outcome of reloading after a change: the new Config and
// its warnings, or the error that made the reload keep the old one.
type Reload struct {
	Config   Config
	Warnings []string
	Err      error
}

// Watch reloads the sources whenever one of their files changes and calls
// fn with the result, until ctx ends. It watches the files' directories,
// not the files, because editors replace a file rather than write it in
// place. Bursts of events are coalesced (debounce). fn runs on Watch's
// goroutine. Watch returns once the watch is set up, or with its error.
func Watch(ctx context.Context, s Sources, debounce time.Duration, fn func(Reload)) error {
	files := s.Files()
	if len(files) == 0 {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	watched := map[string]bool{}
	names := map[string]bool{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			w.Close()
			return err
		}
		names[abs] = true
		if dir := filepath.Dir(abs); !watched[dir] {
			if err := w.Add(dir); err != nil {
				w.Close()
				return err
			}
			watched[dir] = true
		}
	}
	go func() {
		defer w.Close()
		var timer *time.Timer
		var fire <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				abs, _ := filepath.Abs(ev.Name)
				if !names[abs] || ev.Op == fsnotify.Chmod {
					continue
				}
				if timer == nil {
					timer = time.NewTimer(debounce)
				} else {
					timer.Reset(debounce)
				}
				fire = timer.C
			case <-fire:
				fire = nil
				c, warnings, err := Load(s)
				fn(Reload{Config: c, Warnings: warnings, Err: err})
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				fn(Reload{Err: err})
			}
		}
	}()
	return nil
}

// RestartRequired lists the settings that differ between old and new
// but only take effect after a restart.
func RestartRequired(old, new Config) []string {
	var keys []string
	if old.PipeName != new.PipeName {
		keys = append(keys, "MessageBus.PipeName")
	}
	if old.SocketPath != new.SocketPath {
		keys = append(keys, "MessageBus.SocketPath")
	}
	if old.SocketMode != new.SocketMode {
		keys = append(keys, "MessageBus.SocketMode")
	}
	if old.HTTPAddress != new.HTTPAddress {
		keys = append(keys, "MessageBus.HttpAddress")
	}
	return append(keys, bridgeRestartRequired(old.Bridge, new.Bridge)...)
}
