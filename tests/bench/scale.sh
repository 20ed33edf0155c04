#!/bin/sh
# make bench-scale: fiona at hospital size (issue 11), inside a network namespace (Orthanc
# listens on every interface). gen_scale makes small 64x64 MR instances in memory, 200 per
# study, PatientID PROJ01-nnnn, so routing assigns every study to PROJ01 (a project with no
# research PACS: nothing is forwarded, the mount serves it). Printed, each next to its target:
#   ingest rate into 0, 100 k and 1 M cataloged instances (1 and 4 associations), and the
#     ratios to dcmtk's storescp (no fsync) and Debian's Orthanc measured in the same run;
#   RSS (now and peak) with 1 M cataloged, CPU while nothing arrives;
#   `ls` of a folder never listed, with the kernel's caches dropped;
#   arrival-to-listing latency (beyond quiet_seconds) of a study while ingest runs;
#   `find` of one participant's tree at 20 k and at 1 M (ratio);
#   reads of 100,000 files through the mount under `ulimit -n 1024` (errors).
# SCALE_N (default 1000000) sets the final size; SCALE_DIR (default ./var/bench-scale) where
# the catalog and objects go (about 13 GB at 1 M). Takes about 25 minutes on 2 cores.
set -u
BUILD=${BUILD:-build}
N=${SCALE_N:-1000000}
D=$(mkdir -p "${SCALE_DIR:-./var/bench-scale}" && cd "${SCALE_DIR:-./var/bench-scale}" && pwd)
FIONA=$(pwd)/$BUILD/fiona
G=$(pwd)/$BUILD/tools/gen_scale
export TCP_NODELAY=1 LC_ALL=C
. tests/e2e/lib/orthanc.sh
PID= PEER=
cleanup() {
	[ -n "$PEER" ] && kill $PEER 2>/dev/null
	orthanc_stop
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	fusermount3 -uz "$D/mnt" 2>/dev/null
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { echo "$2 $1" | awk '{printf "%.3f", $1 - $2}'; }
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }'; }
rate_of() { sed -n 's/.*rate \([0-9.]*\).*/\1/p'; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

rm -rf "$D/var" "$D/mnt" "$D/rx" "$D/orthanc"
mkdir -p "$D/var" "$D/rx" && (umask 077; head -c 32 /dev/urandom >"$D/var/secret")
cat >"$D/fiona.json" <<JSON
{ "data_dir": "$D/var", "mount_point": "$D/mnt", "secret_file": "$D/var/secret",
  "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 2, "quarantine_days": 7, "disk_high_watermark": 0.99,
  "projects": { "PROJ01": { "group": "root", "participant_pattern": "^PROJ01-[0-9]{4}\$",
                            "events": [ "baseline", "followup" ], "nifti": false,
                            "routing": [ { "patient_id": "^PROJ01-[0-9]{4}\$", "event": "baseline" } ] } } }
JSON
# "nifti": false: ingest and reads are what is measured here; dcm2niix of every routed study
# (tests/bench/nifti.sh times it) would run beside them and write every de-identified byte
# once more to data_dir/tmp.

echo "== peers, same instances, same run"
storescp +xa -aet PEER -od "$D/rx" 11190 2>/dev/null &
PEER=$!
sleep 0.5
s1=$("$G" send --first 900000 --studies 20 127.0.0.1 11190 PEER | rate_of)
s4=$("$G" send -j 4 --first 900020 --studies 50 127.0.0.1 11190 PEER | rate_of)
kill $PEER; PEER=; rm -rf "$D/rx"
orthanc_start "$D/orthanc" 4242 8042 ORTHANC GEN_SCALE 11191 >/dev/null || echo "Orthanc did not start"
o1=$("$G" send --first 900100 --studies 20 127.0.0.1 4242 ORTHANC | rate_of)
o4=$("$G" send -j 4 --first 900120 --studies 50 127.0.0.1 4242 ORTHANC | rate_of)
orthanc_stop; rm -rf "$D/orthanc"
echo "storescp (no fsync): ${s1}/s with 1 association, ${s4}/s with 4"
echo "Orthanc:             ${o1}/s with 1 association, ${o4}/s with 4"

"$FIONA" serve -c "$D/fiona.json" 2>"$D/serve.log" &
PID=$!
i=0; while ! grep -q "mounted at" "$D/serve.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
M=$D/mnt
P=$M/projects/PROJ01
next=0 # the next study number gen_scale makes
# Until the gateway's background work for what came before (kept headers, CRCs, arrival)
# is done: under 5 % of a core over 2 s, 5 minutes at most. Flatness compares ingest into a
# small and a large catalog, not ingest with and without that work on the same 2 cores.
settle() {
	t=$(now) i=0
	while [ $i -lt 150 ]; do
		c0=$(cpu_ticks "$PID"); sleep 2; c1=$(cpu_ticks "$PID")
		[ $((c1 - c0)) -lt $(($(getconf CLK_TCK) / 10)) ] && break
		i=$((i + 1))
	done
	settled=$(secs "$t" "$(now)")
}
measure() { # label: 4,000 instances with 1, then 10,000 with 4 associations (~5 s each)
	settle
	a=$("$G" send --first $next --studies 20 127.0.0.1 11112 FIONA | rate_of); next=$((next + 20))
	w=$settled; settle; settled="$w+$settled"
	b=$("$G" send -j 4 --first $next --studies 50 127.0.0.1 11112 FIONA | rate_of); next=$((next + 50))
	echo "ingest at $1: ${a}/s (1 association; storescp ratio $(ratio "$a" "$s1"), Orthanc ratio $(ratio "$a" "$o1")), ${b}/s (4; storescp $(ratio "$b" "$s4"), Orthanc $(ratio "$b" "$o4")); measured after ${settled}s of background work"
	eval "r1_$2=$a r4_$2=$b"
}
fill() { # until the catalog holds $1 instances (4 associations)
	want=$(( ($1 - next * 200) / 200 ))
	[ $want -gt 0 ] || return 0
	s=$(now)
	"$G" send -j 4 --first $next --studies $want 127.0.0.1 11112 FIONA >/dev/null
	next=$((next + want))
	echo "filled to $((next * 200)) instances in $(secs "$s" "$(now)")s"
}
tree_find() { # participant: cold listing of its whole tree, seconds
	drop
	s=$(now); find "$P/$1" >/dev/null; secs "$s" "$(now)"
}
wait_listed() { # participant: until its series folder lists its 200 files
	i=0
	while [ "$(ls "$P/$1/baseline/MR/1_T1_AX" 2>/dev/null | wc -l)" -lt 200 ] && [ $i -lt 600 ]; do
		sleep 0.1; i=$((i + 1))
	done
}

echo "== fiona serve (fsync + catalog per instance, routed to PROJ01)"
measure "0 instances" 0
fill 20000
p10=$(printf 'PROJ01-%04d' $((next - 1)))
wait_listed "$p10"
f10=$(tree_find "$p10")
fill 100000
measure "100 k instances" 100k
# Arrival to listing while ingest runs: a study no rule routes appears in quarantine/.
"$G" send -j 4 --first $next --studies 50 127.0.0.1 11112 FIONA >/dev/null &
bg=$!
next=$((next + 50))
sleep 2
s=$(now)
"$G" send --first 987654 --studies 1 --per-study 10 --pid-prefix QUAR 127.0.0.1 11112 FIONA >/dev/null
i=0; while ! ls "$M/quarantine" | grep -q "_A987654_" && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
lat=$(secs "$s" "$(now)")
wait $bg
echo "arrival to quarantine listing during ingest: ${lat}s (quiet_seconds 2 included; target: quiet time + well under 1 s)"
fill "$N"
measure "$((N / 1000)) k instances" 1m
echo "ingest flatness at $((N / 1000)) k: $(ratio "$r1_1m" "$r1_0") (1 association), $(ratio "$r4_1m" "$r4_0") (4) of the rate into an empty catalog (target >= 0.9)"

# Wait until the preparer has caught up (every header kept), then idle CPU and memory.
p1m=$(printf 'PROJ01-%04d' $(( (next - 1) % 10000 )))
wait_listed "$p1m"
i=0
while [ $i -lt 120 ]; do
	a=$(cpu_ticks "$PID"); sleep 5; b=$(cpu_ticks "$PID")
	[ $((b - a)) -lt 10 ] && break
	i=$((i + 1))
done
a=$(cpu_ticks "$PID"); sleep 20; b=$(cpu_ticks "$PID")
hz=$(getconf CLK_TCK)
idle=$(echo "$a $b $hz" | awk '{printf "%.2f", ($2 - $1) * 100 / $3 / 20}')
rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$PID/status")
hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$PID/status")
n=$(sqlite3 "$D/var/catalog.db" "SELECT count(*) FROM instances")
echo "catalog: $n instances, $(du -sm "$D/var/catalog.db" | cut -f1) MB; objects $(du -sm "$D/var/objects" | cut -f1) MB"
echo "RSS with $n cataloged: ${rss} MB (peak ${hwm} MB; target <= 200)"
echo "CPU while nothing arrives: ${idle} % of a core (target < 2)"

f1m=$(tree_find "$p1m")
echo "find of one participant's tree (200 files, cold): ${f10}s at 20 k, ${f1m}s at $((N / 1000)) k: ratio $(ratio "$f1m" "$f10") (target <= 1.2)"
cold=$(printf 'PROJ01-%04d' $((next / 2 % 10000)))
drop
s=$(now); ls "$P/$cold/baseline/MR/1_T1_AX" >/dev/null; e=$(now)
s2=$(now); ls "$P/$cold/baseline/MR/1_T1_AX" >/dev/null; e2=$(now)
echo "ls of a series folder never listed, caches dropped: $(secs "$s" "$e")s (again: $(secs "$s2" "$e2")s)"

# 100,000 files read one after another and by 8 readers, under ulimit -n 1024.
find "$P" -name '*.dcm' | head -n 100000 >"$D/files"
s=$(now)
(ulimit -n 1024 && xargs cat <"$D/files" >/dev/null) 2>"$D/seq.err"
t1=$(secs "$s" "$(now)")
s=$(now)
(ulimit -n 1024 && xargs -P 8 -n 100 cat <"$D/files" >/dev/null) 2>"$D/par.err"
t8=$(secs "$s" "$(now)")
echo "read $(wc -l <"$D/files") files under ulimit -n 1024: ${t1}s one after another ($(wc -l <"$D/seq.err") errors), ${t8}s with 8 readers ($(wc -l <"$D/par.err") errors; target 0)"
