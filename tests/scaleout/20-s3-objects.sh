#!/bin/sh
# Objects on S3 (issue 16, docs/scale-out.md "Objects on S3"): one `fiona serve` with
# "objects": "s3:..." on a real radosgw (SQLite catalog) and its FUSE mount. A study sent
# with storescu is in the bucket; with the local copies removed every file still reads
# through the mount, byte for byte. radosgw stopped: a send is refused (Out of
# Resources) and nothing is cataloged, cached files read, an uncached one is EIO, and
# `fiona status` names the unreachable store; radosgw back: the same send succeeds. A
# fault between put and commit (FIONA_FAULT=s3-commit) leaves an orphan key, which the
# sweep deletes after the grace period. Timings (cold vs cached read of a 512 KiB object,
# ingest rate dir: vs s3:) are INFO lines, never checked. Runs in its own network
# namespace.
. "$(dirname "$0")/lib.sh"
so_have_servers || { echo "SKIP s3-objects: postgresql-15 and radosgw/ceph-mon/ceph-osd not installed (make deps)"; exit 0; }
so_netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
. "$(dirname "$0")/../e2e/lib/fiona.sh"
PROBE=$(pwd)/$BUILD/tools/s3_probe
e2e_gateway_init s3-objects
e2e_need_mount storescu
[ -x "$PROBE" ] || { fail probe "$PROBE not built (make test-build)"; exit 1; }
trap 'e2e_cleanup; so_stop_all' EXIT
# the sweep every second, a short grace: the orphan goes within seconds
export FIONA_S3_SWEEP_SECONDS=1 TCP_NODELAY=1
GRACE=3

ceph_start "$T" || { fail ceph "$(tail -n 3 "$T/ceph/log/rgw.out" 2>/dev/null)"; exit 1; }
echo "INFO s3-objects: ${CEPH_WHAT} ${CEPH_SECONDS} s"
P="$PROBE $S3_ENDPOINT $S3_BUCKET $S3_KEYFILE"

