package service

import (
	"bytes"
	"encoding/xml"
	"strings"
	"text/template"
)

// LaunchdPlist renders a launchd property list that runs the bus and
// keeps it alive (restarted whenever it exits).
func LaunchdPlist(o Options) (string, error) {
	if err := o.fill(); err != nil {
		return "", err
	}
	args := []string{o.Executable, "serve"}
	if o.ConfigFile != "" {
		args = append(args, "--config", o.ConfigFile)
	}
	args = append(args, o.ServeArgs...)
	var b bytes.Buffer
	err := plistTemplate.Execute(&b, struct {
		Options
		Label string
		Args  []string
		Run   bool
	}{o, LaunchdLabel(o.Name), args, o.Startup == Automatic})
	return b.String(), err
}

// LaunchdLabel is the job label for a service name.
func LaunchdLabel(name string) string {
	return "io.statebus." + strings.ToLower(name)
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

var plistTemplate = template.Must(template.New("plist").Funcs(template.FuncMap{"x": xmlEscape}).Parse(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by "statebus service install": {{x .DisplayName}}. -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{{x .Label}}</string>
	<key>ProgramArguments</key>
	<array>
{{- range .Args}}
		<string>{{x .}}</string>
{{- end}}
	</array>
	<key>RunAtLoad</key>
	<{{if .Run}}true{{else}}false{{end}}/>
	<key>KeepAlive</key>
	<true/>
	<key>Disabled</key>
	<{{if eq .Startup "disabled"}}true{{else}}false{{end}}/>
{{- if .User}}
	<key>UserName</key>
	<string>{{x .User}}</string>
{{- end}}
{{- if .Group}}
	<key>GroupName</key>
	<string>{{x .Group}}</string>
{{- end}}
	<key>ProcessType</key>
	<string>Background</string>
	<key>StandardOutPath</key>
	<string>/var/log/{{x .Name}}.log</string>
	<key>StandardErrorPath</key>
	<string>/var/log/{{x .Name}}.log</string>
</dict>
</plist>
`))
