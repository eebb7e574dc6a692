#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every man page renders without a single warning, through groff directly (all warnings on)
# and through man(1) as users read it.
#
# usage: check-man.sh MANPAGE...
set -u

if ! command -v groff > /dev/null; then
        echo "SKIP: groff not installed"
        exit 77
fi
if ! command -v man > /dev/null; then
        echo "SKIP: man not installed"
        exit 77
fi
[ $# -gt 0 ] || { echo "usage: $0 MANPAGE..."; exit 2; }

failed=0
for page in "$@"; do
        page_failed=$failed
        err=$(groff -man -Tutf8 -ww -z "$page" 2>&1 > /dev/null)
        rc=$?
        if [ $rc -ne 0 ] || [ -n "$err" ]; then
                echo "FAIL: groff -man -ww $page:"
                echo "$err"
                failed=1
        fi
        # A terminal width, so that man does not depend on the one running the tests.
        err=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l -Tutf8 "$page" 2>&1 > /dev/null)
        rc=$?
        if [ $rc -ne 0 ] || [ -n "$err" ]; then
                echo "FAIL: man --warnings $page:"
                echo "$err"
                failed=1
        fi
        # The sections a reader looks for.
        sections="NAME SYNOPSIS DESCRIPTION OPTIONS FILES ENVIRONMENT EXAMPLES SEE_ALSO"
        case $page in
        *.1 | *.8) sections="$sections EXIT_STATUS" ;;
        esac
        for section in $sections; do
                section=$(echo "$section" | tr _ ' ')
                if ! grep -q "^\.SH \"\{0,1\}$section\"\{0,1\}\$" "$page"; then
                        echo "FAIL: $page has no $section section"
                        failed=1
                fi
        done
        # Nothing left unsubstituted by meson's configure step.
        if grep -n '@[a-zA-Z_]*@' "$page"; then
                echo "FAIL: $page: unsubstituted @variable@"
                failed=1
        fi
        [ "$failed" = "$page_failed" ] && echo "ok: $page"
done
exit $failed
