#!/bin/sh
# Derived objects on S3 (docs/scale-out.md "Objects on S3", "Derived objects"): one
# `fiona serve` with "objects": "s3:..." on a real radosgw (SQLite catalog) converts the
# series of an assigned study with dcm2niix. Every derived object a nifti_files row names
# is a key derived/<hh>/<hash> of the bucket; with <data_dir>/derived removed, every
# nifti/ file read through the mount is byte-identical to before and the local copies are
# back; radosgw stopped, an uncached one is EIO (logged); a derived key no row names is
# swept after the grace period, and every named one stays; with cache_mb 1 the derived
# copies are evicted too and still read. Runs in its own network namespace.
. "$(dirname "$0")/lib.sh"
so_have_servers || { echo "SKIP s3-derived: postgresql-15 and radosgw/ceph-mon/ceph-osd not installed (make deps)"; exit 0; }
command -v dcm2niix >/dev/null || { echo "SKIP s3-derived: dcm2niix not installed (make deps)"; exit 0; }
so_netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
. "$(dirname "$0")/../e2e/lib/fiona.sh"
PROBE=$(pwd)/$BUILD/tools/s3_probe
e2e_gateway_init s3-derived
chmod 755 "$T"
e2e_need_mount dcm2niix python3
[ -x "$PROBE" ] || { fail probe "$PROBE not built (make test-build)"; exit 1; }
trap 'e2e_cleanup; so_stop_all' EXIT
export FIONA_S3_SWEEP_SECONDS=1
GRACE=3

ceph_start "$T" || { fail ceph "$(tail -n 3 "$T/ceph/log/rgw.out" 2>/dev/null)"; exit 1; }
echo "INFO s3-derived: ${CEPH_WHAT} ${CEPH_SECONDS} s"
P="$PROBE $S3_ENDPOINT $S3_BUCKET $S3_KEYFILE"

cat >"$T/fiona.json" <<JSON
{ "data_dir": "$T/var", "mount_point": "$T/mnt", "secret_file": "$T/secret",
  "admin_group": "root", "objects": "s3:$S3_ENDPOINT/$S3_BUCKET",
  "s3": { "key_file": "$S3_KEYFILE", "cache_mb": 64, "grace_seconds": $GRACE },
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.99,
  "projects": { "PROJ01": { "group": "root", "participant_pattern": "^PROJ01-[0-9]{4}\$",
                            "events": [ "baseline" ] } } }
JSON
mkdir -p "$T/var"
(umask 077; head -c 32 /dev/urandom >"$T/secret")
"$GEN" --preset tiny --seed 7 -o "$T/c" >/dev/null 2>&1 || { fail generate "gen_corpus failed"; exit 1; }
"$FIONA" import -c "$T/fiona.json" "$T/c/P01" 2>"$T/import.log" || fail import "$(tail -n 1 "$T/import.log")"
fiona_start "$T"
grep -q "mounted at" "$T/serve.log" || { fail start "$(tail -n 3 "$T/serve.log")"; exit 1; }
fiona_wait_quarantine "$T" 3
Q=$M/quarantine
mkdir "$M/projects/PROJ01/PROJ01-0001" && for s in $(ls "$Q"); do
	mv "$Q/$s" "$M/projects/PROJ01/PROJ01-0001/baseline" || fail mv "mv $s"; done
E=$M/export/PROJ01/PROJ01-0001/baseline
ready() { grep -q "^nifti/: \([1-9][0-9]*\) of \1 series converted" "$E/.status" 2>/dev/null; }
i=0; while ! ready && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
ready && pass "nifti/ ready $((i / 10)).$((i % 10)) s after mv ($(grep '^nifti/' "$E/.status"))" ||
	{ fail ready "$(grep '^nifti/' "$E/.status"); $(grep nifti "$T/serve.log" | tail -n 3)"; exit 1; }

