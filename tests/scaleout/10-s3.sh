#!/bin/sh
# Scale-out foundation (issue 16): fiona's S3 client (store/s3, driven by
# build/tools/s3_probe) against a real single-node Ceph radosgw, and the harness's
# PostgreSQL 15. Conditional puts (a second put and concurrent writers count as "already
# there", nothing is overwritten), head, ranged gets at unaligned offsets equal to the
# bytes, delete, a listing over several pages, a wrong secret, radosgw down (a quick,
# clear connection error) and back. Timings are printed as INFO lines, never checked.
. "$(dirname "$0")/lib.sh"
so_have_servers || { echo "SKIP s3: postgresql-15 and radosgw/ceph-mon/ceph-osd not installed (make deps)"; exit 0; }
so_netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
PROBE=$(pwd)/$BUILD/tools/s3_probe
[ -x "$PROBE" ] || { echo "FAIL s3/probe: $PROBE not built (make test-build)"; exit 1; }
T=$(mktemp -d)
export LC_ALL=C
failed=0
trap 'so_stop_all; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
pass() { echo "PASS s3/$1"; }
fail() { echo "FAIL s3/$1: $2"; failed=1; }
bytes() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; } # file off len

# ---- PostgreSQL -----------------------------------------------------------------------
if pg_start "$T"; then
	pass "postgresql 15 starts on 127.0.0.1:$PG_PORT"
	echo "INFO s3: PostgreSQL initdb + start ${PG_SECONDS} s"
	[ "$(pg_psql 'select 1' 2>&1)" = 1 ] && pass "psql -c 'select 1' answers 1" ||
		fail psql "$(pg_psql 'select 1' 2>&1 | tail -n 1)"
else
	fail postgresql "the server did not start"
fi

# ---- Ceph + radosgw -------------------------------------------------------------------
ceph_start "$T" || { fail ceph "$(tail -n 3 "$T/ceph/log/rgw.out" 2>/dev/null)"; exit 1; }
pass "ceph mon + memstore osd + radosgw up, user and bucket made"
echo "INFO s3: ${CEPH_WHAT} ${CEPH_SECONDS} s"
P="$PROBE $S3_ENDPOINT $S3_BUCKET $S3_KEYFILE"
head -c 3000000 /dev/urandom >"$T/a"
head -c 3000000 /dev/urandom >"$T/b"
head -c 8388608 /dev/urandom >"$T/big"
K=objects/3f/a1b2c3d4e5f60718293a4b5c6d7e8f90

out=$($P head $K); [ "$out" = absent ] && pass "head of a missing key: absent" || fail head-missing "$out"
out=$($P put $K "$T/a"); [ "$out" = created ] && pass "put stores a new key" || fail put "$out"
out=$($P put $K "$T/a"); [ "$out" = head-seen ] && pass "a second put is a success found by HEAD, nothing sent" ||
	fail put-again "$out"
out=$($P put $K "$T/b" --no-head); [ "$out" = existed ] &&
	pass "a conditional put over an existing key is refused (412) and counted as there" || fail put-412 "$out"
$P get $K 0 3000000 "$T/got" >/dev/null && cmp -s "$T/got" "$T/a" &&
	pass "nothing was overwritten: the key still holds the first bytes" || fail overwrite "the bytes changed"
out=$($P head $K); [ "$out" = 3000000 ] && pass "head gives the size" || fail head "$out"

out=$($P race objects/77/race "$T/big" 3)
[ "$out" = "created 1 existed 2 failed 0" ] &&
	pass "three concurrent conditional 8 MiB writers: one stores, two find it there" || fail race "$out"
$P get objects/77/race 0 8388608 "$T/got" >/dev/null && cmp -s "$T/got" "$T/big" &&
	pass "the raced key holds the bytes" || fail race-bytes "differ"

