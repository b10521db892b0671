package service

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
)

// SystemdUnit renders the systemd unit for o. The bus runs in the
// foreground with Type=notify and tells systemd when it is ready; systemd
// restarts it on failure, gives it a runtime directory for its socket and
// confines it. Clients find the socket at
// /run/<name>/CoreFxPipe_<pipe>: set TMPDIR=/run/<name>/ for .NET clients,
// or give the Go client and the CLI that path.
func SystemdUnit(o Options) (string, error) {
	if err := o.fill(); err != nil {
		return "", err
	}
	var b bytes.Buffer
	err := unitTemplate.Execute(&b, struct {
		Options
		ExecStart string
		Socket    string
	}{o, execStart(o), SystemdSocket(o)})
	return b.String(), err
}

// SystemdSocket is where the unit's bus listens.
func SystemdSocket(o Options) string {
	name := o.Name
	if name == "" {
		name = DefaultName
	}
	pipe := o.PipeName
	if pipe == "" {
		pipe = "XStateNet.MessageBus"
	}
	return "/run/" + name + "/CoreFxPipe_" + pipe
}

func execStart(o Options) string {
	args := []string{quoteArg(o.Executable), "serve", "--socket", quoteArg(SystemdSocket(o))}
	if o.ConfigFile != "" {
		args = append(args, "--config", quoteArg(o.ConfigFile))
	}
	if o.Group != "" {
		args = append(args, "--socket-mode", "0660")
	}
	for _, a := range o.ServeArgs {
		args = append(args, quoteArg(a))
	}
	return strings.Join(args, " ")
}

// quoteArg quotes a word for a systemd command line when needed.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\$;%") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `$$`, `%`, `%%`)
	return `"` + r.Replace(s) + `"`
}

var unitTemplate = template.Must(template.New("unit").Parse(`# Written by "statebus service install". Reinstall rather than edit.
[Unit]
Description={{.DisplayName}}
After=local-fs.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={{.ExecStart}}
Restart=on-failure
RestartSec=2s
TimeoutStopSec=30s
{{- if .User}}
User={{.User}}
{{- end}}
{{- if .Group}}
Group={{.Group}}
{{- end}}
RuntimeDirectory={{.Name}}
RuntimeDirectoryMode={{if .Group}}0750{{else}}0700{{end}}
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
CapabilityBoundingSet=

[Install]
WantedBy=multi-user.target
`))

// unitComment explains the socket in the installer's output.
func unitComment(o Options) string {
	return fmt.Sprintf("The bus listens on %s; .NET clients: set TMPDIR=/run/%s/ (or use that path as the pipe name).", SystemdSocket(o), o.Name)
}
