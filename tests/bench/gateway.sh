#!/bin/sh
# Benchmarks of the whole gateway (issues 5 and 6), run by tests/bench/run.sh inside a
# network namespace (Orthanc listens on all interfaces). Usage: gateway.sh CORPUS
#  mount:   the corpus is imported and every study assigned; then reading every
#           de-identified file through the mount (cat, and dd with a 1 MiB buffer) next
#           to reading the originals directly, the same for 10,000 small files (gen_scale),
#           and `find -ls` through the mount vs on the corpus. Targets: de-identified read
#           <= 1.5x direct cat (small files <= 2x); find <= 4x.
#  forward: Orthanc stopped, every study assigned, Orthanc started: time until the last
#           instance is stored, next to storescu of the same de-identified files (from
#           fiona anonymize) straight to a fresh Orthanc. Target: fiona not slower.
#           (BENCH_NO_FORWARD=1 skips this part.)
set -u
CORPUS=$1
BUILD=${BUILD:-build}
. tests/e2e/lib/orthanc.sh
FIONA=$(pwd)/$BUILD/fiona
T=$(mktemp -d)
chmod 755 "$T"
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	orthanc_stop
	fusermount3 -uz "$T/mnt" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { echo "$2 $1" | awk '{printf "%.3f", $1 - $2}'; }
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }'; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

cat >"$T/fiona.json" <<JSON
{ "data_dir": "$T/var", "mount_point": "$T/mnt", "secret_file": "$T/var/secret",
  "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.99,
  "destinations": { "research": { "aet": "RESEARCH", "host": "127.0.0.1", "port": 4242,
                                  "calling_aet": "FIONA", "associations": 2 } },
  "projects": { "BENCH1": { "group": "root", "participant_pattern": "^BENCH1-[0-9]{4}\$",
                            "events": [ "baseline" ], "destination": "research",
                            "nifti": false } } }
JSON
# "nifti": false: NIfTI is timed on its own (nifti.sh); here dcm2niix would convert the
# whole corpus in the background while the reads are timed.
mkdir -p "$T/var" && (umask 077; head -c 32 /dev/urandom >"$T/var/secret")
s=$(now)
"$FIONA" import -c "$T/fiona.json" "$CORPUS" 2>"$T/import.log" | tail -n 1
e=$(now)
echo "import (catalog + fsync per object): $(secs "$s" "$e")s, $(tail -n 1 "$T/import.log")"
studies=$(sqlite3 "$T/var/catalog.db" "SELECT id FROM studies ORDER BY id")
for id in $studies; do
	"$FIONA" assign -c "$T/fiona.json" "$id" BENCH1 "BENCH1-$(printf %04d "$id")" baseline 2>/dev/null
done
# Orthanc is down while the studies are assigned: the queue waits for it.
"$FIONA" serve -c "$T/fiona.json" 2>"$T/serve.log" &
PID=$!
i=0; while ! grep -q "mounted at" "$T/serve.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

