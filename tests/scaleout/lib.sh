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
#   pg_again                  starts the server of pg_start again, on its data and port
#   pg_restart                pg_stop + pg_again
#   ceph_start DIR            mon + OSD + radosgw in DIR/ceph, an S3 user with fresh random
#                             keys and bucket $S3_BUCKET; sets S3_ENDPOINT S3_KEYFILE
#                             S3_BUCKET RGW_PID CEPH_SECONDS CEPH_WHAT (0 on success).
#                             With SO_SHARED_CEPH (tests/scaleout/shared-ceph.sh, started
#                             once by tests/run.sh) only the user and a bucket of a random
#                             name are made, on that cluster, in its network namespace
#   rgw_stop / rgw_start      stop radosgw alone (TERM by pid) / start it again and wait
#   ceph_stop                 radosgw, OSD and mon, by pid (a shared cluster is left up)
#   so_stop_all               everything started here (for an EXIT trap)
# Gateways on these stores (tests/scaleout/30-gateways.sh, tests/bench/gateways.sh):
#   so_gateway_setup DIR NAME PORT [shared|embedded]
#                             writes DIR/fiona.json (data DIR/var, mount DIR/mnt, C-STORE
#                             FIONA on PORT, gateway NAME, destination "research" =
#                             RESEARCH at 127.0.0.1:$SO_PACS_PORT called as FIONA_NAME,
#                             projects PROJ01 (by mv) and BULK01 (routed by PatientID
#                             BULK01-NNNN, baseline)). shared (default): catalog = the
#                             database $SO_DB of pg_start's server, objects = ceph_start's
#                             bucket, lease_seconds $SO_LEASE; SO_OBJECTS=DIR puts the
#                             objects in a directory DIR instead (the catalog side alone).
#                             embedded: SQLite and files in DIR/var. Every gateway shares
#                             the site secret $SO_SECRET (made on first use).
#   so_orthanc_rx DIR         makes the next orthanc_start log every instance it receives,
#                             duplicates too: "FIONA-RX <calling AET> <PatientID> <SOP UID>"
#                             (a Lua ReceivedInstanceFilter; ORTHANC_BIN becomes a wrapper)
#   so_rx LOG REGEX           of the receptions whose PatientID matches REGEX: "TOTAL
#                             DISTINCT AET:N ..." (duplicates = TOTAL - DISTINCT)
# S3_KEYFILE (mode 0600) holds "access_key_id = ..." and "secret_access_key = ..." lines,
# the format store/s3.c reads. Nothing here prints the keys.
SO_PGBIN=${SO_PGBIN:-/usr/lib/postgresql/15/bin}
PG_PID= MON_PID= OSD_PID= RGW_PID=

