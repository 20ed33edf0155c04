# One-machine harness for the scale-out tests: a PostgreSQL 15 server and a single-node
# Ceph (one mon, one memstore OSD, radosgw with the beast frontend) on 127.0.0.1, each on a
# random free port, every byte of state under the caller's directory, no systemd, no
# cephadm. Daemons run in the foreground as children of the test (their pids are kept)
# and are stopped by those pids only.
#   so_netns_reexec "$0" "$@" re-runs the test under `unshare -n` with lo up (own ports)
#   so_have_servers           0 when postgresql-15 and radosgw/ceph-mon/ceph-osd are installed
#   so_free_port              prints a TCP port nothing listens on
#   pg_start DIR              initdb + pg_ctl start in DIR/pg (trust auth, loopback only);
#                             sets PG_PORT PG_PID PG_SOCK PG_SECONDS
#   pg_psql SQL               runs psql -c SQL against it (prints the result, no header)
#   pg_stop                   fast shutdown by PG_PID
#   ceph_start DIR            mon + OSD + radosgw in DIR/ceph, an S3 user with fresh random
#                             keys and bucket $S3_BUCKET; sets S3_ENDPOINT S3_KEYFILE
#                             S3_BUCKET RGW_PID CEPH_SECONDS (0 on success)
#   rgw_stop / rgw_start      stop radosgw alone (TERM by pid) / start it again and wait
#   ceph_stop                 radosgw, OSD and mon, by pid
#   so_stop_all               everything started here (for an EXIT trap)
# S3_KEYFILE (mode 0600) holds "access_key_id = ..." and "secret_access_key = ..." lines,
# the format store/s3.c reads. Nothing here prints the keys.
SO_PGBIN=${SO_PGBIN:-/usr/lib/postgresql/15/bin}
PG_PID= MON_PID= OSD_PID= RGW_PID=

so_netns_reexec() { # script args...
	[ -n "${FIONA_NETNS:-}" ] && return 0
	if ! unshare -n true 2>/dev/null; then
		echo "SKIP $(basename "$1"): unshare -n not permitted"
		exit 0
	fi
	FIONA_NETNS=1 exec unshare -n sh -c 'ip link set lo up && exec sh "$@"' sh "$@"
}

so_have_servers() {
	[ -x "$SO_PGBIN/initdb" ] && [ -x "$SO_PGBIN/pg_ctl" ] && command -v psql >/dev/null &&
		command -v radosgw >/dev/null && command -v ceph-mon >/dev/null &&
		command -v ceph-osd >/dev/null && command -v radosgw-admin >/dev/null &&
		command -v monmaptool >/dev/null && command -v ceph >/dev/null
}

so_now() { date +%s.%N; }
so_since() { awk -v a="$1" -v b="$(so_now)" 'BEGIN { printf "%.2f", b - a }'; }

