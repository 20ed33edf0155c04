#!/bin/sh
# Several gateways, one catalog (issue 16): two `fiona serve`, A and B, each with its own
# data_dir, mount and DICOM port, on one PostgreSQL catalog and one radosgw bucket, both
# forwarding to one Orthanc (research PACS) that logs every instance it receives, so a
# duplicate shows. The checks, each timed (INFO lines):
#   visible    a study sent to A is listed in B's quarantine/ within 2 s of A listing it
#   forward    mv on B's mount forwards once: Orthanc holds each instance exactly once
#   concurrent-mv  one study moved on both mounts at once: one mv wins, the other fails
#   drain      1,000 transfers (routed on arrival at A) drained by both forwarders, every
#              instance arriving; B is stopped mid-drain past its lease (kill -STOP,
#              lease_seconds 4): duplicates only for rows B held then
#   takeover   kill -STOP of A while it forwards (500 rows queued): B finishes the queue,
#              and lists a study sent to it meanwhile (arrival moved to B)
#   orphan     a fault between the object put and the catalog commit leaves an orphan
#              key in the bucket; it is collected after the grace period, nothing else
#   s3-down    radosgw stopped: C-STORE refused (A700); started again: the same send works
#   pg-down    PostgreSQL stopped: C-STORE refused, the mount read-only (mv fails) and its
#              listing still served; started again: a re-sent study is listed, mv works
# Every check runs whatever the earlier ones gave. SO_OBJECTS=1 keeps the objects in one
# shared directory instead of the bucket (to try the catalog side alone); KEEP=1 keeps
# the temporary folder. About 90 s, 14 of them Ceph's start.
. "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
E2E_NAME=gateways
. "$(dirname "$0")/../e2e/lib/orthanc.sh"
. "$(dirname "$0")/../e2e/lib/fiona.sh"
so_have_servers || { echo "SKIP gateways: postgresql-15 and radosgw/ceph-mon/ceph-osd not installed (make deps)"; exit 0; }
[ -x "$ORTHANC_BIN" ] || { echo "SKIP gateways: Orthanc missing (make deps)"; exit 0; }
e2e_need_mount storescu psql
so_netns_reexec "$0" "$@"
SCALE=$(pwd)/$BUILD/tools/gen_scale
PROBE=$(pwd)/$BUILD/tools/s3_probe
for x in "$FIONA" "$SCALE" "$PROBE"; do
	[ -x "$x" ] || { echo "FAIL gateways/build: $x not built (make test-build)"; exit 1; }
