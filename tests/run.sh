#!/bin/sh
# Runs every test and prints one aggregated line "N passed, N failed, N skipped".
# Test programs print lines "PASS name", "FAIL name: why", "SKIP name: why".
# A program that exits non-zero without printing a FAIL line counts as one failure.
#   unit:   $BUILD/tests/t_*            (tests/unit/t_*.c)
#   fuzz:   $BUILD/fuzz-replay/fuzz_*   replays tests/fuzz/corpus/<name>/ and regressions
#   e2e:    tests/e2e/NN-name.sh        (real mount, real network peers)
#   scaleout: tests/scaleout/NN-name.sh (PostgreSQL + Ceph radosgw on loopback; each test
#           prints SKIP when those servers are not installed)
# Select with TESTS=unit|fuzz|e2e|scaleout (space separated); default all. E2E=PATTERN
# filters e2e and scaleout. Lines "INFO ..." (timings) are shown as they are.
set -u
BUILD=${BUILD:-build}
TESTS=${TESTS:-unit fuzz e2e scaleout}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
pass=0 fail=0 skip=0

run_one() { # name, command...
	name=$1; shift
	out="$log/out"
	start=$(date +%s)
	"$@" >"$out" 2>"$log/err"
	rc=$?
	p=$(grep -c '^PASS' "$out"); f=$(grep -c '^FAIL' "$out"); s=$(grep -c '^SKIP' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: exited with status $rc" >>"$out"; f=1
	fi
	grep -E '^(FAIL|SKIP|INFO)' "$out"
	if [ "$f" -gt 0 ]; then
		echo "--- $name stderr (last 30 lines):"; tail -n 30 "$log/err"
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	echo "$name: $p passed, $f failed, $s skipped ($(( $(date +%s) - start ))s)"
}

for kind in $TESTS; do
	case $kind in
	unit)
		for t in "$BUILD"/tests/t_*; do
			case $t in *.o) continue ;; esac
			[ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
		done ;;
	fuzz)
		for t in "$BUILD"/fuzz-replay/fuzz_*; do
			case $t in *.o) continue ;; esac
			[ -x "$t" ] || continue
			n=$(basename "$t")
			run_one "fuzz/$n" "$t" "tests/fuzz/corpus/${n#fuzz_}"
		done ;;
	e2e | scaleout)
		for t in tests/$kind/[0-9]*.sh; do
			[ -f "$t" ] || continue
			picked=; for p in ${E2E:-""}; do # E2E: one or more name parts
				case $(basename "$t") in *"$p"*) picked=1 ;; esac
			done
			[ -n "$picked" ] || continue
			run_one "$kind/$(basename "$t")" env BUILD="$BUILD" sh "$t"
		done ;;
	esac
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
