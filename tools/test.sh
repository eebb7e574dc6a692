#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the Debian packages, builds with warnings as
# errors, runs every meson test suite (unit, integration, data), then the unit and
# integration suites again in an AddressSanitizer/UBSan build, then builds the tree with clang
# and runs the fuzz targets briefly.
#   tools/test.sh            everything
#   AID_TEST_QUICK=1 tools/test.sh    skip the sanitizer and clang passes
set -euo pipefail
cd "$(dirname "$0")/.."

fixtures=${AID_FIXTURES:-$(cd .. && pwd)/shared/fixtures}
[ -d "$fixtures" ] || echo "test: fixtures folder $fixtures is absent: fixture tests will skip"

if [ "$(id -u)" -eq 0 ]; then
	tools/install-deps.sh
else
	tools/install-deps.sh || exit 1
fi

# Prints one closing line "tests: N passed, N failed, N skipped" over the given builds.
summary() {
	python3 - "$@" <<'PY'
import json, os, sys
ok = bad = skip = 0
for build in sys.argv[1:]:
    log = os.path.join(build, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        continue
    for line in open(log):
        t = json.loads(line)
        # A criterion suite speaks TAP: count its test cases, not the executable.
        cases = [l for l in (t.get("stdout") or "").splitlines() if l.startswith(("ok ", "not ok "))]
        if cases and t["result"] not in ("TIMEOUT", "ERROR"):
            for c in cases:
                if "# SKIP" in c:
                    skip += 1
                elif c.startswith("ok "):
                    ok += 1
                else:
                    bad += 1
            continue
        r = t["result"]
        ok += r in ("OK", "EXPECTEDFAIL")
        bad += r in ("FAIL", "ERROR", "TIMEOUT", "UNEXPECTEDPASS")
        skip += r == "SKIP"
print(f"tests: {ok} passed, {bad} failed, {skip} skipped")
PY
}

status=0
build=build-test
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dwerror=true -Dfixtures="$fixtures"
else
	meson configure "$build" -Dwerror=true -Dfixtures="$fixtures"
fi
ninja -C "$build"
meson test -C "$build" --print-errorlogs --num-processes 2 || status=1
builds=("$build")

if [ -z "${AID_TEST_QUICK:-}" ]; then
	asan=build-test-asan
	if [ ! -f "$asan/build.ninja" ]; then
		meson setup "$asan" -Dwerror=true -Dfixtures="$fixtures" \
			-Db_sanitize=address,undefined -Db_lundef=false
	fi
	ninja -C "$asan"
	# Criterion forks a child per test; leaks are checked in the unit suites' own code paths,
	# GLib's one-time allocations would drown them.
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C "$asan" --print-errorlogs --num-processes 2 --suite unit --suite integration || status=1
	builds+=("$asan")

	# The README's fuzz build: the whole tree with clang, which warns where GCC does not, and
	# every libFuzzer target for a fixed number of inputs (tests/fuzz/meson.build).
	fuzz=build-test-fuzz
	if [ ! -f "$fuzz/build.ninja" ]; then
		CC=clang meson setup "$fuzz" -Dwerror=true -Dfixtures="$fixtures" -Dfuzz=true
	fi
	ninja -C "$fuzz"
	meson test -C "$fuzz" --print-errorlogs --num-processes 2 --suite fuzz || status=1
	builds+=("$fuzz")
fi
summary "${builds[@]}"
exit $status
