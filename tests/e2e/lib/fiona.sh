# Shared by the end-to-end tests that run a whole gateway (50-mount, 60-forward).
#   fiona_setup T SEED        writes T/fiona.json (data T/var, mount T/mnt, port 11112,
#                             project PROJ01 with events baseline/followup, destination
#                             RESEARCH at 127.0.0.1:4242), a site secret, and the tiny
#                             corpus of SEED in T/c
#   fiona_start T             starts `fiona serve` (PID), waits for the mount
#   fiona_wait_quarantine T N waits until quarantine/ lists N studies (arrival is async)
FIONA=${FIONA:-$(pwd)/${BUILD:-build}/fiona}
GEN=${GEN:-$(pwd)/${BUILD:-build}/tools/gen_corpus}

# FIONA_E2E_PG="host=127.0.0.1 port=P user=postgres" (make test-pg): the catalog is a
# fresh PostgreSQL database of that server instead of SQLite in data_dir.
fiona_catalog_line() { # dir
	[ -n "${FIONA_E2E_PG:-}" ] || return 0
	db=fiona_$(basename "$1" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' _)_$$
	psql -X -q "$FIONA_E2E_PG dbname=postgres" -c "CREATE DATABASE $db" >/dev/null 2>&1
	mkdir -p "$1" && echo "$db" >"$1/pgdb"
	echo "\"catalog\": \"postgres:$FIONA_E2E_PG dbname=$db\","
}
# Runs SQL on the catalog of the gateway in dir as the test reads it: rows of '|'-separated
# columns, on SQLite or on PostgreSQL (FIONA_E2E_PG).
fiona_sql() { # dir sql
	if [ -s "$1/pgdb" ]; then
		psql -X -q -At -F'|' "$FIONA_E2E_PG dbname=$(cat "$1/pgdb")" -c "$2"
	else
		sqlite3 "$1/var/catalog.db" "$2"
	fi
}

fiona_setup() { # dir seed
	cat >"$1/fiona.json" <<JSON
{ $(fiona_catalog_line "$1")
  "data_dir": "$1/var", "mount_point": "$1/mnt", "secret_file": "$1/var/secret",
  "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.95,
  "destinations": { "research": { "aet": "RESEARCH", "host": "127.0.0.1", "port": 4242,
                                  "calling_aet": "FIONA", "associations": 2 } },
  "projects": { "PROJ01": { "group": "root", "participant_pattern": "^PROJ01-[0-9]{4}\$",
                            "events": [ "baseline", "followup" ], "destination": "research" } } }
JSON
	mkdir -p "$1/var" && (umask 077; head -c 32 /dev/urandom >"$1/var/secret")
	"$GEN" --preset tiny --seed "$2" -o "$1/c" >/dev/null 2>&1
}

fiona_start() { # dir
	touch "$1/serve.log"
	# the log is kept across restarts: wait for this start's line, not an earlier one's
	from=$(($(wc -l <"$1/serve.log") + 1))
	"$FIONA" serve -c "$1/fiona.json" 2>>"$1/serve.log" &
	PID=$!
	i=0
	while ! tail -n +"$from" "$1/serve.log" | grep -q "mounted at" && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
}

fiona_wait_quarantine() { # dir count: until quarantine/ lists count studies (up to 10 s)
	i=0
	while [ "$(ls "$1/mnt/quarantine" 2>/dev/null | wc -l)" -lt "$2" ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
}

# The common start of a gateway test: T (temporary), M (its mount point), PID (fiona
# serve), cleanup at exit (fiona, Orthanc if started, the mount, T), pass/fail lines as
# "PASS name/what" and $failed for the exit status.
#   e2e_gateway_init NAME
e2e_gateway_init() {
	E2E_NAME=$1
	T=$(mktemp -d)
	M=$T/mnt
	PID=
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM
	export LC_ALL=C
	failed=0
}
e2e_cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	command -v orthanc_stop >/dev/null 2>&1 && orthanc_stop
	fusermount3 -uz "$M" 2>/dev/null
	[ -n "$KEEP" ] || rm -rf "$T"
}
# Ends the test with a SKIP line (exit 0) unless a FUSE mount with allow_other can be made
# here and every named command is on PATH.
#   e2e_need_mount [COMMAND...]
e2e_need_mount() {
	[ -e /dev/fuse ] || { echo "SKIP $E2E_NAME: no /dev/fuse on this machine"; exit 0; }
	[ "$(id -u)" = 0 ] || { echo "SKIP $E2E_NAME: allow_other needs root here"; exit 0; }
	for c in fusermount3 "$@"; do
		command -v "$c" >/dev/null || { echo "SKIP $E2E_NAME: $c missing (make deps)"; exit 0; }
	done
}
pass() { echo "PASS $E2E_NAME/$1"; }
fail() { echo "FAIL $E2E_NAME/$1: $2"; failed=1; }
