#!/bin/sh
# The store behind fiona serve -c: storescu of the tiny corpus is cataloged in full
# (fiona status --json), a calling AE not on the allow-list is refused, fiona import keeps
# every file byte for byte, kill -9 during sends loses no acknowledged instance (3 times),
# and a full data_dir (16 MB tmpfs) makes storescu see a failure while earlier objects stay
# intact, and sending works again once space is freed.
. "$(dirname "$0")/lib/orthanc.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
FIONA=$(pwd)/$BUILD/fiona
GEN=$(pwd)/$BUILD/tools/gen_corpus
T=$(mktemp -d)
PID=
MNT=
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	[ -n "$MNT" ] && umount "$MNT" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
failed=0
pass() { echo "PASS store/$1"; }
fail() { echo "FAIL store/$1: $2"; failed=1; }
command -v storescu >/dev/null || { echo "SKIP store: storescu missing"; exit 0; }
command -v sqlite3 >/dev/null || { echo "SKIP store: sqlite3 missing"; exit 0; }

config() { # data_dir port
	cat <<JSON
{ "data_dir": "$1", "mount_point": "$T/mnt", "secret_file": "$T/secret",
  "admin_group": "root", "quiet_seconds": 2,
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": $2,
             "allowed_callers": [ { "aet": "MODALITY1" } ] } }
JSON
}
start() { # config
	: >"$T/serve.log"
	"$FIONA" serve -c "$1" 2>>"$T/serve.log" &
	PID=$!
	i=0; while ! grep -q "C-STORE SCP" "$T/serve.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null; PID=; }
count() { # config key
	"$FIONA" status -c "$1" --json | sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p"
}
sop() { dcmdump -q +P 0008,0018 "$1" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1; }

"$GEN" --preset tiny --seed 3 -o "$T/c" >/dev/null || { fail generate "gen_corpus failed"; exit 1; }
awk -F"\t" -v d="$T/c" '$3 ~ /^1\.2\.840\.10008\.1\.2(\.1)?$/ { print d "/" $1 }' "$T/c/index.tsv" | sort >"$T/files"
n=$(wc -l <"$T/files")
config "$T/data" 11112 >"$T/a.json"

# 1. every sent instance is cataloged
start "$T/a.json"
xargs storescu -R -aet MODALITY1 -aec FIONA 127.0.0.1 11112 <"$T/files" 2>"$T/su.err" ||
	fail receive "storescu: $(grep -v '^W:' "$T/su.err" | tail -1)"
got=$(count "$T/a.json" instances)
[ "$got" = "$n" ] && pass cataloged || fail cataloged "$got of $n instances in the catalog"
# 2. a calling AE not on the allow-list is refused
if storescu -aet INTRUDER -aec FIONA 127.0.0.1 11112 "$(head -1 "$T/files")" 2>/dev/null; then
	fail allow_list "INTRUDER was accepted"
else
	pass allow_list
fi
# the arrival tick completes the studies once they are quiet
sleep 3
c=$(sqlite3 "$T/data/catalog.sqlite" "SELECT COUNT(*) FROM studies WHERE complete=0")
[ "$c" = 0 ] && pass arrival_complete || fail arrival_complete "$c studies not complete"
stop

# 3. import keeps the bytes: the objects' checksums are the files' checksums
config "$T/imp" 11112 >"$T/i.json"
"$FIONA" import -c "$T/i.json" "$T/c" 2>"$T/imp.err"
awk -F"\t" -v d="$T/c" 'NR > 0 { print d "/" $1 }' "$T/c/index.tsv" | xargs cksum | awk '{print $1, $2}' | sort >"$T/src.sums"
find "$T/imp/objects" -name '*.dcm' -exec cksum {} + | awk '{print $1, $2}' | sort >"$T/obj.sums"
grep -q "index.tsv" "$T/imp.err" && cmp -s "$T/src.sums" "$T/obj.sums" && pass import_bytes ||
	fail import_bytes "objects differ from the files ($(wc -l <"$T/obj.sums") objects)"

# 4. kill -9 during sends, three times: acknowledged instances are in the catalog
for i in 1 2 3 4; do cat "$T/files"; done >"$T/many"
lost=0
for round in 1 2 3; do
	start "$T/a.json"
	xargs storescu -v -R -aet MODALITY1 -aec FIONA 127.0.0.1 11112 <"$T/many" >"$T/su.log" 2>&1 &
	SU=$!
	sleep 0.$((round * 3)); kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=; wait $SU 2>/dev/null
	awk '/Sending file/ { f = $NF } /Received Store Response \(Success\)/ { print f }' "$T/su.log" |
		sort -u >"$T/acked"
	start "$T/a.json"; stop # reopen: recovery of the WAL
	while read -r f; do
		u=$(sop "$f")
		k=$(sqlite3 "$T/data/catalog.sqlite" "SELECT COUNT(*) FROM instances WHERE sop_uid='$u'")
		[ "$k" -ge 1 ] || lost=$((lost + 1))
	done <"$T/acked"
done
[ "$lost" -eq 0 ] && pass kill9_acknowledged_kept || fail kill9_acknowledged_kept "$lost acknowledged instances missing"

# 5. full disk: a failure status, earlier objects intact, works again after freeing space
MNT="$T/small"; mkdir -p "$MNT"
if ! mount -t tmpfs -o size=16m tmpfs "$MNT" 2>/dev/null; then
	MNT=; echo "SKIP store/full_disk: cannot mount tmpfs"; exit $failed
fi
config "$MNT/data" 11113 >"$T/f.json"
dd if=/dev/zero of="$MNT/filler" bs=1M count=9 2>/dev/null
start "$T/f.json"
xargs storescu -v -aet MODALITY1 -aec FIONA 127.0.0.1 11113 <"$T/files" >"$T/full.log" 2>&1
if grep -q "OutOfResources\|Out of Resources\|0xa7" "$T/full.log"; then pass full_disk_fails; else fail full_disk_fails "no failure status seen: $(grep -i "status\|error" "$T/full.log" | tail -2) $(df -k "$MNT" | tail -1) $(tail -2 "$T/serve.log")"; fi
bad=0
for f in "$MNT"/data/objects/*/*.dcm; do [ -e "$f" ] || continue; dcmdump -q "$f" >/dev/null 2>&1 || bad=$((bad + 1)); done
have=$(count "$T/f.json" objects)
[ "$bad" -eq 0 ] && [ "${have:-0}" -gt 0 ] && pass full_disk_earlier_intact ||
	fail full_disk_earlier_intact "$bad damaged of ${have:-0} objects"
rm -f "$MNT/filler"
if xargs storescu -aet MODALITY1 -aec FIONA 127.0.0.1 11113 <"$T/files" 2>"$T/full2.err" &&
   [ "$(count "$T/f.json" instances)" = "$n" ]; then
	pass full_disk_recovers
else
	fail full_disk_recovers "$(tail -1 "$T/full2.err")"
fi
stop
exit $failed