config() { # dir objects [cache_mb]
	cat >"$1/fiona.json" <<JSON
{ "data_dir": "$1/var", "mount_point": "$1/mnt", "secret_file": "$T/secret",
  "admin_group": "root", "objects": "$2",
  "s3": { "key_file": "$S3_KEYFILE", "cache_mb": ${3:-16}, "grace_seconds": $GRACE },
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.99,
  "projects": { "PROJ01": { "group": "root", "participant_pattern": "^PROJ01-[0-9]{4}\$",
                            "events": [ "baseline" ] } } }
JSON
	mkdir -p "$1/var"
}
(umask 077; head -c 32 /dev/urandom >"$T/secret")
"$GEN" --preset tiny --seed 21 -o "$T/c" >/dev/null 2>&1 || { fail generate "gen_corpus failed"; exit 1; }
# uncompressed files (storescu proposes those unless told otherwise), one list per study
study_files() { # P0x/STy_...
	awk -F"\t" -v d="$T/c" -v s="$1/" 'index($1, s) == 1 && ($3 == "1.2.840.10008.1.2.1" ||
		$3 == "1.2.840.10008.1.2" || $3 == "1.2.840.10008.1.2.2") { print d "/" $1 }' \
		"$T/c/index.tsv" | sort
}
study_files P01/ST1_MR >"$T/a.files"
study_files P01/ST2_CT >"$T/b.files"
study_files P01/ST3_MR >"$T/c.files"
study_files P02/ST1_MR | head -n 1 >"$T/d.files"
study_files P02/ST2_CT >"$T/e.files"
send() { xargs storescu -v -aet MODALITY1 -aec FIONA 127.0.0.1 11112 <"$1" >"$2" 2>&1; }
instances() { fiona_sql "$T" "SELECT count(*) FROM instances"; }
keys() { $P list objects/ 1000 | grep '^objects/' | cut -d' ' -f1 | sort; }
named() { fiona_sql "$T" "SELECT 'objects/' || substr(hash,1,2) || '/' || hash || '.dcm' FROM objects" | sort; }
# drops the kernel's cached pages of the listed files, so that their next read reaches fiona
drop_pages() { python3 -c 'import os, sys
for p in open(sys.argv[1]).read().splitlines():
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$1"; }
sums() { tr '\n' '\0' | xargs -0 -r md5sum | cut -d' ' -f1 | sort; }
# the objects as received (the receiver writes its own file meta header, so these, not
# the sent files, are what the mount must give back)
copies() { find "$T/var/objects" -name '*.dcm' | sort; }

config "$T" "s3:$S3_ENDPOINT/$S3_BUCKET"
fiona_start "$T"
grep -q "mounted at" "$T/serve.log" && pass "serve starts with its objects on radosgw" ||
	{ fail start "$(tail -n 3 "$T/serve.log")"; exit 1; }
Q=$M/quarantine

# ---- a study into the bucket, read back through the mount without local copies ------
na=$(wc -l <"$T/a.files")
send "$T/a.files" "$T/a.log" && [ "$(instances)" = "$na" ] &&
	pass "storescu sends a study of $na instances" || fail send "$(tail -n 2 "$T/a.log")"
keys >"$T/keys"
named >"$T/named"
[ -s "$T/named" ] && [ "$(comm -13 "$T/keys" "$T/named" | wc -l)" = 0 ] &&
	pass "every cataloged object is in the bucket ($(wc -l <"$T/named") keys)" ||
	fail bucket "$(comm -13 "$T/keys" "$T/named" | wc -l) of $(wc -l <"$T/named") missing"
copies | sums >"$T/a.sums"
rm -f "$T"/var/objects/*/*.dcm
fiona_wait_quarantine "$T" 1
find "$Q" -name '*.dcm' | sort >"$T/qa"
sums <"$T/qa" >"$T/qa.sums"
[ -s "$T/qa" ] && cmp -s "$T/a.sums" "$T/qa.sums" &&
	pass "local copies removed: all $(wc -l <"$T/qa") files read through the mount equal the received objects" ||
	fail read-back "$(wc -l <"$T/qa") files, sums $(cmp "$T/a.sums" "$T/qa.sums" 2>&1)"
[ "$(find "$T/var/objects" -name '*.dcm' | wc -l)" = "$(wc -l <"$T/named")" ] &&
	pass "the reads fetched the local copies again" || fail refetch "$(find "$T/var/objects" -name '*.dcm' | wc -l) copies"
"$FIONA" status -c "$T/fiona.json" >"$T/status.up" 2>&1
grep -q "^objects     S3 .*: reachable" "$T/status.up" && pass "fiona status: the object store is reachable" ||
	fail status-up "$(grep -A2 '^objects' "$T/status.up")"

# a second study, its local copies removed before anything read them
nb=$(wc -l <"$T/b.files")
send "$T/b.files" "$T/b.log" && [ "$(instances)" = $((na + nb)) ] &&
	pass "a second study ($nb instances)" || fail send-b "$(tail -n 2 "$T/b.log")"
fiona_wait_quarantine "$T" 2
copies | sums >"$T/ab.sums"
uncache_b() {
	for h in $(fiona_sql "$T" "SELECT i.hash FROM instances i JOIN series r ON i.series=r.id
		JOIN studies s ON r.study=s.id WHERE s.id=(SELECT max(id) FROM studies)"); do
		rm -f "$T/var/objects/$(echo "$h" | cut -c1-2)/$h.dcm"
	done
}
uncache_b
find "$Q" -name '*.dcm' | sort | comm -13 "$T/qa" - >"$T/qb"

# ---- radosgw hung (kill -STOP) -------------------------------------------------------
# 16 reads of distinct files whose local copies are gone wait for it: more than libfuse's
# request threads (10), so if they waited on those threads the mount would stop answering.
# They wait on the fetch threads (fs/fetch.c): a listing and a generated file (read by
# fiona every time: direct_io) are still answered, and the reads finish once radosgw runs
# again.
rm -f "$T"/var/objects/*/*.dcm
cat "$T/qa" "$T/qb" | head -n 16 >"$T/q16"
drop_pages "$T/q16"
kill -STOP "$RGW_PID"
mkdir -p "$T/hung"
k=0 readers=
while read -r f; do
	(md5sum <"$f" | cut -d' ' -f1 >"$T/hung/$k") 2>/dev/null &
	readers="$readers $!" k=$((k + 1))
done <"$T/q16"
sleep 1
t0=$(so_now)
timeout 5 ls -R "$Q" >/dev/null && timeout 5 cat "$M/projects/PROJ01/.project.json" >"$T/pj.hung"
rc=$?
th=$(so_since "$t0")
echo "INFO s3-objects: with radosgw stopped (SIGSTOP) and $k reads waiting for it: ls -R of quarantine/ and a read of .project.json took ${th} s"
[ $rc -eq 0 ] && [ -s "$T/pj.hung" ] && awk -v t="$th" 'BEGIN { exit !(t < 2) }' &&
	pass "radosgw hung: the mount still answers (${th} s) while $k reads wait for it" ||
	fail hung-mount "ls + .project.json: exit $rc after ${th} s"
kill -CONT "$RGW_PID"
for p in $readers; do wait "$p"; done # (a bare wait would wait for the daemons too)
bad=0 k=0
while read -r f; do
	grep -qxF "$(cat "$T/hung/$k" 2>/dev/null)" "$T/ab.sums" || bad=$((bad + 1))
	k=$((k + 1))
done <"$T/q16"
[ $bad -eq 0 ] && pass "radosgw running again: the $k waiting reads give the objects' bytes" ||
	fail hung-reads "$bad of $k reads wrong or failed"
uncache_b
drop_pages "$T/qb" # uncached again, for the checks below

# ---- radosgw stopped ---------------------------------------------------------------
rgw_stop
nc=$(wc -l <"$T/c.files")
if send "$T/c.files" "$T/c-down.log"; then
	fail down-refused "storescu succeeded with radosgw stopped"
elif grep -qi "Out of Resources\|OutOfResources\|0xa700\|A700" "$T/c-down.log"; then
	pass "radosgw stopped: the send is refused with Out of Resources (A700)"
else
	fail down-status "$(grep -v CP-246 "$T/c-down.log" | tail -n 2)"
fi
[ "$(instances)" = $((na + nb)) ] && pass "nothing of it was cataloged" || fail down-catalog "$(instances) instances"
grep -q "not stored on S3: .*objects/../.*\.dcm.*onnect" "$T/serve.log" &&
	pass "the log names the key and the reason: $(grep -m1 'not stored on S3' "$T/serve.log" | sed 's/.*not stored on S3: //' | cut -c1-90)" ||
	fail down-log "$(grep -i s3 "$T/serve.log" | tail -n 2)"
drop_pages "$T/qa"
sums <"$T/qa" >"$T/qa.down"
cmp -s "$T/a.sums" "$T/qa.down" && pass "cached files still read ($(wc -l <"$T/qa") files)" ||
	fail down-cached "sums differ"
f=$(head -n 1 "$T/qb")
if [ -z "$f" ]; then fail down-eio "no file of the second study listed"
elif cat "$f" >/dev/null 2>"$T/eio.err"; then fail down-eio "an uncached file read while radosgw was down"
elif grep -q "Input/output error" "$T/eio.err"; then pass "an uncached file is EIO"
else fail down-eio "$(cat "$T/eio.err")"; fi
grep -q "not readable: not cached here and" "$T/serve.log" && pass "the failed fetch is logged" ||
	fail down-fetch-log "no line"
"$FIONA" status -c "$T/fiona.json" >"$T/status.down" 2>&1
grep -q "^objects     S3 .*UNREACHABLE" "$T/status.down" && grep -q "last operation .* FAILED" "$T/status.down" &&
	grep -q "last error .* s ago: .*onnect" "$T/status.down" &&
	pass "fiona status names the unreachable store: $(grep '^objects' "$T/status.down" | cut -c13-100)" ||
	fail status-down "$(grep -A2 '^objects' "$T/status.down")"

# ---- radosgw back --------------------------------------------------------------------
rgw_start || fail rgw-restart "not answering"
send "$T/c.files" "$T/c.log" && [ "$(instances)" = $((na + nb + nc)) ] &&
	pass "radosgw back: the same send succeeds ($nc instances)" || fail up-again "$(tail -n 2 "$T/c.log")"
drop_pages "$T/qa"
sums <"$T/qb" >"$T/qb.sums"
sums <"$T/qa" >"$T/qa.up"
sort "$T/qa.up" "$T/qb.sums" | cmp -s - "$T/ab.sums" && pass "the uncached files read once radosgw is back" || fail up-read "sums differ"

# cold (fetched from radosgw) and cached (local copy) reads of the CT's ~516 KiB files;
# each time the kernel's page cache of the file is dropped first
python3 - "$T/var/objects" "$T/qb" >"$T/timing" 2>&1 <<'PY'
import os, sys, time, glob
objs, files = sys.argv[1], [l.strip() for l in open(sys.argv[2]) if l.strip()]
def rd(p, uncached):
    with open(p, 'rb') as f:  # the kernel's pages of it go: the read reaches fiona
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    if uncached:  # no local copy: the first read fetches it
        for c in glob.glob(objs + '/*/*.dcm'): os.unlink(c)
    t = time.perf_counter()
    with open(p, 'rb') as f:
        while f.read(1 << 20): pass
    return (time.perf_counter() - t) * 1000
cold, warm = [], []
for p in files:
    cold.append(rd(p, True))
    warm.append(rd(p, False))
size = os.path.getsize(files[0]) / 1024
cold.sort(); warm.sort()
print("%d files of %.0f KiB: cold read (fetched from radosgw) p50 %.1f ms (%.1f-%.1f), cached p50 %.1f ms (%.1f-%.1f)"
      % (len(files), size, cold[len(cold)//2], cold[0], cold[-1], warm[len(warm)//2], warm[0], warm[-1]))
PY
[ $? = 0 ] && sed 's/^/INFO s3-objects: /' "$T/timing" || fail timing "$(tail -n 1 "$T/timing")"

# ---- a fault between put and commit: an orphan the sweep removes --------------------
# (restarted with a cache bound of 1 MiB: the local copies above it are evicted)
kill "$PID"; wait "$PID" 2>/dev/null; PID=; fusermount3 -uz "$M" 2>/dev/null
config "$T" "s3:$S3_ENDPOINT/$S3_BUCKET" 1
export FIONA_FAULT=s3-commit:1:EIO
fiona_start "$T"
unset FIONA_FAULT
keys >"$T/keys.before"
send "$T/d.files" "$T/d.log" && fail fault-refused "the instance was acknowledged" ||
	pass "s3-commit fault: the instance is refused"
keys >"$T/keys.after"
named >"$T/named"
orphans=$(comm -23 "$T/keys.after" "$T/named")
[ "$(echo "$orphans" | grep -c .)" = 1 ] && [ "$(comm -13 "$T/keys.before" "$T/keys.after")" = "$orphans" ] &&
	pass "its object is on S3, named by no row: an orphan ($orphans)" ||
	fail orphan "orphans: $(echo $orphans) new: $(comm -13 "$T/keys.before" "$T/keys.after" | tr '\n' ' ')"
i=0; while keys | grep -qF "$orphans" && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
! keys | grep -qF "$orphans" && pass "the sweep removed it after the grace period (${GRACE} s; gone after $((i / 10)) s)" ||
	fail sweep "still there after 20 s: $(grep 'S3 sweep' "$T/serve.log" | tail -n 1)"
keys >"$T/keys.end"
[ "$(comm -13 "$T/keys.end" "$T/named" | wc -l)" = 0 ] && pass "every named object is still in the bucket" ||
	fail sweep-named "$(comm -13 "$T/keys.end" "$T/named" | wc -l) named objects lost"
grep -q "removed object objects/.* from S3: no catalog row has named it" "$T/serve.log" &&
	pass "the removal is logged" || fail sweep-log "no line"

# ---- the cache bound: least recently used copies go, and read again from S3 ---------
cached() { find "$T/var/objects" -name '*.dcm' -exec stat -c %s {} + | awk '{ n += $1 } END { print n + 0 }'; }
find "$Q" -name '*.dcm' | sort >"$T/q.before"
ne=$(wc -l <"$T/e.files")
send "$T/e.files" "$T/e.log" || fail evict-send "$(tail -n 2 "$T/e.log")"
i=0; while [ "$(cached)" -gt 1048576 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(cached)" -le 1048576 ] && grep -q "S3 cache: .* evicted" "$T/serve.log" &&
	pass "cache_mb 1: after $ne more instances the local copies are evicted down to $(cached) bytes ($(grep 'S3 cache:' "$T/serve.log" | tail -n 1 | sed 's/.*S3 cache: //'))" ||
	fail evict "$(cached) bytes cached; $(grep 'S3 cache:' "$T/serve.log" | tail -n 1)"
fiona_wait_quarantine "$T" 4
find "$Q" -name '*.dcm' | sort | comm -13 "$T/q.before" - >"$T/qe"
for h in $(fiona_sql "$T" "SELECT i.hash FROM instances i JOIN series r ON i.series=r.id
	WHERE r.study=(SELECT max(id) FROM studies)"); do
	$P get "objects/$(echo "$h" | cut -c1-2)/$h.dcm" 0 100000000 "$T/got.$h" >/dev/null && echo "$T/got.$h"
done | sums >"$T/e.sums"
sums <"$T/qe" >"$T/qe.sums"
[ -s "$T/qe" ] && cmp -s "$T/e.sums" "$T/qe.sums" &&
	pass "all $(wc -l <"$T/qe") files of that study read through the mount equal their objects on S3" ||
	fail evict-read "$(wc -l <"$T/qe") files; sums differ"
kill "$PID"; wait "$PID" 2>/dev/null; PID=; fusermount3 -uz "$M" 2>/dev/null

# ---- ingest rate, dir: vs s3:, same run (fiona import of one corpus each) -------------
"$GEN" --preset tiny --seed 22 -o "$T/r" >/dev/null 2>&1
ni=$(wc -l <"$T/r/index.tsv")
for kind in dir s3; do
	mkdir -p "$T/rate-$kind"
	[ $kind = dir ] && config "$T/rate-$kind" "dir:$T/rate-$kind/var/objects" ||
		config "$T/rate-$kind" "s3:$S3_ENDPOINT/$S3_BUCKET"
	t0=$(so_now)
	"$FIONA" import -c "$T/rate-$kind/fiona.json" "$T/r" >"$T/rate-$kind.log" 2>&1 # index.tsv, manifest.txt: refused
	dt=$(so_since "$t0")
	kept=$(sed -n 's/.*: \([0-9]*\) files kept.*/\1/p' "$T/rate-$kind.log")
	echo "INFO s3-objects: ingest ($kind:) of $kept instances, $(du -sh "$T/r" | cut -f1): $dt s, $(awk -v n="$kept" -v d="$dt" 'BEGIN { printf "%.0f", n / d }') instances/s"
done
exit $failed
