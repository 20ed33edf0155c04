#!/bin/sh
# The README's "Try it", run exactly as written: what `make run` starts (tools/run.sh on
# the embedded default, in a fresh folder whose build/ is this build), then every indented
# command of the section but `make run` itself, in order, in one shell. Checks that they
# all succeed and show what the README promises: the default's DEMO01 project takes a
# participant and studies by mv, the de-identified file carries the participant ID, and
# .status and fiona status say DEMO01 (no destination) is not forwarded instead of showing
# empty queues. Ctrl-C (SIGINT) stops the daemon and unmounts. Runs in its own network
# namespace: the default port 11112 may be in use outside.
. "$(dirname "$0")/lib/orthanc.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
TOP=$(pwd)
T=$(mktemp -d)
R=$T/run
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	fusermount3 -uz "$R/mnt" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
failed=0
pass() { echo "PASS try-it/$1"; }
fail() { echo "FAIL try-it/$1: $2"; failed=1; }
[ -e /dev/fuse ] || { echo "SKIP try-it: no /dev/fuse on this machine"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "SKIP try-it: allow_other needs root here"; exit 0; }
for c in storescu dcmdump fusermount3; do
	command -v $c >/dev/null || { echo "SKIP try-it: $c missing"; exit 0; }
done

# The section's commands: its indented lines, `make run` (started below) left out.
sed -n '/^## Try it$/,/^## /p' README.md | sed -n 's/^    //p' | grep -v '^make run$' >"$T/try.sh"
[ "$(wc -l <"$T/try.sh")" -ge 8 ] && pass "README has the Try it commands" ||
	{ fail readme "$(wc -l <"$T/try.sh") commands found in README.md's Try it"; exit 1; }

mkdir -p "$R" && ln -s "$TOP/$BUILD" "$R/build" && : >"$T/serve.log"
(cd "$R" && exec sh "$TOP/tools/run.sh") >"$T/serve.log" 2>&1 &
PID=$!
i=0; while ! grep -q "mounted at" "$T/serve.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "mounted at" "$T/serve.log" && pass "make run's daemon mounts ./mnt" ||
	{ fail start "$(tail -n 3 "$T/serve.log")"; exit 1; }

(cd "$R" && sh -e -x "$T/try.sh") >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && pass "every command succeeds" ||
	fail commands "exit $rc after: $(grep '^+' "$T/err" | tail -n 1) ($(grep -v '^+\|CP-246' "$T/err" | tail -n 2))"

grep -q "fiona import: 22 files kept" "$T/err" && pass "fiona import keeps P01" ||
	fail import "$(grep 'fiona import' "$T/err")"
grep -q "^E:" "$T/err" && fail storescu "$(grep '^E:' "$T/err" | head -n 2)" ||
	pass "storescu sends P02 (RLE included) without an error"
n=$(grep -c '^20[0-9]*_A[0-9]*_[0-9]*$' "$T/out")
[ "$n" -eq 6 ] && pass "6 studies listed in quarantine" || fail quarantine "$n studies listed"
grep -q '"accession"' "$T/out" && pass "study.json shown" || fail study.json "not in the output"
[ "$(ls "$R/mnt/quarantine" | wc -l)" -eq 4 ] && [ -d "$R/mnt/projects/DEMO01/DEMO01-0001/followup" ] &&
	pass "mv assigns two studies to DEMO01" || fail mv "$(ls "$R/mnt/quarantine" | wc -l) left in quarantine"

# .status and fiona status: not forwarded, no misleading queue counts
st=$(cat "$R/mnt/projects/DEMO01/DEMO01-0001/baseline/.status" "$R/mnt/projects/DEMO01/DEMO01-0001/followup/.status")
[ "$(echo "$st" | grep -c '[0-9]* instances; no destination configured: not forwarded$')" -eq 2 ] &&
	! echo "$st" | grep -q queued && pass ".status: no destination configured: not forwarded" ||
	fail .status "$st"
grep -q "files: 12 of 12 de-identified" "$T/out" && pass ".status: all files de-identified" ||
	fail files "$(grep 'files:' "$T/out")"
grep -q "^(0010,0010) PN \[DEMO01-0001\]" "$T/out" && grep -q "^(0010,0020) LO \[DEMO01-0001\]" "$T/out" &&
	grep -q "Deidentification" "$T/out" && pass "dcmdump: the participant ID, de-identified" ||
	fail dcmdump "$(grep '^(00' "$T/out")"
grep -q "^  DEMO01 .* 2 studies, 24 instances: no destination configured: not forwarded$" "$T/out" &&
	grep -q "^studies     6 (4 in quarantine, 2 assigned)$" "$T/out" &&
	pass "fiona status: DEMO01 not forwarded" || fail fiona-status "$(grep -A 20 '^studies ' "$T/out")"
j=$(cd "$R" && build/fiona status --json 2>/dev/null)
echo "$j" | grep -q '"not_forwarded": \[{"project": "DEMO01", "assigned_studies": 2, "assigned_instances": 24, "reason": "no destination configured: not forwarded"}\]}$' &&
	pass "fiona status --json: not_forwarded" || fail status-json "$j"

# Ctrl-C in the terminal of make run
kill -INT "$PID"; wait "$PID" 2>/dev/null; PID=
mount | grep -q " $R/mnt " && fail stop "still mounted after SIGINT" || pass "Ctrl-C stops and unmounts"
exit $failed
