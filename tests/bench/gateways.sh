#!/bin/sh
# Gateways on shared stores (issue 16), in one run: ingest and forwarding rates of
#   embedded   one gateway on the embedded default (SQLite + files in data_dir)
#   shared-1   one gateway on PostgreSQL + S3 (radosgw), from tests/scaleout/lib.sh
#   shared-2   two gateways on the same PostgreSQL + S3, each sent half and both forwarding
# with ratios against the embedded default. Ingest: storescu of N small instances (64x64
# MR, gen_scale) with 1 association, then N others with 4 (two gateways: each its half
# over 1, then 4, associations at the same time). Forward: every study moved from
# quarantine/ to projects/ with mv (two gateways: half on each mount), timed from the
# first mv to the last of the 2N instances stored by Orthanc. Each configuration has its
# own catalog, corpus seed (no object is already in the bucket) and a fresh Orthanc.
# Nothing here passes or fails; a part that did not finish says so.
#   BENCH_GW_N   instances per ingest run (default 2000, in studies of 100)
set -u
BUILD=${BUILD:-build}
. tests/scaleout/lib.sh
. tests/e2e/lib/orthanc.sh
. tests/e2e/lib/fiona.sh
H="== gateways (issue 16): embedded default vs PostgreSQL + S3, one and two gateways"
so_have_servers || { echo "$H: skipped (postgresql-15 or radosgw/ceph not installed: make deps)"; exit 0; }
[ -x "$ORTHANC_BIN" ] || { echo "$H: skipped (Orthanc missing)"; exit 0; }
[ "$(id -u)" = 0 ] && [ -e /dev/fuse ] || { echo "$H: skipped (needs root and /dev/fuse)"; exit 0; }
so_netns_reexec "$0" "$@"
echo "$H"
N=${BENCH_GW_N:-2000}
PER=100
STUDIES=$((N / PER))
SCALE=$(pwd)/$BUILD/tools/gen_scale
PROBE=$(pwd)/$BUILD/tools/s3_probe
T=$(mktemp -d)
SO_SECRET=$T/secret SO_PACS_PORT=4242
PIDS=
cleanup() {
	for p in $PIDS; do so_kill "$p"; done
	orthanc_stop
	so_stop_all
	for m in "$T"/*/mnt; do fusermount3 -uz "$m" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "n/a" }'; }
ratio() { echo "$1 $2" | awk '$1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ && $2 > 0 { printf "%.2f", $1 / $2; next } { print "n/a" }'; }
ocount() { curl -sf "$ORTHANC_URL/statistics" | sed -n 's/.*"CountInstances" *: *\([0-9]*\).*/\1/p'; }
qcount() { ls "$1/mnt/quarantine" 2>/dev/null | wc -l; }

pg_start "$T" || exit 1
ceph_start "$T" || exit 1
echo "PostgreSQL ${PG_SECONDS} s, Ceph + radosgw ${CEPH_SECONDS} s; $N + $N instances per configuration"

send() { # port assocs dir...: storescu over that many associations, study folders split
	port=$1 k=$2; shift 2
	i=0
	for d in "$@"; do echo "$d" >>"$T/part.$port.$((i % k))"; i=$((i + 1)); done
	j=0; ps=
	while [ $j -lt "$k" ]; do
		xargs storescu -aet BENCH -aec FIONA +sd +r 127.0.0.1 "$port" <"$T/part.$port.$j" \
			2>>"$T/storescu.err" &
		ps="$ps $!"; j=$((j + 1))
	done
	rc=0
	for p in $ps; do wait "$p" || rc=1; done
	rm -f "$T/part.$port".*
	return $rc
}

ingest() { # seed first assocs gateway-dirs...: sends N instances, split over the gateways; prints seconds
	seed=$1 first=$2 k=$3; shift 3
	"$SCALE" files -o "$T/in.$seed.$first" --seed "$seed" --first "$first" --studies $STUDIES \
		--per-study $PER --pid-prefix BENCH >/dev/null 2>&1 || return 1
	set -- "$@"
	g=$#
	s=$(so_now); ps=
	i=0
	for gw in "$@"; do
		port=$(sed -n 's/.*"port": \([0-9]*\), "allowed_callers".*/\1/p' "$gw/fiona.json")
		dirs=$(ls -d "$T/in.$seed.$first"/s* | awk -v g="$g" -v i="$i" '(NR - 1) % g == i')
		send "$port" "$k" $dirs &
		ps="$ps $!"; i=$((i + 1))
	done
	for p in $ps; do wait "$p" || echo "storescu failed: $(tail -n 1 "$T/storescu.err")" >&2; done
	so_since "$s"
	rm -rf "$T/in.$seed.$first"
}

forward() { # gateway-dirs...: every quarantined study moved on the mounts in turn; prints seconds or "-"
	want=$((2 * N))
	i=0 n=0
	ls "$1/mnt/quarantine" >"$T/studies"
	g=$#
	s=$(so_now)
	while read -r st; do
		eval "gw=\${$((i % g + 1))}"
		pp=$(printf 'PROJ01-%04d' "$n")
		mkdir "$gw/mnt/projects/PROJ01/$pp" && mv "$gw/mnt/quarantine/$st" "$gw/mnt/projects/PROJ01/$pp/baseline" ||
			echo "mv of $st failed" >&2
		i=$((i + 1)); n=$((n + 1))
	done <"$T/studies"
	w=0 last=0 # given up after 20 s without progress
	while c=$(ocount) && [ "${c:-0}" -lt $want ] && [ $w -lt 200 ]; do
		[ "${c:-0}" -gt "$last" ] && { last=$c; w=0; }
		sleep 0.1; w=$((w + 1))
	done
	[ "$(ocount)" -ge $want ] && so_since "$s" || { echo "forward: $(ocount) of $want stored, stalled" >&2; echo "-"; }
}

# config name mode seed gateways: starts the gateways and a fresh Orthanc, measures, stops
run_config() {
	name=$1 mode=$2 seed=$3 ngw=$4
	SO_DB=$name
	[ "$mode" = shared ] && pg_psql "CREATE DATABASE $name" >/dev/null
	orthanc_start "$T/orthanc-$name" $SO_PACS_PORT 8042 RESEARCH FIONA 11112 || { echo "$name: Orthanc did not start"; return 1; }
	gws=
	k=0
	for gname in A B; do
		[ $k -lt "$ngw" ] || break
		d=$T/$name-$gname
		so_gateway_setup "$d" "$gname" $((11112 + k)) "$mode" || return 1
		fiona_start "$d"
		PIDS="$PIDS $PID"
		grep -q "mounted at" "$d/serve.log" || { echo "$name: gateway $gname did not start: $(tail -n 1 "$d/serve.log")"; return 1; }
		gws="$gws $d"; k=$((k + 1))
	done
	i1=$(ingest "$seed" 0 1 $gws)
	i4=$(ingest "$seed" "$N" 4 $gws)
	set -- $gws
	w=0
	while [ "$(qcount "$1")" -lt $((2 * STUDIES)) ] && [ $w -lt 600 ]; do sleep 0.1; w=$((w + 1)); done
	[ "$(qcount "$1")" -ge $((2 * STUDIES)) ] || echo "$name: $(qcount "$1") of $((2 * STUDIES)) studies in quarantine/ after 60 s"
	if [ "$mode" = shared ]; then # where the objects went
		nk=$("$PROBE" "$S3_ENDPOINT" "$S3_BUCKET" "$S3_KEYFILE" list objects/ 1000 2>/dev/null | grep -c '^objects/')
		[ "$nk" -gt 0 ] || echo "$name: note: no object in the bucket: this fiona keeps objects in data_dir"
	fi
	fw=$(forward $gws)
	for p in $PIDS; do so_kill "$p"; done
	PIDS=
	orthanc_stop
	eval "R1_$name=$(rate $N "$i1") R4_$name=$(rate $N "$i4") RF_$name=$(rate $((2 * N)) "$fw")"
	case $fw in -) fws="did not finish" ;; *) fws="$(rate $((2 * N)) "$fw")/s (${fw} s for $((2 * N)))" ;; esac
	echo "$name, $ngw gateway(s) on $mode stores: ingest 1 association $(rate $N "$i1")/s (${i1} s)," \
		"4 associations $(rate $N "$i4")/s (${i4} s); forward $fws"
}

for c in embedded shared1 shared2; do eval "R1_$c=n/a R4_$c=n/a RF_$c=n/a"; done
run_config embedded embedded 1 1 || echo "embedded: failed"
run_config shared1 shared 2 1 || echo "shared1: failed"
run_config shared2 shared 3 2 || echo "shared2: failed"
for c in shared1 shared2; do
	eval "a=\$R1_$c b=\$R4_$c f=\$RF_$c"
	echo "$c / embedded, rates: ingest 1 association $(ratio "$a" "$R1_embedded")," \
		"4 associations $(ratio "$b" "$R4_embedded"), forward $(ratio "$f" "$RF_embedded")"
done