bad=0
for r in "0 1" "1 4095" "4093 5000" "65535 70001" "1000003 131072" "2999993 100" "2999999 1"; do
	set -- $r
	$P get $K "$1" "$2" "$T/r" >"$T/r.n" || { bad=1; echo "get $1 $2: $(cat "$T/r.n")"; continue; }
	bytes "$T/a" "$1" "$2" >"$T/r.want"
	cmp -s "$T/r" "$T/r.want" || { bad=1; echo "get $1 $2: bytes differ ($(cat "$T/r.n") read)"; }
done
[ $bad = 0 ] && pass "ranged gets at unaligned offsets equal the bytes (also the last byte)" || fail ranges "see above"
out=$($P get $K 3000000 10 "$T/r"); [ "$out" = 0 ] && pass "a get at the end reads 0 bytes" || fail get-end "$out"

$P timing tm 20 >"$T/timing" 2>&1 && sed 's/^/INFO s3: one handle, keep-alive: /' "$T/timing" ||
	fail timing "$(tail -n 1 "$T/timing")"

$P del $K >/dev/null && [ "$($P head $K)" = absent ] && pass "delete removes the key" || fail delete "still there"
out=$($P del $K) && pass "deleting a missing key is not an error" || fail delete-missing "$out"

i=0; while [ $i -lt 25 ]; do
	printf '%s' "$i" >"$T/s"; $P put "list/k$(printf %03d $i)" "$T/s" >/dev/null || fail list-put "$i"
	i=$((i + 1))
done
$P list list/ 7 >"$T/list" || fail list "$(tail -n 1 "$T/list")"
n=$(grep -c '^list/k' "$T/list"); req=$(sed -n 's/^requests //p' "$T/list")
first=$(sed -n 1p "$T/list"); last=$(grep '^list/' "$T/list" | tail -n 1)
[ "$n" = 25 ] && [ "$req" = 4 ] && [ "$first" = "list/k000 1" ] && [ "$last" = "list/k024 2" ] &&
	pass "list with max-keys 7 walks 4 pages to all 25 keys in order" ||
	fail list "$n keys in ${req:-?} requests ($first .. $last)"
[ "$($P list list/k01 1000 | grep -c '^list/')" = 10 ] && pass "list by a narrower prefix" || fail list-prefix "count"

sed 's/^\(secret_access_key = \).*/\1WrongWrongWrongWrongWrongWrongWrongWrong/' "$S3_KEYFILE" >"$T/bad.keys"
chmod 600 "$T/bad.keys"
out=$($PROBE $S3_ENDPOINT $S3_BUCKET "$T/bad.keys" put objects/aa/x "$T/s")
echo "$out" | grep -q 'EACCES: .*HTTP 403 SignatureDoesNotMatch' &&
	pass "a wrong secret: $(echo "$out" | sed 's/^error: //; s/ ([0-9]* ms)$//')" || fail wrong-secret "$out"
chmod 644 "$T/bad.keys"
out=$($PROBE $S3_ENDPOINT $S3_BUCKET "$T/bad.keys" head x)
echo "$out" | grep -q 'EPERM: .*chmod 600' && pass "a key file readable by others is refused" || fail keyfile-mode "$out"
echo "$out" | grep -q Wrong && fail keyfile-leak "the secret was printed"

$P put objects/aa/keep "$T/a" >/dev/null
rgw_stop
t0=$(so_now)
out=$($P head objects/aa/keep)
dt=$(so_since "$t0")
echo "$out" | grep -q 'ECONNREFUSED: .*Couldn.t connect' && awk -v d="$dt" 'BEGIN { exit !(d < 2) }' &&
	pass "radosgw stopped: a clear connection error in ${dt} s" || fail rgw-down "$out (${dt} s)"
t0=$(so_now)
rgw_start && echo "INFO s3: radosgw restart to HTTP-ready $(so_since "$t0") s" || fail rgw-restart "not answering"
out=$($P head objects/aa/keep); [ "$out" = 3000000 ] && pass "radosgw back: the object is there again" ||
	fail rgw-back "$out"
exit $failed
