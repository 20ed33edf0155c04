#!/bin/sh
# REDCap faults against a fault-free run: the same studies arrive, one is assigned by mv
# and one by a request written in REDCap, both are forwarded to Orthanc and verified —
# once with REDCap answering well, once with REDCap offline (400), its database down
# (HTML on 200), out of memory (500), failing (500), dropping the connection after it
# saved an import, hanging, and stopped (SIGSTOP) for a while. Arrival and forwarding go on
# in the faulty run, slow answers (1.5 s) included, and at the end REDCap's state is the same as the fault-free run's,
# row for row (times of day left out): nothing missing, nothing twice.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
EMU=$(pwd)/$BUILD/tools/redcap-emu
FIX=$(pwd)/tests/redcap/fixture-site.json
e2e_gateway_init redcap-faults
EPID=
trap 'e2e_cleanup; [ -n "$EPID" ] && kill -CONT "$EPID" 2>/dev/null; [ -n "$EPID" ] && kill "$EPID" 2>/dev/null' EXIT
[ -x "$EMU" ] || { echo "SKIP redcap-faults: $EMU missing"; exit 0; }
[ -x "$ORTHANC_BIN" ] || { echo "SKIP redcap-faults: Orthanc missing"; exit 0; }
[ -e /dev/fuse ] && [ "$(id -u)" = 0 ] || { echo "SKIP redcap-faults: needs /dev/fuse and root"; exit 0; }
"$GEN" --preset tiny --seed 7 -o "$T/c" >/dev/null 2>&1 || { fail generate "gen_corpus failed"; exit 1; }
head -c 32 /dev/urandom >"$T/secret" # one secret for both runs: the same hashes and UIDs

config() { # dir port
	cat >"$1/fiona.json" <<JSON
{ "data_dir": "$1/var", "mount_point": "$1/mnt", "secret_file": "$1/var/secret",
  "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.95,
  "destinations": { "research": { "aet": "RESEARCH", "host": "127.0.0.1", "port": 4242,
                                  "calling_aet": "FIONA", "associations": 2 } },
  "projects": { "PROJ01": { "group": "root", "participant_pattern": "^PROJ01-[0-9]{4}\$",
                            "events": [ "baseline", "followup" ], "destination": "research",
                            "redcap_token_file": "$T/tok/proj01" } },
  "redcap": { "url": "http://127.0.0.1:$2/api/", "token_file": "$T/tok/incoming",
              "requests_per_minute": 300, "poll_seconds": 2, "timeout_seconds": 3,
              "retry_max_seconds": 1 } }
JSON
	mkdir -p "$1/var" && (umask 077; cp "$T/secret" "$1/var/secret")
}
mkdir -p "$T/tok" && chmod 700 "$T/tok"
(umask 077; echo AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA >"$T/tok/incoming";
	echo FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF >"$T/tok/proj01")

# What a run leaves in REDCap, without the times of day it was run at.
normalize() {
	sed -e 's/"study_arrival_date":"[^"]*",\{0,1\}//; s/"transfer_date":"[^"]*",\{0,1\}//' \
		-e 's/"transfer_requested_date":"[^"]*",\{0,1\}//; s/,}/}/'
}