so_netns_reexec() { # script args...
	[ -n "${FIONA_NETNS:-}" ] && return 0
	# the shared Ceph's namespace, where its loopback ports are
	if [ -n "${SO_SHARED_CEPH:-}" ] && [ -e "/proc/${SO_NETNS_PID:-0}/ns/net" ]; then
		FIONA_NETNS=1 exec nsenter --net="/proc/$SO_NETNS_PID/ns/net" sh "$@"
	fi
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

pg_again() {
	so_as_pg "$SO_PGBIN/pg_ctl" -w -t 30 -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
		-o "-p $PG_PORT -k $PG_SOCK -c listen_addresses=127.0.0.1" start >/dev/null 2>&1 ||
		return 1
	PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
}

pg_restart() {
	pg_stop
	pg_again
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

# A mon that has just started can refuse commands for a moment (seen in CI: "Error EPERM:
# problem getting command descriptions from mon"), so the commands of the setup, which are
# idempotent, are tried again for up to 30 s.
ceph_cli_retry() { # args...
	i=0
	until ceph_cli "$@"; do
		i=$((i + 1))
		[ $i -ge 30 ] && return 1
		sleep 1
	done
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
	# whoever stops the cluster finds the radosgw a test started again by this file
	echo "$RGW_PID" >"$CEPH_DIR/rgw.pid"
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
	curl -s -K "$S3_CURLCONF" -X "$m" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		"$@" "$S3_ENDPOINT$p"
}

ceph_start() { # dir
	t0=$(so_now)
	if [ -n "${SO_SHARED_CEPH:-}" ] && [ -s "$SO_SHARED_CEPH/shared.env" ]; then
		ceph_join "$1" || return 1
		CEPH_SECONDS=$(so_since "$t0")
		return 0
	fi
	CEPH_WHAT="Ceph mon + osd + radosgw + user + bucket"
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
	ceph_cli_retry osd new "$uuid" >/dev/null 2>>"$CEPH_DIR/log/mkfs.out" &&
		ceph-osd -c "$CEPH_DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$uuid" \
			>>"$CEPH_DIR/log/mkfs.out" 2>&1 &&
		ceph_cli_retry osd crush add osd.0 1.0 root=default >/dev/null 2>>"$CEPH_DIR/log/mkfs.out" ||
		{ echo "ceph_start: osd mkfs failed: $(tail -n 1 "$CEPH_DIR/log/mkfs.out")" >&2; return 1; }
	osd_start
	rgw_start || { echo "ceph_start: radosgw not answering: $(tail -n 2 "$CEPH_DIR/log/rgw.out")" >&2; return 1; }
	ceph_user_bucket "$1" || return 1
	CEPH_SECONDS=$(so_since "$t0")
}

# The S3 side of ceph_start: a user with fresh random keys, the key files, the bucket.
ceph_user_bucket() { # dir
	ak=$(so_rand 20) sk=$(so_rand 40) uid=fiona-$(so_rand 8)
	radosgw-admin -c "$CEPH_DIR/ceph.conf" user create --uid="$uid" --display-name=fiona \
		--access-key="$ak" --secret-key="$sk" >/dev/null 2>>"$1/ceph-user.out" ||
		{ echo "ceph_start: radosgw-admin user create failed: $(tail -n 1 "$1/ceph-user.out")" >&2; return 1; }
	S3_KEYFILE=$1/s3.keys S3_CURLCONF=$1/s3.curl
	(umask 077
	 printf 'access_key_id = %s\nsecret_access_key = %s\n' "$ak" "$sk" >"$S3_KEYFILE"
	 printf 'user = "%s:%s"\naws-sigv4 = "aws:amz:us-east-1:s3"\n' "$ak" "$sk" >"$S3_CURLCONF")
	code=$(s3_curl PUT "/$S3_BUCKET" -o "$1/mkbucket.out" -w '%{http_code}')
	[ "$code" = 200 ] || { echo "ceph_start: bucket create: HTTP $code $(cat "$1/mkbucket.out")" >&2; return 1; }
}

# ceph_start on the shared cluster: the test's own user and bucket (a random name, so no
# test sees another's keys), and radosgw started again if an earlier test stopped it.
ceph_join() { # dir
	. "$SO_SHARED_CEPH/shared.env" || return 1
	CEPH_WHAT="user + bucket on the shared Ceph (started once in ${SO_SHARED_SECONDS} s)"
	S3_BUCKET=${S3_BUCKET:-fiona-test}-$(tr -dc 'a-z0-9' </dev/urandom | head -c 8)
	RGW_PID=$(cat "$CEPH_DIR/rgw.pid" 2>/dev/null)
	if ! curl -s -o /dev/null -m 2 "$S3_ENDPOINT/"; then
		rgw_start || { echo "ceph_start: shared radosgw not answering" >&2; return 1; }
	fi
	mkdir -p "$1" && ceph_user_bucket "$1"
}

ceph_stop() {
	# A test on the shared cluster leaves it up, its radosgw too (running again if the
	# test restarted it); shared-ceph.sh stops it after the last test.
	if [ -n "${SO_SHARED_CEPH:-}" ] && [ "$CEPH_DIR" = "$SO_SHARED_CEPH" ] &&
		[ -z "${SO_HOLDER:-}" ]; then
		RGW_PID=
		return 0
	fi
	[ -s "$CEPH_DIR/rgw.pid" ] && RGW_PID=$(cat "$CEPH_DIR/rgw.pid")
	rgw_stop
	so_kill "$OSD_PID"; OSD_PID=
	so_kill "$MON_PID"; MON_PID=
}

so_stop_all() {
	ceph_stop
	pg_stop
}

# ---- fiona gateways on these stores ----------------------------------------------------

so_shared_keys() { # name: the configuration keys that put a gateway on the shared stores
	if [ -n "${SO_OBJECTS:-}" ]; then
		objects="\"objects\": \"dir:$SO_OBJECTS\","
	else
		objects="\"objects\": \"s3:$S3_ENDPOINT/$S3_BUCKET\",
  \"s3\": { \"key_file\": \"$S3_KEYFILE\", \"grace_seconds\": ${SO_GRACE:-5} },"
	fi
	# connect_timeout bounds how long a gateway waits for a server that went away
	cat <<KEYS
  "catalog": "postgres:host=127.0.0.1 port=$PG_PORT dbname=${SO_DB:-fiona} user=postgres connect_timeout=3",
  $objects
  "gateway": "$1", "lease_seconds": ${SO_LEASE:-60},
KEYS
}

so_gateway_setup() { # dir name port [shared|embedded]
	mkdir -p "$1/var" || return 1
	[ -s "$SO_SECRET" ] || (umask 077; head -c 32 /dev/urandom >"$SO_SECRET") || return 1
	shared=
	[ "${4:-shared}" = shared ] && shared=$(so_shared_keys "$2")
	# "nifti": false: dcm2niix converting every study in the background would be timed too
	cat >"$1/fiona.json" <<JSON
{ $shared
  "data_dir": "$1/var", "mount_point": "$1/mnt", "secret_file": "$SO_SECRET",
  "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": $3, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.99,
  "destinations": { "research": { "aet": "RESEARCH", "host": "127.0.0.1",
                                  "port": ${SO_PACS_PORT:-4242}, "calling_aet": "FIONA_$2",
                                  "associations": 2 } },
  "projects": {
    "PROJ01": { "group": "root", "participant_pattern": "^PROJ01-[0-9]{4}\$",
                "events": [ "baseline", "followup" ], "destination": "research",
                "nifti": false },
    "BULK01": { "group": "root", "participant_pattern": "^BULK01-[0-9]{4}\$",
                "events": [ "baseline" ], "destination": "research", "nifti": false,
                "routing": [ { "patient_id": "^BULK01-[0-9]{4}\$", "event": "baseline" } ] } } }
JSON
}

so_orthanc_rx() { # dir
	mkdir -p "$1" || return 1
	cat >"$1/rx.lua" <<'LUA'
function ReceivedInstanceFilter(dicom, origin, info)
  print('FIONA-RX ' .. tostring(origin['RemoteAet']) .. ' ' .. tostring(dicom['PatientID']) ..
        ' ' .. tostring(dicom['SOPInstanceUID']))
  return true
end
LUA
	# orthanc_start passes one file; Orthanc merges every file of a folder: that file, the
	# script, and more DICOM threads (two gateways' associations, one of them stopped,
	# and a C-FIND)
	cat >"$1/orthanc-rx" <<SH
#!/bin/sh
d=\$(dirname "\$1")/conf
mkdir -p "\$d" && cp "\$1" "\$d/orthanc.json" &&
	printf '{ "LuaScripts": [ "%s" ], "DicomThreadsCount": 12 }\n' "$1/rx.lua" >"\$d/rx.json" &&
	exec ${ORTHANC_BIN:-/usr/sbin/Orthanc} "\$d"
SH
	chmod 755 "$1/orthanc-rx"
	ORTHANC_BIN=$1/orthanc-rx
}

so_rx() { # log regex
	grep -o 'FIONA-RX .*' "$1" 2>/dev/null |
		awk -v re="$2" '$3 ~ re { n++; if (!seen[$4]++) d++; by[$2]++ }
			END { printf "%d %d", n, d; for (a in by) printf " %s:%d", a, by[a]; print "" }'
}