done
T=$(mktemp -d)
A=$T/a B=$T/b
PORT_A=11112 PORT_B=11113
PID_A= PID_B=
SO_SECRET=$T/secret SO_LEASE=4 SO_GRACE=5 SO_PACS_PORT=4242
export LC_ALL=C FIONA_S3_SWEEP_SECONDS=1 # the sweep of orphan keys every second, not every grace period
np=0 nf=0 ns=0
pass() { echo "PASS gateways/$1"; np=$((np + 1)); }
fail() { echo "FAIL gateways/$1: $2"; nf=$((nf + 1)); }
skip() { echo "SKIP gateways/$1: $2"; ns=$((ns + 1)); }
info() { echo "INFO gateways: $*"; }
cleanup() {
	for p in $PID_A $PID_B; do kill -CONT "$p" 2>/dev/null; done # a stopped one never exits
	so_kill "$PID_A"; so_kill "$PID_B"
	orthanc_stop
	so_stop_all
	fusermount3 -uz "$A/mnt" 2>/dev/null; fusermount3 -uz "$B/mnt" 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Duplicates a forced lease expiry may cause: what the stopped gateway had sent but not
# recorded. Outcomes are recorded every 32 (store/forward.c RECORD_EVERY), so at most 31
# waiting to be recorded, or 32 in a record the stop interrupted, plus one in flight on
# each of the 2 associations: 40 with margin, and never more than the rows it held.
dup_bound() { [ "$1" -lt 40 ] && echo "$1" || echo 40; }

# ---- helpers ---------------------------------------------------------------------------
cat_sql() { # sql: one query on the shared catalog, unaligned, no header
	psql -X -q -A -t -h 127.0.0.1 -p "$PG_PORT" -U postgres -d fiona -c "$1" 2>/dev/null
}
waitfor() { # seconds command...: polls every 0.1 s until the command succeeds (0) or not (1)
	lim=$(($1 * 10)); shift
	w=0
	until "$@"; do
		[ $w -ge $lim ] && return 1
		sleep 0.1; w=$((w + 1))
	done
}
qlist() { timeout 5 ls "$1/mnt/quarantine" 2>/dev/null; } # a stuck mount is not waited for
listed() { qlist "$1" | grep -q "_$2_"; }                # gateway accession
rx() { so_rx "$T/orthanc/orthanc.log" "$1"; }             # "TOTAL DISTINCT AET:N ..."
rx_distinct_is() { [ "$(rx "$1" | cut -d' ' -f2)" -ge "$2" ]; }
# BULK01 rows leased by a gateway: their count, and the condition for sql_within
leases() { cat_sql "SELECT count(*) FROM transfers WHERE project='BULK01' AND state='sending' AND lease LIKE '$1/%'"; }
leased() { echo "EXISTS (SELECT 1 FROM transfers WHERE project='BULK01' AND state='sending' AND lease LIKE '$1/%')"; }
sql_within() { # seconds condition: 0 once the condition holds; the server polls every 10 ms
	psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d fiona -c "DO \$\$ BEGIN
		FOR i IN 1..$(($1 * 100)) LOOP
			IF $2 THEN RETURN; END IF;
			PERFORM pg_sleep(0.01);
		END LOOP;
		RAISE EXCEPTION 'timeout';
	END \$\$" >/dev/null 2>&1
}
rx_last() { # regex: when the last instance first arrived (Orthanc's log line), epoch seconds
	l=$(grep 'FIONA-RX' "$T/orthanc/orthanc.log" | awk -v re="$1" '{ for (i = 1; i < NF; i++) if ($i == "FIONA-RX") break }
		$(i + 2) ~ re && !seen[$(i + 3)]++ { t = $1 " " $2 } END { print t }')
	[ -n "$l" ] || return 1
	date -d "$(date +%Y)-$(echo "$l" | cut -c2-3)-$(echo "$l" | cut -c4-5) ${l#* }" +%s.%N
}
queue_of() { # project: its transfers by state, "queued=3 sent=5"
	cat_sql "SELECT state||'='||count(*) FROM transfers WHERE project='$1' GROUP BY state ORDER BY 1" |
		paste -sd ' '
}
alive() { kill -0 "$PID_A" 2>/dev/null && kill -0 "$PID_B" 2>/dev/null; }
ocount() { curl -sf "$ORTHANC_URL/statistics" | sed -n 's/.*"CountInstances" *: *\([0-9]*\).*/\1/p'; }
olist() { curl -sf "$ORTHANC_URL/instances" | tr ',' '\n' | grep -c '"'; }
send1() { # gateway_port file log: storescu -v; 0 when the store was acknowledged
	storescu -v -aet MODALITY1 -aec FIONA 127.0.0.1 "$1" "$2" >"$3" 2>&1
}
refused() { grep -q "OutOfResources\|Out of Resources\|0xa700\|A700" "$1"; }
last_line() { grep -v CP-246 "$1" | tail -n 1; }
keys() { "$PROBE" "$S3_ENDPOINT" "$S3_BUCKET" "$S3_KEYFILE" list objects/ 1000 2>&1 | grep '^objects/' | cut -d' ' -f1 | sort; }

# ---- the servers and the two gateways ----------------------------------------------------
t0=$(so_now)
pg_start "$T" || { fail setup "PostgreSQL did not start"; exit 1; }
pg_psql "CREATE DATABASE fiona" >/dev/null || { fail setup "CREATE DATABASE failed"; exit 1; }
ceph_start "$T" || { fail setup "Ceph/radosgw did not start: $(tail -n 2 "$T/ceph/log/rgw.out" 2>/dev/null)"; exit 1; }
so_orthanc_rx "$T/rx"
orthanc_start "$T/orthanc" $SO_PACS_PORT 8042 RESEARCH FIONA 11112 ||
	{ fail setup "Orthanc did not start: $(tail -n 2 "$T/orthanc/orthanc.log")"; exit 1; }
[ -n "${SO_OBJECTS:-}" ] && { SO_OBJECTS=$T/objects; mkdir -p "$SO_OBJECTS"; }
so_gateway_setup "$A" A $PORT_A && so_gateway_setup "$B" B $PORT_B || { fail setup "configuration"; exit 1; }
fiona_start "$A"; PID_A=$PID
fiona_start "$B"; PID_B=$PID
if alive && grep -q "mounted at" "$A/serve.log" && grep -q "mounted at" "$B/serve.log"; then
	pass "PostgreSQL, Ceph + radosgw, Orthanc and gateways A and B start"
	info "PostgreSQL ${PG_SECONDS} s, ${CEPH_WHAT} ${CEPH_SECONDS} s, all with both gateways mounted $(so_since "$t0") s"
else
	fail setup "a gateway did not start: A: $(tail -n 2 "$A/serve.log") B: $(tail -n 2 "$B/serve.log")"
	exit 1
fi

# ---- visible: a study sent to A is listed on B's mount ----------------------------------
t0=$(so_now)
"$SCALE" send --first 100 --studies 1 --per-study 5 --pid-prefix VIS01 127.0.0.1 $PORT_A FIONA \
	>"$T/vis.out" 2>&1 || fail visible/send "$(cat "$T/vis.out")"
ta= tb= w=0
while [ $w -lt 200 ] && { [ -z "$ta" ] || [ -z "$tb" ]; }; do
	[ -z "$ta" ] && listed "$A" A100 && ta=$(so_now)
	[ -z "$tb" ] && listed "$B" A100 && tb=$(so_now)
	sleep 0.05; w=$((w + 1))
done
if [ -n "$ta" ] && [ -n "$tb" ]; then
	d=$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.2f", b - a }')
	info "sent to A, listed in A's quarantine $(awk -v a="$t0" -v b="$ta" 'BEGIN { printf "%.2f", b - a }') s after the send (quiet_seconds 1); in B's ${d} s after A's"
	awk -v d="$d" 'BEGIN { exit !(d <= 2) }' && pass "a study sent to A is listed in B's quarantine/ ${d} s after A's (<= 2 s)" ||
		fail visible "B listed it ${d} s after A"
else
	fail visible "listed by A: ${ta:-no}, by B: ${tb:-no} (10 s)"
fi

# ---- forward: mv on B forwards once ---------------------------------------------------
S=$(qlist "$B" | grep _A100_ | head -n 1)
[ -n "$S" ] || S=$(qlist "$A" | grep _A100_ | head -n 1)
if [ -n "$S" ] && timeout 10 mkdir "$B/mnt/projects/PROJ01/PROJ01-0001" 2>"$T/mv.err" &&
	t0=$(so_now) && timeout 10 mv "$B/mnt/quarantine/$S" "$B/mnt/projects/PROJ01/PROJ01-0001/baseline" 2>>"$T/mv.err"; then
	info "mv on B took $(so_since "$t0") s"
	waitfor 3 test -d "$A/mnt/projects/PROJ01/PROJ01-0001/baseline" && ! listed "$A" A100 &&
		pass "A's mount shows B's assignment (and no longer lists it in quarantine/) in $(so_since "$t0") s" ||
		fail forward/seen-by-A "A's mount does not show the assignment after 3 s"
	if waitfor 30 rx_distinct_is '^PROJ01-0001$' 5; then
		sleep 2 # a second send would come now
		tf=$(awk -v a="$t0" -v b="$(rx_last '^PROJ01-0001$')" 'BEGIN { printf "%.2f", b - a }')
		set -- $(rx '^PROJ01-0001$')
		oc=$(ocount) ol=$(olist)
		info "mv -> all 5 instances in Orthanc ${tf} s; received $1 times ($3 $4); /statistics $oc, /instances $ol"
		[ "$1" = 5 ] && [ "$2" = 5 ] && [ "$oc" = 5 ] && [ "$ol" = 5 ] && alive &&
			pass "mv on B forwards once: Orthanc received each of the 5 instances once (both gateways running)" ||
			fail forward "received $1, distinct $2, /statistics $oc, /instances $ol (want 5 each)"
	else
		fail forward "$(rx '^PROJ01-0001$' | cut -d' ' -f2) of 5 in Orthanc after 30 s; queue: $(queue_of PROJ01)"
	fi
else
	fail forward "the mv failed: ${S:-no study listed}: $(tail -n 1 "$T/mv.err")"
fi

# ---- concurrent-mv: one study moved on both mounts at once ----------------------------
"$SCALE" send --first 700 --studies 1 --per-study 2 --pid-prefix VIS03 127.0.0.1 $PORT_A FIONA >/dev/null 2>&1
timeout 10 mkdir "$A/mnt/projects/PROJ01/PROJ01-0003" "$A/mnt/projects/PROJ01/PROJ01-0004" 2>/dev/null
if waitfor 10 listed "$A" A700 && waitfor 5 listed "$B" A700 &&
	waitfor 5 test -d "$B/mnt/projects/PROJ01/PROJ01-0004"; then
	S7=$(qlist "$A" | grep _A700_ | head -n 1)
	timeout 15 mv "$A/mnt/quarantine/$S7" "$A/mnt/projects/PROJ01/PROJ01-0003/baseline" 2>"$T/cmv.a" &
	ma=$!
	timeout 15 mv "$B/mnt/quarantine/$S7" "$B/mnt/projects/PROJ01/PROJ01-0004/baseline" 2>"$T/cmv.b"
	rb=$?
	wait $ma; ra=$?
	who=$(cat_sql "SELECT a.participant FROM assignments a JOIN studies s ON s.id=a.study WHERE s.accession='A700'")
	if [ $ra = 0 ] && [ $rb != 0 ]; then want=PROJ01-0003 err=$(sed 's/.*: //' "$T/cmv.b" | head -n 1)
	elif [ $rb = 0 ] && [ $ra != 0 ]; then want=PROJ01-0004 err=$(sed 's/.*: //' "$T/cmv.a" | head -n 1)
	else want= err="A: rc $ra $(head -n 1 "$T/cmv.a"); B: rc $rb $(head -n 1 "$T/cmv.b")"; fi
	shown() { [ -d "$A/mnt/projects/PROJ01/$want/baseline" ] && [ -d "$B/mnt/projects/PROJ01/$want/baseline" ]; }
	if [ -n "$want" ] && [ "$who" = "$want" ] && waitfor 3 shown; then
		pass "one study moved on both mounts at once: one mv wins ($want), the other gets \"$err\"; both mounts show the winner"
	else
		fail concurrent-mv "both or neither succeeded ($err); the catalog says ${who:-nothing}"
	fi
else
	fail concurrent-mv "the study is not listed on both mounts"
fi

# ---- drain: two forwarders, 1,000 transfers, B stopped past its lease mid-drain ---------
# All sent to A (4 associations), routed on arrival; B is stopped as soon as it holds a
# lease (the server polls every 10 ms), while the sends may still go on.
t0=$(so_now)
"$SCALE" send -j 4 --first 0 --studies 10 --per-study 100 --pid-prefix BULK01 127.0.0.1 $PORT_A FIONA >"$T/bulk.out" 2>&1 &
ja=$!
RE3='^BULK01-000[0-9]$'
lb=
if sql_within 30 "$(leased B)"; then
	kill -STOP "$PID_B"
	lb=$(leases B)
	info "B stopped $(so_since "$t0") s after the sends with $lb rows leased; $(rx "$RE3" | cut -d' ' -f2) in Orthanc; queue: $(queue_of BULK01)"
	sleep $((SO_LEASE + 2))
	kill -CONT "$PID_B"
else
	fail drain/lease "B never held a lease in 30 s (queue: $(queue_of BULK01))"
fi
wait $ja
info "1,000 instances sent to A: $(cat "$T/bulk.out")"
if waitfor 45 rx_distinct_is "$RE3" 1000; then
	sleep 2
	td=$(awk -v a="$t0" -v b="$(rx_last "$RE3")" 'BEGIN { printf "%.2f", b - a }')
	set -- $(rx "$RE3")
	dup=$(($1 - $2))
	info "the last of the 1,000 reached Orthanc ${td} s after the sends began (B stopped $((SO_LEASE + 2)) s of it); by gateway: $3 $4; $dup duplicates, B held ${lb:-0} leases"
	# both took part: B held rows (and may have sent none: rows taken over while it was
	# stopped are not sent from there, and A may have taken the rest meanwhile)
	shares=$(echo "$3 $4" | grep -c 'FIONA_A:[1-9]')
	[ "${lb:-0}" -ge 1 ] || shares=0
	bound=$(dup_bound "${lb:-0}")
	[ "$2" = 1000 ] && [ "$dup" -le "$bound" ] && [ "$shares" = 1 ] &&
		pass "two forwarders drained 1,000 transfers, each instance arrived; $dup duplicates after B's forced lease expiry (at most $bound: its ${lb:-0} leased rows, outcomes recorded every 32)" ||
		fail drain "distinct $2, received $1 ($dup duplicates, at most $bound; B had ${lb:-0} leases), by gateway: $3 $4"
else
	fail drain "$(rx "$RE3" | cut -d' ' -f2) of 1,000 in Orthanc after 45 s; queue: $(queue_of BULK01)"
fi
[ -z "${SO_OBJECTS:-}" ] && info "the bucket holds $(keys | wc -l) objects"
waitfor 10 test -z "$(cat_sql "SELECT 1 FROM transfers WHERE project='BULK01' AND state IN ('queued','sending','failed') LIMIT 1")" ||
	info "queue not empty after the drain: $(queue_of BULK01)"

# ---- takeover: A stopped while it forwards, B finishes ----------------------------------
# B is held first (idle, nothing leased) so that A alone takes the rows; A is stopped in
# the middle of its batch once all 500 rows are queued, and B let go.
RE4='^BULK01-002[0-9]$'
n0=$(cat_sql "SELECT count(*) FROM transfers WHERE project='BULK01'")
kill -STOP "$PID_B"
"$SCALE" send -j 2 --first 20 --studies 5 --per-study 100 --pid-prefix BULK01 127.0.0.1 $PORT_A FIONA >"$T/take.out" 2>&1
la=
if sql_within 20 "(SELECT count(*) FROM transfers WHERE project='BULK01') >= ${n0:-0} + 500 AND $(leased A)" ||
	sql_within 5 "$(leased A)"; then
	kill -STOP "$PID_A"
	ts=$(so_now)
	la=$(leases A)
	got=$(rx "$RE4" | cut -d' ' -f2)
	queued=$(($(cat_sql "SELECT count(*) FROM transfers WHERE project='BULK01'") - ${n0:-0}))
	kill -CONT "$PID_B"
	info "A stopped with $la rows leased, $queued of 500 queued, $got in Orthanc; B let go"
	# once-per-site work (arrival) must move to B too: A is stopped, not dead
	"$SCALE" send --first 600 --studies 1 --per-study 1 --pid-prefix VIS02 127.0.0.1 $PORT_B FIONA >/dev/null 2>&1
	if waitfor $((SO_LEASE + 25)) rx_distinct_is "$RE4" 500; then
		tk=$(awk -v a="$ts" -v b="$(rx_last "$RE4")" 'BEGIN { printf "%.2f", b - a }')
		set -- $(rx "$RE4")
		[ "$2" = 500 ] && pass "A stopped while it forwards: B finished the queue ${tk} s after the stop (lease_seconds $SO_LEASE; $3 $4)" ||
			fail takeover "distinct $2 of 500"
	else
		fail takeover "$(rx "$RE4" | cut -d' ' -f2) of 500 in Orthanc 25 s after the lease lapsed; queue: $(queue_of BULK01)"
	fi
	waitfor 15 listed "$B" A600 &&
		pass "once-per-site work moves too: a study sent to B while A is stopped is listed on B $(so_since "$ts") s after the stop" ||
		fail takeover/arrival "a study sent to B while A is stopped is not listed on B $(so_since "$ts") s after the stop"
	kill -CONT "$PID_A"
	sleep 2
	set -- $(rx "$RE4")
	info "after A resumed: received $1, distinct $2 ($(($1 - $2)) duplicates, A had $la leases); $3 $4"
	[ $(($1 - $2)) -le "$(dup_bound "$la")" ] ||
		fail takeover/duplicates "$(($1 - $2)) duplicates, more than $(dup_bound "$la") (A had $la leased rows)"
else
	kill -CONT "$PID_B"
	fail takeover "A never held leases in 25 s ($(rx "$RE4")); queue: $(queue_of BULK01)"
fi
alive || fail alive "a gateway exited: A: $(tail -n 1 "$A/serve.log") B: $(tail -n 1 "$B/serve.log")"

# ---- orphan: a fault between put and commit, the key collected after the grace ---------
FAULT=${SO_FAULT_POINT:-s3-commit}
"$SCALE" files -o "$T/gc" --first 400 --studies 1 --per-study 1 --pid-prefix GC01 >/dev/null 2>&1
keys >"$T/keys.before"
FIONA_FAULT=$FAULT:1:EIO "$FIONA" import -c "$A/fiona.json" "$T/gc" >"$T/gc.out" 2>&1
keys >"$T/keys.after"
orphan=$(comm -13 "$T/keys.before" "$T/keys.after")
if grep -q "want POINT" "$T/gc.out"; then
	fail orphan "fiona knows no fault point $FAULT ($(grep -o 'points: [^)]*' "$T/gc.out"))"
elif [ -z "$orphan" ]; then
	fail orphan "no key left in the bucket by the fault ($(wc -l <"$T/keys.after") keys; import: $(tail -n 1 "$T/gc.out"))"
else
	t0=$(so_now)
	gone() { ! keys | grep -qx "$orphan"; }
	if waitfor $((SO_GRACE + 40)) gone; then
		tg=$(so_since "$t0")
		keys >"$T/keys.end"
		lost=$(comm -23 "$T/keys.before" "$T/keys.end" | wc -l)
		[ "$lost" = 0 ] && pass "the orphan of a fault between put and commit was collected ${tg} s later (grace ${SO_GRACE} s), no other key" ||
			fail orphan "collected, but $lost other keys went too"
	else
		fail orphan "the orphan key is still there $((SO_GRACE + 40)) s later"
	fi
fi

# ---- s3-down: radosgw stopped, C-STORE refused; back, the same send succeeds -------------
"$SCALE" files -o "$T/rgw" --first 300 --studies 1 --per-study 1 --pid-prefix RGW01 >/dev/null 2>&1
F5=$(find "$T/rgw" -name '*.dcm' | head -n 1)
rgw_stop
t0=$(so_now)
if send1 $PORT_A "$F5" "$T/rgw1.log"; then
	fail s3-down "C-STORE acknowledged with radosgw stopped ($(last_line "$T/rgw1.log"))"
elif refused "$T/rgw1.log"; then
	pass "radosgw stopped: C-STORE refused with Out of Resources (A700) in $(so_since "$t0") s"
else
	fail s3-down "refused, but not with A700: $(last_line "$T/rgw1.log")"
fi
"$FIONA" status -c "$A/fiona.json" >"$T/status.out" 2>&1
info "fiona status with radosgw stopped: $(grep -i 's3\|object\|unreachable' "$T/status.out" | head -n 2 | paste -sd ' ')"
rgw_start || fail s3-back "radosgw did not start again"
t0=$(so_now)
ok=0
for k in 1 2 3 4 5; do send1 $PORT_A "$F5" "$T/rgw2.log" && { ok=1; break; }; sleep 1; done
[ $ok = 1 ] && pass "radosgw back: the same send succeeds (attempt $k, $(so_since "$t0") s)" ||
	fail s3-back "$(last_line "$T/rgw2.log")"

# ---- pg-down: PostgreSQL stopped, refusals and a read-only mount; back, catch-up ---------
"$SCALE" files -o "$T/pg" --first 500 --studies 2 --per-study 1 --pid-prefix PGQ01 >/dev/null 2>&1
Q1=$(find "$T/pg/s0000500" -name '*.dcm' | head -n 1)
Q2=$(find "$T/pg/s0000501" -name '*.dcm' | head -n 1)
send1 $PORT_A "$Q1" "$T/pgq1.log" || info "the study for the read-only check was not stored: $(last_line "$T/pgq1.log")"
timeout 10 mkdir "$B/mnt/projects/PROJ01/PROJ01-0002" 2>/dev/null
waitfor 10 listed "$B" A500 || info "A500 not listed on B before PostgreSQL stops"
S6=$(qlist "$B" | grep _A500_ | head -n 1)
qlist "$B" >"$T/q.before"
pg_stop
t0=$(so_now)
if send1 $PORT_A "$Q2" "$T/pg1.log"; then
	fail pg-down/refused "C-STORE acknowledged with PostgreSQL stopped"
else
	pass "PostgreSQL stopped: C-STORE refused in $(so_since "$t0") s ($(grep -o 'Received Store Response.*' "$T/pg1.log" | head -n 1))"
fi
if [ -n "$S6" ]; then
	t0=$(so_now)
	if timeout 15 mv "$B/mnt/quarantine/$S6" "$B/mnt/projects/PROJ01/PROJ01-0002/baseline" 2>"$T/pgmv.err"; then
		fail pg-down/read-only "mv on B succeeded with PostgreSQL stopped"
	elif grep -q "Read-only file system\|Input/output error" "$T/pgmv.err"; then
		pass "the mount is read-only with PostgreSQL stopped: $(sed 's/.*: //' "$T/pgmv.err" | head -n 1) in $(so_since "$t0") s"
	else
		fail pg-down/read-only "mv failed otherwise: $(head -n 1 "$T/pgmv.err")"
	fi
else
	fail pg-down/read-only "no study in B's quarantine to move"
fi
qlist "$B" >"$T/q.during"
[ -s "$T/q.before" ] && cmp -s "$T/q.before" "$T/q.during" &&
	pass "B's quarantine/ still lists its last state ($(wc -l <"$T/q.during") studies)" ||
	fail pg-down/listing "before: $(wc -l <"$T/q.before") studies, during: $(wc -l <"$T/q.during")"
t0=$(so_now)
pg_again || fail pg-back "PostgreSQL did not start again"
info "PostgreSQL back in $(so_since "$t0") s"
ok=0
for k in 1 2 3 4 5 6 7 8 9 10; do send1 $PORT_A "$Q2" "$T/pg2.log" && { ok=1; break; }; sleep 1; done
if [ $ok = 1 ]; then
	info "the refused send succeeds again after PostgreSQL is back (attempt $k, $(so_since "$t0") s)"
	waitfor 15 listed "$B" A501 && pass "catch-up: the re-sent study is listed on B $(so_since "$t0") s after PostgreSQL is back" ||
		fail pg-back "the re-sent study is not listed on B ($(qlist "$B" | paste -sd ' '))"
else
	fail pg-back "the send is still refused: $(last_line "$T/pg2.log")"
fi
if [ -n "$S6" ] && listed "$B" A500; then
	timeout 15 mv "$B/mnt/quarantine/$S6" "$B/mnt/projects/PROJ01/PROJ01-0002/baseline" 2>"$T/pgmv2.err" &&
		pass "B's mount is writable again: the mv succeeds" || fail pg-back/mv "$(head -n 1 "$T/pgmv2.err")"
fi
alive && pass "both gateways still run after the faults" ||
	fail alive "a gateway exited: A: $(tail -n 1 "$A/serve.log") B: $(tail -n 1 "$B/serve.log")"

echo "$np passed, $nf failed, $ns skipped"
[ $nf = 0 ]