run() { # name faulty
	R=$T/$1
	mkdir -p "$R"
	rm -f "$T/emu.port"
	"$EMU" --fixture "$FIX" --port-file "$T/emu.port" 2>"$R/emu.log" &
	EPID=$!
	i=0; while [ ! -s "$T/emu.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	EP=$(cat "$T/emu.port")
	ctl() { curl -sf -d "$1" "http://127.0.0.1:$EP/control"; }
	config "$R" "$EP"
	M=$R/mnt
	orthanc_start "$R/orthanc" 4242 8042 RESEARCH FIONA 11112 || { fail orthanc "Orthanc did not start"; return 1; }
	if [ "$2" = 1 ]; then
		for f in offline dbdown oom error500; do ctl "action=fault&kind=$f&count=1" >/dev/null; done
		ctl "action=fault&kind=drop_after_import&count=2&match=import" >/dev/null
		ctl "action=fault&kind=hang&count=1" >/dev/null
		ctl "action=fault&kind=sysoffline&count=1" >/dev/null
		ctl "action=latency&ms=1500" >/dev/null # and slow, until the mv is done
	fi
	"$FIONA" import -c "$R/fiona.json" "$T/c/P01" >/dev/null 2>&1
	fiona_start "$R"
	fiona_wait_quarantine "$R" 3
	Q=$M/quarantine; P=$M/projects/PROJ01
	set -- $(ls "$Q")
	[ $# -eq 3 ] || fail "$1-quarantine" "$# studies"
	n1=$(find "$Q/$1" -name '*.dcm' | wc -l)
	mkdir "$P/PROJ01-0001" && mv "$Q/$1" "$P/PROJ01-0001/baseline"
	[ "$2" = 1 ] && { kill -STOP "$EPID"; sleep 4; kill -CONT "$EPID"; ctl "action=latency&ms=0" >/dev/null; }
	# the second study by a request written in REDCap, by StudyInstanceUID
	uid=$(dcmdump -q +P 0020,000D "$(find "$Q/$2" -name '*.dcm' | head -1)" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1)
	ctl "action=write&project=Incoming&data=[{\"study_instance_uid\":\"$uid\",\"redcap_repeat_instrument\":\"transfers\",\"redcap_repeat_instance\":1,\"transfer_requested_date\":\"2026-12-02 10:00\",\"transfer_project_name\":\"PROJ01\",\"transfer_name\":\"PROJ01-0002\",\"transfer_event_name\":\"followup\"}]" >/dev/null ||
		fail "$1-request" "request not written"
	i=0 # until both transfers are complete, every fault was met and the outbox is empty
	while [ $i -lt 900 ]; do
		d=$(ctl "action=dump&project=Incoming")
		c=$(echo "$d" | grep -c '"transfers_complete":"2"')
		left=$(ctl action=stats | sed -n 's/.*"faults_left":\(-\{0,1\}[0-9]*\).*/\1/p')
		depth=$("$FIONA" status -c "$R/fiona.json" --json 2>/dev/null | sed -n 's/.*"outbox": \([0-9]*\).*/\1/p')
		[ "$c" -ge 2 ] && [ "$left" = 0 ] && [ "$depth" = 0 ] && break
		sleep 0.2; i=$((i + 1))
	done
	[ "$c" -ge 2 ] && [ "$left" = 0 ] && [ "$depth" = 0 ] || fail "$1-settle" "complete $c, faults left $left, outbox $depth"
	sleep 3 # a further round: nothing more may be written
	ctl "action=dump&project=Incoming" | normalize >"$R/incoming.dump"
	ctl "action=dump&project=PROJ01" | normalize >"$R/proj01.dump"
	ctl action=stats >"$R/stats"
	n_orthanc=$(curl -sf "$ORTHANC_URL/instances" | tr ',' '\n' | grep -c '"')
	echo "$n_orthanc" >"$R/orthanc.count"
	kill "$PID"; wait "$PID" 2>/dev/null; PID=
	fusermount3 -uz "$M" 2>/dev/null
	orthanc_stop
	kill "$EPID"; wait "$EPID" 2>/dev/null; EPID=
}

run clean 0
run faulty 1
M=$T/mnt
[ -s "$T/clean/incoming.dump" ] && [ "$(grep -c '"instrument":"series"' "$T/clean/incoming.dump")" -gt 0 ] &&
	pass "fault-free run: $(grep -c '"record"' "$T/clean/incoming.dump") Incoming rows" || fail clean "$(head -c 300 "$T/clean/incoming.dump")"
grep -q '"faults_left":0' "$T/faulty/stats" && pass "every fault was met ($(grep -c 'status=\(400\|500\|200\)' "$T/faulty/emu.log") answers)" ||
	fail faults "$(cat "$T/faulty/stats")"
[ "$(cat "$T/faulty/orthanc.count")" = "$(cat "$T/clean/orthanc.count")" ] &&
	pass "forwarding unaffected: Orthanc holds $(cat "$T/faulty/orthanc.count") instances in both runs" ||
	fail forward "$(cat "$T/clean/orthanc.count") vs $(cat "$T/faulty/orthanc.count")"
if cmp -s "$T/clean/incoming.dump" "$T/faulty/incoming.dump"; then
	pass "Incoming after the faults == the fault-free run, row for row"
else
	fail incoming "$(diff "$T/clean/incoming.dump" "$T/faulty/incoming.dump" | head -8)"
fi
cmp -s "$T/clean/proj01.dump" "$T/faulty/proj01.dump" && pass "the project's REDCap == the fault-free run" ||
	fail proj01 "$(diff "$T/clean/proj01.dump" "$T/faulty/proj01.dump" | head -6)"
exit $failed
