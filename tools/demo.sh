#!/usr/bin/env bash
# The main job, for a newcomer: installs what aid needs, builds it, starts the aid daemon on a
# private D-Bus session bus (so it never disturbs a running desktop) and asks it real questions
# through aidctl: its status, the models it found, and a real generation with the default text
# model (greedy, 32 tokens).
#
# The text model, in this order: the one aid.conf names (DefaultText=), else one aid finds in
# ~/.local/share/aid/models, /usr/share/aid/models, /var/lib/aid/models or the stores of other
# local tools (Ollama, the Hugging Face cache, LM Studio), else a tiny model with random weights
# that this script writes once with tools/aid-make-model into ~/.cache/aid/demo: aid then
# really runs it, but its text means nothing, and the script says so and how to add a real one.
# The project's test fixtures (../shared/fixtures) are random-weight models too and are not
# used here. Extra directories: AID_MODEL_DIRS="dir1;dir2" tools/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

tools/install-deps.sh

build=build
[ -f "$build/build.ninja" ] || meson setup "$build"
ninja -C "$build" daemon/aid cli/aidctl tools/aid-make-model

work=$(mktemp -d /tmp/aid-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

cache="${XDG_CACHE_HOME:-$HOME/.cache}/aid/demo"
dirs="~/.local/share/aid/models;/usr/share/aid/models;/var/lib/aid/models"
[ -n "${AID_MODEL_DIRS:-}" ] && dirs="$dirs;$AID_MODEL_DIRS"
# Run from the build tree, aid would look for its policy in /usr/share/aid/policy.d, where
# nothing is installed: point it at the source tree's default policy (text allowed).
write_conf() {
	cat > "$1" <<CONF
[Models]
Directories=$2
ScanUserStores=true
[Policy]
Directories=$top/policy
CONF
}
write_conf "$work/aid.conf" "$dirs"
# Only used when the user has no text model: a model in aid's own directories would otherwise
# be preferred to the user's Ollama or LM Studio models on every later run.
write_conf "$work/aid-tiny.conf" "$dirs;$cache"

# Runs inside the private bus: start aid, wait for its name, ask, stop.
cat > "$work/session.sh" <<'SESSION'
set -u
start_aid() {
	"$AID" --config="$1" 2>>"$WORK/aid.log" &
	aid_pid=$!
	for _ in $(seq 100); do
		if gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
			--method org.freedesktop.DBus.NameHasOwner org.aid.Daemon1 2>/dev/null | grep -q true; then
			return 0
		fi
		if ! kill -0 "$aid_pid" 2>/dev/null; then
			echo "demo: aid exited at start:" >&2; cat "$WORK/aid.log" >&2; exit 1
		fi
		sleep 0.1
	done
}
stop_aid() { kill -TERM "$aid_pid"; wait "$aid_pid"; }
text_model() { "$AIDCTL" status | awk '$1 == "text" { print $2; exit }'; }

start_aid "$WORK/aid.conf"
text=$(text_model)
tiny="$CACHE/aid-tiny-random.gguf"
if [ -z "$text" ] || [ "$text" = none ]; then
	echo "demo: no text model in your model folders, Ollama, LM Studio or the Hugging Face cache;"
	echo "demo: using a tiny model with random weights instead ($tiny)."
	if [ ! -f "$tiny" ]; then
		mkdir -p "$CACHE"
		"$MAKE_MODEL" --shape tiny --type Q8_0 --quiet "$tiny"
	fi
	stop_aid
	start_aid "$WORK/aid-tiny.conf"
	text=$(text_model)
fi
rc=0
echo "\$ aidctl status"; "$AIDCTL" status || rc=$?
echo; echo "\$ aidctl models"; "$AIDCTL" models || rc=$?
prompt="Once upon a time"
echo; echo "\$ aidctl generate --temperature 0 --max-tokens 32 '$prompt'"
"$AIDCTL" generate --temperature 0 --max-tokens 32 "$prompt" || rc=$?
info=$("$AIDCTL" model "$text" 2>/dev/null || true)
if [ "$(awk '/^Path:/ { print $2 }' <<<"$info")" = "$tiny" ] || grep -q "random weights" <<<"$info"; then
	cat <<NOTE

NOTE: the text above comes from '$text', a model with RANDOM WEIGHTS: aid really ran it
(tokenizer, forward pass, sampling, streaming over D-Bus), but its text is not meaningful.
For real text, give aid a real model, for example:
  - put a GGUF file (e.g. a Llama 3.2 1B Instruct or Gemma 3 1B Q4_K_M) in ~/.local/share/aid/models
  - or keep using your Ollama, LM Studio or Hugging Face cache models: aid finds them itself
and run tools/demo.sh again.
NOTE
fi
stop_aid || rc=$?
echo; echo "aid's log:"; sed 's/^/  /' "$WORK/aid.log"
exit $rc
SESSION

AID="$top/$build/daemon/aid" AIDCTL="$top/$build/cli/aidctl" MAKE_MODEL="$top/$build/tools/aid-make-model" \
	WORK="$work" CACHE="$cache" dbus-run-session -- bash "$work/session.sh"
