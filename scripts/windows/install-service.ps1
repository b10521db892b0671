<#
.SYNOPSIS
  Installs statebus as the Windows service the XStateNet guide describes.
.DESCRIPTION
  A thin wrapper over "statebus.exe service install": the service restarts
  on failure (SCM recovery actions), logs to the Event Log under the source
  XStateNet.InterProcess, and serves the named pipe \\.\pipe\<PipeName>.
  Run from an elevated PowerShell.
.EXAMPLE
  .\install-service.ps1
.EXAMPLE
  .\install-service.ps1 -ServiceName "MyMessageBus" -PipeName "MyApp.Events"
#>
param(
    [string]$ServiceName = "XStateNetMessageBus",
    [string]$DisplayName = "XStateNet InterProcess Message Bus",
    [string]$Description = "Message bus service for XStateNet InterProcess communication",
    [string]$BinPath = (Join-Path $PSScriptRoot "statebus.exe"),
    [ValidateSet("Automatic", "Manual", "Disabled")]
    [string]$StartupType = "Automatic",
    [string]$PipeName = "",
    [string]$ConfigFile = ""
)
$ErrorActionPreference = "Stop"

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    Write-Error "Run this script as Administrator."
    exit 1
}
if (-not (Test-Path $BinPath)) {
    Write-Error "statebus.exe not found at $BinPath (use -BinPath)."
    exit 1
}

if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
    Write-Host "Service $ServiceName exists; removing it first."
    & $BinPath service uninstall --name $ServiceName
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

$installArgs = @("service", "install", "--name", $ServiceName, "--display-name", $DisplayName,
                 "--description", $Description, "--startup", $StartupType.ToLower())
if ($PipeName -ne "") { $installArgs += @("--pipe", $PipeName) }
if ($ConfigFile -ne "") { $installArgs += @("--config", (Resolve-Path $ConfigFile).Path) }
& $BinPath @installArgs
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

if ($StartupType -eq "Automatic") {
    $deadline = (Get-Date).AddSeconds(30)
    while ((Get-Service -Name $ServiceName).Status -ne "Running") {
        if ((Get-Date) -gt $deadline) {
            Write-Error "Service $ServiceName did not reach Running; see: Get-EventLog -LogName Application -Source XStateNet.InterProcess -Newest 20"
            exit 1
        }
        Start-Sleep -Milliseconds 200
    }
}
Get-Service -Name $ServiceName | Format-Table Name, Status, StartType, DisplayName
& $BinPath health --pipe $(if ($PipeName -ne "") { $PipeName } else { "XStateNet.MessageBus" })
exit 0