echo "== mount (de-identified reads through FUSE vs originals read directly)"
s=$(now); find "$T/mnt/projects" -name '*.dcm' | sort >"$T/files"; e=$(now)
echo "first listing (waits for the preparer's kept headers): $(secs "$s" "$e")s, $(wc -l <"$T/files") files"
find "$CORPUS" -name '*.dcm' | sort >"$T/orig"
drop; xargs cat <"$T/orig" >/dev/null
find "$T/var/objects" -type f | xargs cat >/dev/null # the objects warm too
s=$(now); xargs cat <"$T/orig" >/dev/null; e=$(now); d=$(secs "$s" "$e")
# The objects' pages are warm, like the originals'. First pass: every byte comes through
# the daemon (kept plan + pread); the kernel keeps the pages (keep_cache). Second pass:
# from the kernel's cache, one OPEN (and an attribute refresh: reads through the daemon
# invalidate atime) per file. Third: the steady state of repeated reads.
s=$(now); xargs cat <"$T/files" >/dev/null; e=$(now); m1=$(secs "$s" "$e")
s=$(now); xargs cat <"$T/files" >/dev/null; e=$(now); m=$(secs "$s" "$e")
s=$(now); xargs cat <"$T/files" >/dev/null; e=$(now); m3=$(secs "$s" "$e")
echo "cat originals ${d}s; through the mount: first read ${m1}s ($(ratio "$m1" "$d")x), second ${m}s ($(ratio "$m" "$d")x), third ${m3}s ($(ratio "$m3" "$d")x) (target <= 1.5)"
s=$(now); while read -r f; do dd if="$f" of=/dev/null bs=1M 2>/dev/null; done <"$T/orig"; e=$(now); d2=$(secs "$s" "$e")
s=$(now); while read -r f; do dd if="$f" of=/dev/null bs=1M 2>/dev/null; done <"$T/files"; e=$(now); m2=$(secs "$s" "$e")
echo "1 MiB reader: originals ${d2}s, mount ${m2}s: ratio $(ratio "$m2" "$d2") (target <= 1.5)"
s=$(now); find "$CORPUS" -ls >/dev/null; e=$(now); fd=$(secs "$s" "$e")
s=$(now); find "$T/mnt/projects" -ls >/dev/null; e=$(now); fm=$(secs "$s" "$e") # before the small files
echo "find -ls: corpus ${fd}s, mount ${fm}s: ratio $(ratio "$fm" "$fd") (target <= 4)"
# Zip export (issue 15): reading the largest participant's zip through the mount (its
# layout comes from kept sizes and CRCs: nothing is compressed or staged) next to making
# the same stored zip with `zip -0 -r` from that participant's export folder, read through
# the mount too, and from a local copy of it. Target: reading is faster than making.
bench_zip() {
	command -v zip >/dev/null || { echo "zip missing (make deps): zip part skipped"; return 0; }
	X=$T/mnt/export/BENCH1
	id=$(for d in "$X"/*/; do echo "$(find "$d" -name '*.dcm' | wc -l) $(basename "$d")"; done | sort -rn | head -n 1 | cut -d' ' -f2)
	[ -n "$id" ] || { echo "zip: no participant under export/"; return 0; }
	z=$X/$id.zip
	[ -e "$z" ] || z=$X/$id/baseline.zip # a participant zip, else its event's
	i=0; while [ ! -e "$z" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$z" ] || { echo "zip: $z not listed after 60 s"; return 0; }
	nf=$(find "$X/$id" -name '*.dcm' | wc -l)
	mb=$(find "$X/$id" -name '*.dcm' -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s / 1048576 }')
	ne=$(unzip -Z1 "$z" 2>/dev/null | wc -l)
	s=$(now); cat "$z" >/dev/null; e=$(now); r1=$(secs "$s" "$e")
	s=$(now); cat "$z" >/dev/null; e=$(now); r2=$(secs "$s" "$e")
	(cd "$X" && s=$(now) && zip -0 -r -q "$T/made.zip" "$id" && e=$(now) && echo "$(secs "$s" "$e")") >"$T/zm"
	rm -f "$T/made.zip"; cp -r "$X/$id" "$T/local-$id"
	(cd "$T" && s=$(now) && zip -0 -r -q "$T/made.zip" "local-$id" && e=$(now) && echo "$(secs "$s" "$e")") >"$T/zl"
	rm -rf "$T/made.zip" "$T/local-$id"
	zm=$(cat "$T/zm"); zl=$(cat "$T/zl")
	echo "zip of $id ($nf files, $mb MiB; $ne entries, $(stat -c %s "$z") bytes): read through the mount first ${r1}s, again ${r2}s;" \
		"zip -0 -r from the mount ${zm}s (read/make $(ratio "$r1" "$zm")), from a local copy ${zl}s ($(ratio "$r1" "$zl")) (target < 1)"
}
echo "== zip export (reading fiona's zip vs zip -0 -r of the same files)"
bench_zip
# Small files: 10,000 instances of 9.6 KB (64x64 MR), where the cost per open dominates.
"$(pwd)/$BUILD/tools/gen_scale" files -o "$T/small" --first 9000 --studies 50 --pid-prefix SMALL
"$FIONA" import -c "$T/fiona.json" "$T/small" >/dev/null 2>&1
for id in $(sqlite3 "$T/var/catalog.db" "SELECT s.id FROM studies s JOIN patients p ON s.patient=p.id
		WHERE p.patient_id LIKE 'SMALL-%' ORDER BY s.id"); do
	"$FIONA" assign -c "$T/fiona.json" "$id" BENCH1 "BENCH1-$(printf %04d "$id")" baseline 2>/dev/null
done
i=0; while [ "$(find "$T/mnt/projects" -name '*.dcm' | wc -l)" -lt $(( $(wc -l <"$T/files") + 10000 )) ] &&
	[ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
find "$T/mnt/projects" -name '*.dcm' | sort | comm -23 - "$T/files" >"$T/sfiles"
find "$T/small" -name '*.dcm' | sort >"$T/sorig"
xargs cat <"$T/sorig" >/dev/null
s=$(now); xargs cat <"$T/sorig" >/dev/null; e=$(now); d3=$(secs "$s" "$e")
s=$(now); xargs cat <"$T/sfiles" >/dev/null; e=$(now); s1=$(secs "$s" "$e")
xargs cat <"$T/sfiles" >/dev/null
s=$(now); xargs cat <"$T/sfiles" >/dev/null; e=$(now); s3=$(secs "$s" "$e")
echo "cat of $(wc -l <"$T/sfiles") small files: originals ${d3}s; mount first read ${s1}s ($(ratio "$s1" "$d3")x), third ${s3}s ($(ratio "$s3" "$d3")x) (target <= 2)"
# The forward part below sends the corpus only.
sqlite3 "$T/var/catalog.db" "DELETE FROM transfers WHERE instance IN (SELECT i.id FROM instances i
	JOIN series r ON i.series=r.id JOIN studies s ON r.study=s.id JOIN patients p ON s.patient=p.id
	WHERE p.patient_id LIKE 'SMALL-%')"

[ -n "${BENCH_NO_FORWARD:-}" ] && exit 0
echo "== forward (queue -> last instance in Orthanc vs storescu of the same de-identified files)"
n=$(wc -l <"$T/files")
kill "$PID"; wait "$PID" 2>/dev/null; PID=
# What an mv leaves behind: every instance queued. Orthanc is up, then fiona starts.
sqlite3 "$T/var/catalog.db" "UPDATE transfers SET state='queued', attempts=0, next_try=0, last_error=NULL"
orthanc_start "$T/o1" 4242 8042 RESEARCH FIONA 11112 || { echo "Orthanc did not start"; exit 1; }
count() { curl -sf "$ORTHANC_URL/statistics" | sed -n 's/.*"CountInstances" *: *\([0-9]*\).*/\1/p'; }
s=$(now)
"$FIONA" serve -c "$T/fiona.json" 2>>"$T/serve.log" &
PID=$!
i=0; while [ "$(count)" -lt "$n" ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i + 1)); done
e=$(now); f=$(secs "$s" "$e"); got=$(count)
orthanc_stop
kill "$PID"; wait "$PID" 2>/dev/null; PID=
mkdir -p "$T/deid"
for id in $studies; do
	sqlite3 "$T/var/catalog.db" "SELECT i.hash FROM instances i JOIN series r ON i.series=r.id WHERE r.study=$id" |
		while read -r h; do mkdir -p "$T/src/$id"; ln "$T/var/objects/$(echo "$h" | cut -c1-2)/$h.dcm" "$T/src/$id/$h.dcm"; done
	"$FIONA" anonymize -o "$T/deid" --project BENCH1 --participant "BENCH1-$(printf %04d "$id")" --event baseline \
		--secret "$T/var/secret" "$T/src/$id" 2>/dev/null
done
orthanc_start "$T/o2" 4242 8042 RESEARCH FIONA 11112 || { echo "Orthanc did not start"; exit 1; }
sh tests/bench/net_ingest.sh "$T/deid" 127.0.0.1 4242 RESEARCH storescu >"$T/peer.txt" || echo "storescu failed"
p=$(awk '$2 == "assocs=1" { sub("seconds=", "", $4); print $4 }' "$T/peer.txt")
p2=$(awk '$2 == "assocs=2" { sub("seconds=", "", $4); print $4 }' "$T/peer.txt")
echo "fiona forward ${f}s ($got of $n instances, 2 associations, from a cold start of fiona serve)"
echo "storescu ${p}s (1 association), ${p2}s (2): fiona / storescu(2) = $(ratio "$f" "$p2") (target <= 1.0)"
