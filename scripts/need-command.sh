#!/usr/bin/env bash
# need-command.sh COMMAND PACKAGE: installs the Debian/Ubuntu PACKAGE when
# COMMAND is not on PATH (apt-get, with sudo unless root; `apt-get update`
# only if the first attempt fails). Used by the `setup-*` tasks.
set -euo pipefail
command="$1" package="$2"
if command -v "$command" >/dev/null; then
    exit 0
fi
sudo=""; if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
install() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package"; }
install || { $sudo apt-get update -q && install; }
