<#
.SYNOPSIS
  Stops and removes the statebus Windows service.
.EXAMPLE
  .\uninstall-service.ps1 -ServiceName "MyMessageBus"
#>
param(
    [string]$ServiceName = "XStateNetMessageBus",
    [string]$BinPath = (Join-Path $PSScriptRoot "statebus.exe")
)
$ErrorActionPreference = "Stop"

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    Write-Error "Run this script as Administrator."
    exit 1
}
if (-not (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue)) {
    Write-Host "Service $ServiceName is not installed."
    exit 0
}
& $BinPath service uninstall --name $ServiceName
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
    Write-Error "Service $ServiceName is still registered (it may be marked for deletion until its handles close)."
    exit 1
}
Write-Host "Service $ServiceName removed."
exit 0
