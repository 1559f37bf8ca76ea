#!/usr/bin/env bash
# Debian packages the test suite needs (real servers and a real browser), installed only when
# missing. Needs root (or sudo); on a machine where they are already present it does nothing.
set -euo pipefail

want=(postgresql chromium prometheus prometheus-alertmanager openssh-server buildah debootstrap)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages try to start their services; the tests start their own on loopback ports.
for svc in prometheus prometheus-alertmanager ssh; do
  $sudo service "$svc" stop >/dev/null 2>&1 || true
done
