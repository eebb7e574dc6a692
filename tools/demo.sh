#!/usr/bin/env bash
# The main job, for a newcomer: installs what aid needs, builds it, starts the aid daemon on a
# private D-Bus session bus (so it never disturbs a running desktop) and asks it real questions
# through aidctl: its status and the models it found.
#
# Models: aid looks in ~/.local/share/aid/models, /usr/share/aid/models, /var/lib/aid/models and
# in the stores of other local tools (Ollama, the Hugging Face cache, LM Studio). When the
# project's conformance fixtures (../shared/fixtures) are beside this tree, their tiny test
# models are listed too. Extra directories: AID_MODEL_DIRS="dir1;dir2" tools/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

tools/install-deps.sh

build=build
[ -f "$build/build.ninja" ] || meson setup "$build"
ninja -C "$build" daemon/aid cli/aidctl

work=$(mktemp -d /tmp/aid-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

dirs="~/.local/share/aid/models;/usr/share/aid/models;/var/lib/aid/models"
fixtures=$(cd .. && pwd)/shared/fixtures
[ -d "$fixtures/models" ] && dirs="$dirs;$fixtures/models;$fixtures/whisper"
[ -n "${AID_MODEL_DIRS:-}" ] && dirs="$dirs;$AID_MODEL_DIRS"
cat > "$work/aid.conf" <<CONF
[Models]
Directories=$dirs
ScanUserStores=true
CONF

# Runs inside the private bus: start aid, wait for its name, ask, stop.
cat > "$work/session.sh" <<'SESSION'
set -u
"$AID" --config="$WORK/aid.conf" 2>"$WORK/aid.log" &
aid_pid=$!
for _ in $(seq 100); do
	if gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
		--method org.freedesktop.DBus.NameHasOwner org.aid.Daemon1 2>/dev/null | grep -q true; then
		break
	fi
	if ! kill -0 "$aid_pid" 2>/dev/null; then
		echo "demo: aid exited at start:" >&2; cat "$WORK/aid.log" >&2; exit 1
	fi
	sleep 0.1
done
echo "\$ aidctl status"; "$AIDCTL" status; rc=$?
echo; echo "\$ aidctl models"; "$AIDCTL" models || rc=$?
kill -TERM "$aid_pid"; wait "$aid_pid" || rc=$?
echo; echo "aid's log:"; sed 's/^/  /' "$WORK/aid.log"
exit $rc
SESSION

AID="$top/$build/daemon/aid" AIDCTL="$top/$build/cli/aidctl" WORK="$work" \
	dbus-run-session -- bash "$work/session.sh"