keys() { $P list derived/ 1000 | grep '^derived/' | cut -d' ' -f1 | sort; }
named() { fiona_sql "$T" "SELECT DISTINCT 'derived/' || substr(hash,1,2) || '/' || hash FROM nifti_files" | sort; }
drop_pages() { python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"; }
sums() { (cd "$E/nifti" && md5sum -- *); }
local_copies() { find "$T/var/derived" -type f 2>/dev/null | wc -l; }

keys >"$T/keys"
named >"$T/named"
[ -s "$T/named" ] && [ "$(comm -13 "$T/keys" "$T/named" | wc -l)" = 0 ] &&
	pass "every derived object a row names is in the bucket ($(wc -l <"$T/named") keys under derived/)" ||
	fail bucket "$(comm -13 "$T/keys" "$T/named" | wc -l) of $(wc -l <"$T/named") missing"
sums >"$T/sums.before"
nfiles=$(wc -l <"$T/sums.before")

# ---- the local folder gone: every nifti/ file is fetched back, byte for byte --------
drop_pages "$E"/nifti/* # (an open fetches a missing copy: the pages go first)
rm -rf "$T/var/derived"
t0=$(so_now)
sums >"$T/sums.after"
dt=$(so_since "$t0")
[ "$nfiles" -gt 0 ] && cmp -s "$T/sums.before" "$T/sums.after" &&
	pass "derived/ removed: all $nfiles nifti/ files read through the mount are byte-identical ($dt s, fetched from radosgw)" ||
	fail read-back "$(diff "$T/sums.before" "$T/sums.after" | head -n 4 | tr '\n' ' ')"
[ "$(local_copies)" = "$(wc -l <"$T/named")" ] && pass "the reads fetched the local copies again ($(local_copies))" ||
	fail refetch "$(local_copies) local copies, $(wc -l <"$T/named") named"
du -sb "$T/var/derived" | awk '{ printf "INFO s3-derived: %d derived objects, %.1f MB, read cold in '"$dt"' s\n", '"$(local_copies)"', $1 / 1e6 }'

# ---- radosgw stopped: an uncached file is EIO, logged --------------------------------
f=$(ls "$E/nifti" | grep '\.nii\.gz$' | head -n 1)
drop_pages "$E/nifti/$f"
rm -rf "$T/var/derived"
rgw_stop
if cat "$E/nifti/$f" >/dev/null 2>"$T/eio.err"; then fail down-eio "an uncached file read while radosgw was down"
elif grep -q "Input/output error" "$T/eio.err"; then pass "radosgw stopped: an uncached nifti/ file is EIO"
else fail down-eio "$(cat "$T/eio.err")"; fi
grep -q "object derived/../.* not readable: not cached here and .*onnect" "$T/serve.log" &&
	pass "the failed fetch is logged: $(grep -m1 'object derived/.* not readable' "$T/serve.log" | sed 's/.*not readable: //' | cut -c1-80)" ||
	fail down-log "$(grep -i 'derived' "$T/serve.log" | tail -n 2)"
rgw_start || fail rgw-restart "not answering"
drop_pages "$E/nifti/$f"
[ "$(grep " $f\$" "$T/sums.before")" = "$(cd "$E/nifti" && md5sum -- "$f")" ] &&
	pass "radosgw back: it reads again" || fail up-read "$f differs"

# ---- a derived key no row names: swept after the grace period ----------------------
head -c 1000 /dev/urandom >"$T/orphan"
ORPHAN=derived/ab/ab$(head -c 15 /dev/urandom | od -An -tx1 | tr -d ' \n')
$P put "$ORPHAN" "$T/orphan" >/dev/null || fail orphan-put "$ORPHAN"
t0=$(so_now)
i=0; while keys | grep -qxF "$ORPHAN" && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
! keys | grep -qxF "$ORPHAN" && pass "an unnamed derived key is swept after the grace period (${GRACE} s; gone after $(so_since "$t0") s)" ||
	fail sweep "still there after 20 s: $(grep 'S3 sweep' "$T/serve.log" | tail -n 1)"
keys >"$T/keys.end"
[ "$(comm -13 "$T/keys.end" "$T/named" | wc -l)" = 0 ] && pass "every named derived key is still in the bucket" ||
	fail sweep-named "$(comm -13 "$T/keys.end" "$T/named" | wc -l) named keys lost"
grep -q "removed object $ORPHAN from S3: no catalog row has named it" "$T/serve.log" &&
	pass "the removal is logged" || fail sweep-log "no line"

# ---- the cache bound (cache_mb 1) covers derived copies too: evicted, read again -----
sums >/dev/null # every derived copy local again (an open fetches it)
kill "$PID"; wait "$PID" 2>/dev/null; PID=; fusermount3 -uz "$M" 2>/dev/null
sed -i 's/"cache_mb": 64/"cache_mb": 1/' "$T/fiona.json"
before=$(local_copies)
fiona_start "$T"
cached() { find "$T/var/derived" "$T/var/objects" -type f -name '[0-9a-f]*' -exec stat -c %s {} + 2>/dev/null | awk '{ n += $1 } END { print n + 0 }'; }
i=0; while [ "$(cached)" -gt 1048576 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(cached)" -le 1048576 ] && [ "$(local_copies)" -lt "$before" ] &&
	pass "cache_mb 1: derived copies are evicted too ($before -> $(local_copies); $(grep 'S3 cache:' "$T/serve.log" | tail -n 1 | sed 's/.*S3 cache: //'))" ||
	fail evict "$(cached) bytes cached, $(local_copies) derived copies; $(grep 'S3 cache:' "$T/serve.log" | tail -n 1)"
i=0; while ! ready && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sums >"$T/sums.evicted"
cmp -s "$T/sums.before" "$T/sums.evicted" && pass "and every nifti/ file still reads byte-identical" ||
	fail evict-read "$(diff "$T/sums.before" "$T/sums.evicted" | head -n 4 | tr '\n' ' ')"
exit $failed
