#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The decode kernels keep their software prefetches. No result depends on a prefetch, so no
# other test notices one lost, and GCC 12 has deleted them without a word (a helper made only
# of prefetches looks to it free of side effects, and its calls go). Without them decode on
# Intel's Xeons streams a third slower (BENCHMARKS.md). Every kernel listed must hold at least
# one prefetcht0 (the rows' next lines, into L1) and one prefetcht1 (far ahead, into L2).
#
# usage: check-prefetches.sh KERNEL_LIBRARY...
set -u

if ! command -v objdump > /dev/null; then
        echo "SKIP: objdump not installed"
        exit 77
fi
[ $# -gt 0 ] || { echo "usage: $0 KERNEL_LIBRARY..."; exit 2; }

# name, then the level suffixes it has.
kernels="qdot_rows_q4_0 avx2 avx512 avx512_vnni avx512_icl
qdot_rows_q5_0 avx2 avx512 avx512_vnni avx512_icl
qdot_rows_q4_1 avx512_vnni avx512_icl
qdot_rows_q5_1 avx512_vnni avx512_icl
qdot_q8_0 avx2 avx512 avx512_vnni avx512_icl
qdot_q4_K avx2 avx512 avx512_vnni avx512_icl
qdot_q5_K avx2 avx512 avx512_vnni avx512_icl
qdot_q6_K avx2 avx512 avx512_vnni avx512_icl
qdot_multi_rows_q4_0 avx512_vnni avx512_icl
qdot_multi_rows_q5_0 avx512_vnni avx512_icl
qdot_multi_rows_q4_1 avx512_vnni avx512_icl
qdot_multi_rows_q5_1 avx512_vnni avx512_icl
qdot_multi_rows_q8_0 avx512_vnni avx512_icl"

# "function prefetcht0-count prefetcht1-count" for every function of the libraries.
counts=$(objdump -d --no-show-raw-insn "$@" | awk '
        /^[0-9a-f]+ <[^>]+>:$/ { fn = substr($2, 2, length($2) - 3); t0[fn] += 0; t1[fn] += 0 }
        /prefetcht0/ { t0[fn]++ }
        /prefetcht1/ { t1[fn]++ }
        END { for (f in t0) print f, t0[f], t1[f] }') || { echo "FAIL: objdump $*"; exit 1; }

echo "$kernels" | while read -r name levels; do
        for level in $levels; do
                fn="${name}_${level}"
                line=$(echo "$counts" | awk -v f="$fn" '$1 == f')
                if [ -z "$line" ]; then
                        echo "FAIL: $fn is not in $*"
                        exit 1
                fi
                set -- $line
                if [ "$2" -eq 0 ] || [ "$3" -eq 0 ]; then
                        echo "FAIL: $fn has $2 prefetcht0 and $3 prefetcht1"
                        exit 1
                fi
                echo "ok: $fn ($2 prefetcht0, $3 prefetcht1)"
        done
done
