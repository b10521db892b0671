#!/usr/bin/env bash
# Installs what statebus-bench needs besides Go: redis-server from Debian's
# packages (the Redis peer). NATS is built from the Go module proxy by the
# tool itself. Safe to run again.
set -euo pipefail
if command -v redis-server >/dev/null; then
  echo "redis-server: $(redis-server --version)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server
# The package starts a system instance where systemd runs; the tool starts
# its own on a private unix socket and does not need it.
echo "redis-server: $(redis-server --version)"
