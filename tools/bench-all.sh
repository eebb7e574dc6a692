#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The measurements behind BENCHMARKS.md, one after the other, on a quiet machine:
#   tools/bench-all.sh BUILD_DIR MODELS_DIR OUT_DIR
# BUILD_DIR: a build of this tree (meson setup --buildtype=debugoptimized). MODELS_DIR: where the
# random-weight benchmark models live; missing ones are made with aid-make-model (about 6.4 GB
# in all). OUT_DIR: one text file per measurement, plus info.txt (commit, load average, times).
# Runs decode for Llama-3.2-1B and Gemma-3-1B shapes in Q4_0, Q8_0, Q4_K, Q4_K_M and Q5_K_M (the
# mixtures most published files use), prefill of 512 tokens, 4 sequences in the engine (Q4_0,
# Q4_K_M), decode after 2048 cached positions (1 and 4 sequences),
# then aid-load over a private dbus-daemon (1 and 4 clients, and a short request's time to
# first token while a 2000-token prompt runs). About 8 minutes.
# Speed on a VM moves with its neighbours: run it twice, and compare runs, not single numbers.
set -eu

if [ $# -ne 3 ]; then
        echo "usage: $0 BUILD_DIR MODELS_DIR OUT_DIR" >&2
        exit 2
fi
B=$(realpath "$1")
M=$(realpath -m "$2")
O=$(realpath -m "$3")
I=$B/tools/aid-infer
L=$B/tools/aid-load
for f in "$I" "$L" "$B/tools/aid-make-model" "$B/daemon/aid"; do
        [ -x "$f" ] || { echo "$0: $f is missing: build the tree in $B first" >&2; exit 1; }
done
command -v dbus-daemon >/dev/null || { echo "$0: dbus-daemon is needed (tools/install-deps.sh)" >&2; exit 1; }
mkdir -p "$M" "$O"

for m in llama-3.2-1b gemma-3-1b; do
        for t in Q4_0 Q8_0 Q4_K Q4_K_M Q5_K_M; do
                if [ ! -f "$M/$m-$t.gguf" ]; then
                        echo "making $M/$m-$t.gguf"
                        "$B/tools/aid-make-model" --shape $m --type $t --quiet "$M/$m-$t.gguf"
                fi
        done
done

echo "start $(date -u) load $(cat /proc/loadavg)" > "$O/info.txt"
git -C "$(dirname "$0")/.." log --oneline -1 >> "$O/info.txt" 2>/dev/null || true

for m in llama-3.2-1b gemma-3-1b; do
        for t in Q4_0 Q8_0 Q4_K Q4_K_M Q5_K_M; do
                echo "decode $m $t"
                "$I" bench "$M/$m-$t.gguf" -p 0 -n 64 -t 2 -r 3 > "$O/decode-$m-$t.txt" 2>&1
        done
done
for m in llama-3.2-1b gemma-3-1b; do
        echo "prefill $m"
        "$I" bench "$M/$m-Q4_0.gguf" -p 512 -n 0 -t 2 -r 2 > "$O/prefill-$m-Q4_0.txt" 2>&1
done
echo "batch of 4 in the engine"
"$I" bench "$M/llama-3.2-1b-Q4_0.gguf" -p 0 -n 64 -s 4 -t 2 -r 2 --no-gemm > "$O/batch4-llama.txt" 2>&1
"$I" bench "$M/llama-3.2-1b-Q4_K_M.gguf" -p 0 -n 64 -s 4 -t 2 -r 2 --no-gemm > "$O/batch4-llama-Q4_K_M.txt" 2>&1
echo "decode at a depth of 2048, 1 and 4 sequences"
"$I" bench "$M/llama-3.2-1b-Q4_0.gguf" -p 0 -n 32 -d 2048 -s 4 -t 2 -r 2 --no-gemm > "$O/depth2048-llama.txt" 2>&1

# Over D-Bus: a private bus, aid with its own configuration and only the llama Q4_0 file.
work=$(mktemp -d)
trap 'kill $aid_pid $bus_pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/models"
ln -s "$M/llama-3.2-1b-Q4_0.gguf" "$work/models/"
cat > "$work/aid.conf" <<EOF
[Models]
Directories=$work/models
ScanUserStores=false
[Policy]
Directories=$(realpath "$(dirname "$0")/../policy")
[Text]
Threads=2
ContextSize=8192
EOF
export DBUS_SESSION_BUS_ADDRESS
DBUS_SESSION_BUS_ADDRESS=$(dbus-daemon --session --fork --print-address=1 --print-pid=3 3>"$work/bus.pid" | head -1)
bus_pid=$(cat "$work/bus.pid")
"$B/daemon/aid" --config="$work/aid.conf" 2>"$O/aid.log" &
aid_pid=$!
sleep 2
"$L" --clients 1 --max-tokens 8 --prompt "Hello" >/dev/null 2>&1 # loads the model
{
        prompt="The quick brown fox jumps over the lazy dog"
        for n in 1 4; do
                echo "== $n clients x 1 request, 256 tokens"
                "$L" --clients $n --requests 1 --max-tokens 256 --bus-floor --prompt "$prompt"
        done
        for n in 1 4; do
                echo "== $n clients x 2 requests, 64 tokens"
                "$L" --clients $n --requests 2 --max-tokens 64 --prompt "$prompt"
        done
        echo "== long prompt"
        "$L" --clients 1 --max-tokens 16 --prompt "Hello there" --long-prompt-tokens 1000
} > "$O/load.txt" 2>&1
kill -TERM $aid_pid
wait $aid_pid || true
echo "end $(date -u)" >> "$O/info.txt"
echo "results in $O"