so_free_port() {
	while :; do
		p=$(( $(od -An -N2 -tu2 /dev/urandom) % 30000 + 20000 ))
		[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
	done
}

so_wait_gone() { # pid seconds: until the process is gone (0) or the time is up (1)
	i=0
	while kill -0 "$1" 2>/dev/null; do
		[ $i -ge $(($2 * 10)) ] && return 1
		sleep 0.1; i=$((i + 1))
	done
	return 0
}

so_kill() { # pid: TERM, then KILL after 15 s; reaps it when it is our child
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	so_wait_gone "$1" 15 || kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# ---- PostgreSQL ------------------------------------------------------------------------

so_as_pg() { # command...: as the postgres user when root (initdb refuses root)
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() { # dir
	t0=$(so_now)
	PG_DIR=$1/pg
	PG_SOCK=$PG_DIR/sock
	PG_PORT=$(so_free_port)
	mkdir -p "$PG_DIR/sock" || return 1
	# the postgres user must reach its directory through the test's private one
	[ "$(id -u)" = 0 ] && { chmod 711 "$1"; chown -R postgres "$PG_DIR"; }
	so_as_pg "$SO_PGBIN/initdb" --no-sync -D "$PG_DIR/data" -A trust -U postgres \
		>"$PG_DIR/initdb.log" 2>&1 || { echo "pg_start: initdb failed: $(tail -n 1 "$PG_DIR/initdb.log")" >&2; return 1; }
	so_as_pg "$SO_PGBIN/pg_ctl" -w -t 30 -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
		-o "-p $PG_PORT -k $PG_SOCK -c listen_addresses=127.0.0.1" start >/dev/null 2>&1 ||
		{ echo "pg_start: pg_ctl start failed: $(tail -n 1 "$PG_DIR/server.log")" >&2; return 1; }
	PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
	PG_SECONDS=$(so_since "$t0")
}

pg_psql() { # sql
	psql -X -q -A -t -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "$1"
}

pg_stop() {
	[ -n "$PG_PID" ] || return 0
	kill -INT "$PG_PID" 2>/dev/null # fast shutdown
	so_wait_gone "$PG_PID" 15 || kill -9 "$PG_PID" 2>/dev/null
	PG_PID=
}

# ---- Ceph ------------------------------------------------------------------------------

so_rand() { # n: n random letters and digits
	tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$1"
}

ceph_conf() { # dir fsid mon_port rgw_port
	cat >"$1/ceph.conf" <<CONF
[global]
fsid = $2
mon host = v1:127.0.0.1:$3
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
public addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv6 = false
run dir = $1/run
admin socket = $1/run/\$name.asok
log file = $1/log/\$name.log
mon data = $1/mon/\$name
osd data = $1/osd/\$name
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
# On its first start an OSD of this release asks the mon to place it with an fsid of
# zeros ("wrong fsid", then exits): it is placed by ceph_start instead.
osd crush update on start = false
osd class update on start = false
mon allow pool size one = true
mon data avail warn = 1
mon data avail crit = 0
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$4
rgw data = $1/rgw
CONF
}

ceph_cli() { # args...: the ceph CLI against this cluster, bounded in time
	timeout 20 ceph -c "$CEPH_DIR/ceph.conf" "$@"
}

rgw_wait() { # seconds: until radosgw answers HTTP
	i=0
	while ! curl -s -o /dev/null -m 1 "$S3_ENDPOINT/"; do
		kill -0 "$RGW_PID" 2>/dev/null || return 1
		[ $i -ge $(($1 * 10)) ] && return 1
		sleep 0.1; i=$((i + 1))
	done
}

rgw_start() {
	radosgw -c "$CEPH_DIR/ceph.conf" -n client.rgw.a -f >>"$CEPH_DIR/log/rgw.out" 2>&1 &
	RGW_PID=$!
	rgw_wait 60
}

rgw_stop() {
	so_kill "$RGW_PID"
	RGW_PID=
}

osd_start() {
	ceph-osd -c "$CEPH_DIR/ceph.conf" -i 0 -f >>"$CEPH_DIR/log/osd.out" 2>&1 &
	OSD_PID=$!
}

s3_curl() { # method path [curl args...]: a SigV4-signed request with the harness keys
	m=$1 p=$2; shift 2
	curl -s -K "$CEPH_DIR/curl.conf" -X "$m" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		"$@" "$S3_ENDPOINT$p"
}

ceph_start() { # dir
	t0=$(so_now)
	CEPH_DIR=$1/ceph
	S3_BUCKET=${S3_BUCKET:-fiona-test}
	mon_port=$(so_free_port)
	rgw_port=$(so_free_port)
	while [ "$rgw_port" = "$mon_port" ]; do rgw_port=$(so_free_port); done
	S3_ENDPOINT=http://127.0.0.1:$rgw_port
	fsid=$(cat /proc/sys/kernel/random/uuid)
	mkdir -p "$CEPH_DIR/run" "$CEPH_DIR/log" "$CEPH_DIR/mon" "$CEPH_DIR/osd/osd.0" "$CEPH_DIR/rgw" ||
		return 1
	ceph_conf "$CEPH_DIR" "$fsid" "$mon_port" "$rgw_port"
	monmaptool --create --add a "v1:127.0.0.1:$mon_port" --fsid "$fsid" "$CEPH_DIR/monmap" \
		>/dev/null 2>&1 &&
		ceph-mon -c "$CEPH_DIR/ceph.conf" --mkfs -i a --monmap "$CEPH_DIR/monmap" \
			>"$CEPH_DIR/log/mkfs.out" 2>&1 ||
		{ echo "ceph_start: mon mkfs failed: $(tail -n 1 "$CEPH_DIR/log/mkfs.out")" >&2; return 1; }
	ceph-mon -c "$CEPH_DIR/ceph.conf" -i a -f >"$CEPH_DIR/log/mon.out" 2>&1 &
	MON_PID=$!
	uuid=$(cat /proc/sys/kernel/random/uuid)
	ceph_cli osd new "$uuid" >/dev/null 2>>"$CEPH_DIR/log/mkfs.out" &&
		ceph-osd -c "$CEPH_DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$uuid" \
			>>"$CEPH_DIR/log/mkfs.out" 2>&1 &&
		ceph_cli osd crush add osd.0 1.0 root=default >/dev/null 2>>"$CEPH_DIR/log/mkfs.out" ||
		{ echo "ceph_start: osd mkfs failed: $(tail -n 1 "$CEPH_DIR/log/mkfs.out")" >&2; return 1; }
	osd_start
	rgw_start || { echo "ceph_start: radosgw not answering: $(tail -n 2 "$CEPH_DIR/log/rgw.out")" >&2; return 1; }
	ak=$(so_rand 20) sk=$(so_rand 40)
	radosgw-admin -c "$CEPH_DIR/ceph.conf" user create --uid=fiona --display-name=fiona \
		--access-key="$ak" --secret-key="$sk" >/dev/null 2>>"$CEPH_DIR/log/mkfs.out" ||
		{ echo "ceph_start: radosgw-admin user create failed" >&2; return 1; }
	S3_KEYFILE=$1/s3.keys
	(umask 077
	 printf 'access_key_id = %s\nsecret_access_key = %s\n' "$ak" "$sk" >"$S3_KEYFILE"
	 printf 'user = "%s:%s"\naws-sigv4 = "aws:amz:us-east-1:s3"\n' "$ak" "$sk" >"$CEPH_DIR/curl.conf")
	code=$(s3_curl PUT "/$S3_BUCKET" -o "$CEPH_DIR/log/mkbucket.out" -w '%{http_code}')
	[ "$code" = 200 ] || { echo "ceph_start: bucket create: HTTP $code $(cat "$CEPH_DIR/log/mkbucket.out")" >&2; return 1; }
	CEPH_SECONDS=$(so_since "$t0")
}

ceph_stop() {
	rgw_stop
	so_kill "$OSD_PID"; OSD_PID=
	so_kill "$MON_PID"; MON_PID=
}

so_stop_all() {
	ceph_stop
	pg_stop
}
