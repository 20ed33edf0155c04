#!/bin/sh
# fiona serve (the receiver of `make run`): storescu of the tiny synthetic corpus to
# fiona serve on its default address; every instance is cataloged and kept under
# var/objects with the data set bytes as sent; the same instances sent again are stored once; kill -9 during a
# send loses nothing storescu was told succeeded, and a restart removes unacknowledged
# temporaries. Runs in its own network namespace (port 11112 may be in use outside).
. "$(dirname "$0")/lib/orthanc.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
FIONA=$(pwd)/$BUILD/fiona
GEN=$(pwd)/$BUILD/tools/gen_corpus
T=$(mktemp -d)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	fusermount3 -uz "$T/run/mnt" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
failed=0
pass() { echo "PASS serve/$1"; }
fail() { echo "FAIL serve/$1: $2"; failed=1; }
command -v storescu >/dev/null || { echo "SKIP serve: storescu missing"; exit 0; }
export TCP_NODELAY=1

# storescu re-encodes sequence lengths when it sends (the net e2e test checks byte
# preservation with net_probe), so an instance is identified by its SOPInstanceUID and
# the checksum of its last 64 KiB (pixel data, which storescu sends unchanged).
instances() { (cd "$T/run" && "$FIONA" status --json 2>/dev/null) | sed -n 's/.*"instances": \([0-9]*\).*/\1/p'; }
objects() { find "$T/run/var/objects" -name '*.dcm' 2>/dev/null; }
ds_sum() { echo "$(dcmdump -q +P 0008,0018 "$1" 2>/dev/null) $(tail -c 65536 "$1" | cksum)"; }
start() { # the log is kept across restarts: wait for this start's line
	touch "$T/serve.log"
	from=$(($(wc -l <"$T/serve.log") + 1))
	(cd "$T/run" && exec "$FIONA" serve) 2>>"$T/serve.log" &
	PID=$!
	i=0; while ! tail -n +"$from" "$T/serve.log" | grep -q "C-STORE SCP" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
}

"$GEN" --preset tiny --seed 3 -o "$T/c" >/dev/null || { fail generate "gen_corpus failed"; exit 1; }
mkdir -p "$T/run"
# Little endian uncompressed files only: storescu proposes uncompressed syntaxes by
# default and may convert big endian ones, which changes their bytes.
awk -F"\t" -v d="$T/c" '$3 ~ /^1\.2\.840\.10008\.1\.2(\.1)?$/ { print d "/" $1 }' "$T/c/index.tsv" | sort >"$T/files"
n=$(wc -l <"$T/files")
start
if xargs storescu -R -aet MODALITY1 -aec FIONA 127.0.0.1 11112 <"$T/files" 2>"$T/su.err"; then
	got=$(instances)
	[ "$got" -eq "$n" ] && pass "receive_all" || fail receive_all "$got of $n instances kept"
else
	fail receive_all "storescu: $(grep -v '^W:' "$T/su.err" | tail -1)"
fi
# Every kept instance has the data set of exactly one sent file (by checksum).
while read -r f; do ds_sum "$f"; done <"$T/files" | sort >"$T/sent.sums"
for f in $(objects); do ds_sum "$f"; done | sort >"$T/kept.sums"
missing=$(comm -23 "$T/sent.sums" "$T/kept.sums" | wc -l)
[ "$missing" -eq 0 ] && pass "content_as_sent" || fail content_as_sent "$missing data sets differ from what was sent"
xargs storescu -R -aet MODALITY1 -aec FIONA 127.0.0.1 11112 <"$T/files" 2>/dev/null
got=$(instances); nobj=$(objects | wc -l)
[ "$got" -eq "$n" ] && [ "$nobj" -eq "$n" ] && pass "resend_stored_once" || fail resend_stored_once "$got files after resending $n"
echoscu -aet MODALITY1 -aec FIONA 127.0.0.1 11112 2>/dev/null && pass echo || fail echo "C-ECHO failed"

# kill -9 during a send, three times: every instance storescu was told succeeded is in
# the catalog after the restart, and every object is complete.
kill "$PID"; wait "$PID" 2>/dev/null; PID=; rm -rf "$T/run/var"
for i in 1 2 3 4 5 6; do cat "$T/files"; done >"$T/many"
while read -r f; do echo "$f $(dcmdump -q +P 0008,0018 "$f" 2>/dev/null | sed 's/.*\[\(.*\)\].*/\1/')"; done <"$T/files" >"$T/sop.map"
lost=0; acked=0; bad=0
for round in 1 2 3; do
	start
	xargs storescu -v -R -aet MODALITY1 -aec FIONA 127.0.0.1 11112 <"$T/many" >"$T/su.log" 2>&1 &
	SU=$!
	sleep 0.$((3 + round * 2)); kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=; wait $SU 2>/dev/null
	awk '/Sending file: / { f = $NF } /Received Store Response \(Success\)/ { print f }' "$T/su.log" |
		sort -u >"$T/acked"
	acked=$((acked + $(wc -l <"$T/acked")))
	sqlite3 "$T/run/var/catalog.db" "SELECT sop_uid FROM instances" 2>/dev/null | sort -u >"$T/have"
	while read -r f; do
		uid=$(awk -v f="$f" '$1 == f { print $2 }' "$T/sop.map")
		grep -qx "$uid" "$T/have" || lost=$((lost + 1))
	done <"$T/acked"
done
for f in $(objects); do dcmdump -q "$f" >/dev/null 2>&1 || bad=$((bad + 1)); done
if [ "$acked" -gt 0 ] && [ "$lost" -eq 0 ] && [ "$bad" -eq 0 ]; then
	pass "kill -9 x3: all $acked acknowledged instances kept"
else
	fail kill9_keeps_acknowledged "acknowledged $acked, lost $lost, damaged objects $bad"
fi
start
left=$(ls -A "$T/run/var/tmp" | wc -l)
[ "$left" -eq 0 ] && pass restart_cleans_tmp || fail restart_cleans_tmp "$left temporaries left"
exit $failed
