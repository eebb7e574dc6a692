#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Checks the user and the system aid.service as meson generates them for installation:
#   - ExecStart= names the daemon at its install path, with --user / --system;
#   - `systemd-analyze verify` accepts them without a single message (it exits 0 even for
#     unknown keys and unparsable values, so any output is a failure);
#   - `systemd-analyze security --offline` rates their exposure at most MAX (a change that
#     weakens the hardening fails here).
# verify also checks that ExecStart='s binary exists and that the Documentation= man pages
# are found. The daemon is not installed when the tests run, so the checked copy runs the
# daemon built in this tree instead (or /bin/true, said aloud, until the daemon is built),
# and man(1) looks in a folder holding this build's man pages.
#
# usage: verify-units.sh USER_UNIT SYSTEM_UNIT LIBEXECDIR BUILT_AID MANPAGE...
set -u

if ! command -v systemd-analyze > /dev/null; then
        echo "SKIP: systemd-analyze not installed"
        exit 77
fi
if ! command -v man > /dev/null; then
        echo "SKIP: man not installed (systemd-analyze verify checks Documentation= with it)"
        exit 77
fi

user_unit=$1
system_unit=$2
libexecdir=$3
built_aid=$4
shift 4

# Exposure ceilings, in tenths as --threshold takes them. Measured: system 0.5; user 1.1, of
# which 0.4 is "runs as root", an artefact of rating a user unit offline.
max_system=10
max_user=15

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for page in "$@"; do
        section=${page##*.}
        mkdir -p "$tmp/man/man$section"
        cp "$page" "$tmp/man/man$section/"
done
export MANPATH="$tmp/man"
# The user manager's verify needs a runtime directory; never the caller's real one.
mkdir -m 0700 "$tmp/runtime"
export XDG_RUNTIME_DIR="$tmp/runtime"

if [ -x "$built_aid" ]; then
        exe=$built_aid
else
        echo "note: $built_aid is not built yet; ExecStart= is checked with /bin/true in its place"
        exe=/bin/true
fi

failed=0

check_unit() {
        mode=$1 unit=$2 flag=$3 max=$4

        if ! grep -qx "ExecStart=$libexecdir/aid --$mode" "$unit"; then
                echo "FAIL: $unit: expected the line ExecStart=$libexecdir/aid --$mode"
                failed=1
                return
        fi
        mkdir -p "$tmp/$mode"
        copy="$tmp/$mode/aid.service"
        sed "s|^ExecStart=$libexecdir/aid |ExecStart=$exe |" "$unit" > "$copy"

        out=$(systemd-analyze ${flag:+"$flag"} verify "$copy" 2>&1)
        rc=$?
        if [ $rc -ne 0 ] || [ -n "$out" ]; then
                echo "FAIL: systemd-analyze ${flag:+$flag }verify $unit (exit $rc):"
                echo "$out"
                failed=1
        else
                echo "ok: systemd-analyze ${flag:+$flag }verify $unit"
        fi

        out=$(systemd-analyze ${flag:+"$flag"} security --offline=true --threshold="$max" "$copy" 2>&1)
        rc=$?
        summary=$(echo "$out" | grep 'Overall exposure level')
        if [ $rc -ne 0 ]; then
                echo "FAIL: $mode unit exposure above $max/10: ${summary:-$out}"
                failed=1
        else
                echo "ok: $mode unit: $summary"
        fi
}

check_unit user "$user_unit" --user "$max_user"
check_unit system "$system_unit" "" "$max_system"
exit $failed
