# Orthanc as a test peer (sourced by e2e tests; POSIX sh).
# Orthanc listens on all interfaces, so callers run inside a private network namespace:
#   netns_reexec "$0" "$@"   at the top of a test re-runs it under `unshare -n` with lo up.
# orthanc_start DIR DICOM_PORT HTTP_PORT AET CALLER_AET CALLER_PORT
#   writes DIR/orthanc.json (storage in DIR/db, CALLER_AET declared as a modality at
#   127.0.0.1:CALLER_PORT so C-FIND from it is allowed), starts /usr/sbin/Orthanc, waits
#   until GET /system answers (up to 30 s). Sets ORTHANC_PID and ORTHANC_URL.
# orthanc_stop: stops it (TERM, then KILL after 10 s).
ORTHANC_BIN=${ORTHANC_BIN:-/usr/sbin/Orthanc}
export TCP_NODELAY=1

netns_reexec() { # script args...
	if [ -z "${FIONA_NETNS:-}" ]; then
		if ! unshare -n true 2>/dev/null; then
			echo "SKIP $(basename "$1"): unshare -n not permitted"
			exit 0
		fi
		FIONA_NETNS=1 exec unshare -n sh -c 'ip link set lo up && exec sh "$@"' sh "$@"
	fi
}

orthanc_start() { # dir dicom_port http_port aet caller_aet caller_port
	mkdir -p "$1/db"
	cat >"$1/orthanc.json" <<JSON
{
  "Name": "fiona-test",
  "StorageDirectory": "$1/db",
  "IndexDirectory": "$1/db",
  "Plugins": [],
  "HttpPort": $3,
  "DicomPort": $2,
  "DicomAet": "$4",
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomCheckCalledAet": false,
  "DicomAlwaysAllowEcho": true,
  "DicomAlwaysAllowStore": true,
  "DicomAlwaysAllowFind": true,
  "DicomModalities": { "caller": [ "$5", "127.0.0.1", $6 ] },
  "StorageCompression": false,
  "OverwriteInstances": true,
  "HttpTimeout": 30,
  "StableAge": 1
}
JSON
	"$ORTHANC_BIN" "$1/orthanc.json" >"$1/orthanc.log" 2>&1 &
	ORTHANC_PID=$!
	ORTHANC_URL="http://127.0.0.1:$3"
	i=0
	while [ $i -lt 300 ]; do
		curl -sf "$ORTHANC_URL/system" >/dev/null 2>&1 && return 0
		kill -0 "$ORTHANC_PID" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

orthanc_stop() {
	[ -n "${ORTHANC_PID:-}" ] || return 0
	kill "$ORTHANC_PID" 2>/dev/null
	i=0
	while kill -0 "$ORTHANC_PID" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$ORTHANC_PID" 2>/dev/null
	wait "$ORTHANC_PID" 2>/dev/null
	ORTHANC_PID=
}
