#!/bin/sh
# Runs every test and prints one aggregated line "N passed, N failed, N skipped".
# Test programs print lines "PASS name", "FAIL name: why", "SKIP name: why".
# A program that exits non-zero without printing a FAIL line counts as one failure.
#   unit:   $BUILD/tests/t_*            (tests/unit/t_*.c)
#   fuzz:   $BUILD/fuzz-replay/fuzz_*   replays tests/fuzz/corpus/<name>/ and regressions
#   e2e:    tests/e2e/NN-name.sh        (real mount, real network peers)
#   scaleout: tests/scaleout/NN-name.sh (PostgreSQL + Ceph radosgw on loopback; each test
#           prints SKIP when those servers are not installed). When more than one is
#           picked, they share one Ceph cluster (tests/scaleout/shared-ceph.sh)
# Select with TESTS=unit|fuzz|e2e|scaleout (space separated); default all. E2E=PATTERN
# filters e2e and scaleout. Lines "INFO ..." (timings) are shown as they are.
set -u
BUILD=${BUILD:-build}
TESTS=${TESTS:-unit fuzz e2e scaleout}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
log=$(mktemp -d)
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

picked() { # test script: 0 when E2E (one or more name parts) selects it
	for part in ${E2E:-""}; do
		case $(basename "$1") in *"$part"*) return 0 ;; esac
	done
	return 1
}

# One Ceph for every scale-out test (tests/scaleout/shared-ceph.sh): each test then makes
# only its own user and bucket on it. Without it (not installed, or it failed to start)
# each test starts a cluster of its own, as when run alone.
shared_ceph_start() {
	[ "$(id -u)" = 0 ] && command -v nsenter >/dev/null || return 0
	n=0; for t in tests/scaleout/[0-9]*.sh; do picked "$t" && n=$((n + 1)); done
	[ $n -gt 1 ] || return 0 # one test alone gains nothing
	d="$log/ceph" && mkdir -p "$d" || return 0
	sh tests/scaleout/shared-ceph.sh "$d" >/dev/null 2>&1 &
	holder=$!
	i=0
	while [ ! -e "$d/ready" ] && [ ! -e "$d/failed" ] && [ $i -lt 1200 ]; do
		kill -0 $holder 2>/dev/null || break
		sleep 0.1; i=$((i + 1))
	done
	if [ -e "$d/ready" ]; then
		export SO_SHARED_CEPH="$d/ceph" SO_NETNS_PID=$holder
	else
		echo "INFO scaleout: no shared Ceph ($(tail -n 1 "$d/start.err" 2>/dev/null)); each test starts its own"
	fi
}
shared_ceph_stop() {
	[ -n "${holder:-}" ] || return 0
	touch "$log/ceph/stop"
	wait "$holder" 2>/dev/null
	holder= SO_SHARED_CEPH=
}
trap 'shared_ceph_stop; rm -rf "$log"' EXIT

for kind in $TESTS; do
	[ "$kind" = scaleout ] && shared_ceph_start
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
			picked "$t" || continue
			run_one "$kind/$(basename "$t")" env BUILD="$BUILD" sh "$t"
		done ;;
	esac
	[ "$kind" = scaleout ] && shared_ceph_stop
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
