#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and running aid needs.
# Idempotent: packages already present are skipped by apt-get. As root it runs
# apt-get itself; otherwise it prints the exact command to run.
set -euo pipefail

packages=(
	# build
	meson ninja-build pkg-config gcc clang clang-format
	# libraries
	libsystemd-dev libglib2.0-dev libjson-glib-dev libdnnl-dev
	libpipewire-0.3-dev
	# Unicode tables generated at build time for the tokenizers
	unicode-data
	# GObject-Introspection data for libaid (optional at build time)
	gobject-introspection libgirepository1.0-dev
	# tests: criterion, a private bus, unit checks, man page rendering, fuzzing
	libcriterion-dev dbus dbus-bin systemd groff-base man-db libfuzzer-14-dev
	libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages are installed"
	exit 0
fi

cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root: apt-get update && ${cmd[*]}" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
"${cmd[@]}"
