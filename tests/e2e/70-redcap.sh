#!/bin/sh
# REDCap, against the emulator (tests/redcap/): arrived studies show in Incoming with
# their series; an mv writes a transfers row that gains its outcome once Orthanc holds the
# study; a transfer request written in REDCap (as the Assign application does) is carried
# out; a CouplingList row and a Routing record assign arriving studies; AutoID gives two
# patients two IDs matching the pattern, stable across re-sends and a restart; the
# project's own REDCap gets an imaging row; faults (offline, HTML on 200, out of memory,
# a connection dropped after an import was saved, a hang) leave arrival and forwarding
# working and REDCap without a duplicate or a missing row; a ban stops all traffic and
# fiona status says so; a token file others can read is refused.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
EMU=$(pwd)/$BUILD/tools/redcap-emu
FIX=$(pwd)/tests/redcap/fixture-site.json
e2e_gateway_init redcap
EPID=
trap 'e2e_cleanup; [ -n "$EPID" ] && kill "$EPID" 2>/dev/null' EXIT
[ -x "$EMU" ] || { echo "SKIP redcap: $EMU missing"; exit 0; }
[ -x "$ORTHANC_BIN" ] || { echo "SKIP redcap: Orthanc missing"; exit 0; }
[ -e /dev/fuse ] && [ "$(id -u)" = 0 ] || { echo "SKIP redcap: needs /dev/fuse and root"; exit 0; }

"$EMU" --fixture "$FIX" --port-file "$T/emu.port" 2>"$T/emu.log" &
EPID=$!
i=0; while [ ! -s "$T/emu.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
EP=$(cat "$T/emu.port")
CTL=http://127.0.0.1:$EP/control
ctl() { curl -sf -d "$1" "$CTL"; }
dump() { ctl "action=dump&project=$1"; }

fiona_setup "$T" 7 || { fail generate "gen_corpus failed"; exit 1; }
mkdir -p "$T/tok" && chmod 700 "$T/tok"
tok() { (umask 077; printf '%s\n' "$2" >"$T/tok/$1"); }
tok incoming AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
tok projects BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
tok routing CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC
tok coupling DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD
tok autoid EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE
tok proj01 FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF
cat >"$T/fiona.json" <<JSON
{ "data_dir": "$T/var", "mount_point": "$T/mnt", "secret_file": "$T/var/secret",
  "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.95,
  "destinations": { "research": { "aet": "RESEARCH", "host": "127.0.0.1", "port": 4242,
                                  "calling_aet": "FIONA", "associations": 2 } },
  "projects": { "PROJ01": { "group": "root", "participant_pattern": "^PROJ01-[0-9]{4}\$",
                            "events": [ "baseline", "followup" ], "destination": "research",
                            "redcap_token_file": "$T/tok/proj01",
                            "autoid": { "aet": "PROJ01AUTO" } } },
  "redcap": { "url": "http://127.0.0.1:$EP/api/", "token_file": "$T/tok/incoming",
              "tokens": { "projects": "$T/tok/projects", "routing": "$T/tok/routing",
                          "coupling": "$T/tok/coupling", "autoid": "$T/tok/autoid" },
              "requests_per_minute": 300, "poll_seconds": 2, "timeout_seconds": 5,
              "retry_max_seconds": 2 } }
JSON
grep -q '"redcap"' "$T/fiona.json" || { fail config "could not add the redcap section"; exit 1; }

orthanc_start "$T/orthanc" 4242 8042 RESEARCH FIONA 11112 || { fail orthanc "Orthanc did not start"; exit 1; }
"$FIONA" import -c "$T/fiona.json" "$T/c/P01/ST1_MR" "$T/c/P01/ST2_CT" 2>/dev/null || fail import "import failed"
fiona_start "$T"
fiona_wait_quarantine "$T" 2
Q=$M/quarantine; P=$M/projects/PROJ01

wait_json() { # project pattern count seconds: until the dump holds count matches
	i=0
	while [ "$(dump "$1" | grep -c -- "$2")" -lt "$3" ] && [ $i -lt $(($4 * 10)) ]; do
		sleep 0.1; i=$((i + 1))
	done
	[ "$(dump "$1" | grep -c -- "$2")" -ge "$3" ]
}

# 1. Arrival: one Incoming record per study with its series rows; no patient value.
if wait_json Incoming '"instrument":"","instance":0' 2 20; then pass "2 arrived studies in Incoming"
else fail incoming "$(dump Incoming | head -c 400)"; fi
series=$(dump Incoming | grep -c '"instrument":"series"')
want=$(for d in "$T/c/P01/ST1_MR" "$T/c/P01/ST2_CT"; do ls "$d"; done | wc -l)
[ "$series" -eq "$want" ] && pass "one series row per series ($series)" || fail series "$series rows, want $want"
dump Incoming >"$T/incoming.json"
f1=$(find "$T/c/P01/ST1_MR" -name '*.dcm' | head -1)
pn=$(dcmdump -q +P 0010,0010 "$f1" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1)
pi=$(dcmdump -q +P 0010,0020 "$f1" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1)
pid=$(sed -n 's/.*"study_patient_id":"\([^"]*\)".*/\1/p' "$T/incoming.json" | sort -u | head -1)
! grep -qF -- "$pn" "$T/incoming.json" && ! grep -qF -- "$pi" "$T/incoming.json" && [ ${#pid} -eq 16 ] &&
	pass "patient name and ID only as keyed hashes" || fail hashes "patient id [$pid]"

# 2. mv: a transfers row, then its outcome once Orthanc holds the study.
set -- $(ls "$Q")
S1=$1
n1=$(find "$Q/$S1" -name '*.dcm' | wc -l)
mkdir "$P/PROJ01-0001" && mv "$Q/$S1" "$P/PROJ01-0001/baseline" || fail mv "mv failed"
if wait_json Incoming '"transfer_project_name":"PROJ01"' 1 20; then pass "mv writes a transfers row"
else fail transfers-row "no transfers row"; fi
if wait_json Incoming "\"transfer_num_verified\":\"$n1\"" 1 60; then pass "the row gains its outcome ($n1 verified)"
else fail outcome "$(dump Incoming | grep transfers | head -c 600)"; fi
dump Incoming | grep '"instrument":"transfers"' | grep -q '"transfers_complete":"2"' &&
	dump Incoming | grep '"instrument":"transfers"' | grep -q '"transfer_mapped_uid":"2.25.' &&
	pass "complete, with the de-identified StudyInstanceUID" || fail complete "$(dump Incoming | grep transfers)"
if wait_json PROJ01 '"instrument":"imaging"' 1 20; then pass "the project's REDCap gets an imaging row"
else fail imaging "$(dump PROJ01)"; fi
dump PROJ01 | grep -q '"record":"PROJ01-0001","event":"event_1_arm_1"' &&
	pass "in event_1_arm_1 of the participant's record" || fail imaging-event "$(dump PROJ01)"

# 3. A transfer request written in REDCap (the Assign application) is carried out.
uid2=$(sed -n 's/.*"record":"\([^"]*\)","event":"","instrument":"","instance":0.*/\1/p' "$T/incoming.json" |
	while read -r u; do dump Incoming | grep "\"record\":\"$u\"" | grep -q transfers || echo "$u"; done | head -1)
req="[{\"study_instance_uid\":\"$uid2\",\"redcap_repeat_instrument\":\"transfers\",\"redcap_repeat_instance\":1,\"transfer_requested_date\":\"2026-12-02 10:00\",\"transfer_project_name\":\"PROJ01\",\"transfer_name\":\"PROJ01-0002\",\"transfer_event_name\":\"followup\"}]"
ctl "action=write&project=Incoming&data=$req" >/dev/null || fail request-write "control write failed"
i=0; while [ ! -d "$P/PROJ01-0002/followup" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
[ -d "$P/PROJ01-0002/followup" ] && pass "a REDCap transfer request assigns the study" || fail request "not assigned"
if wait_json Incoming '"transfer_requested_by":"' 1 1 && wait_json Incoming '"transfer_name":"PROJ01-0002"' 1 1 &&
	[ "$(dump Incoming | grep -c '"transfer_name":"PROJ01-0002"')" -eq 1 ]; then
	pass "the outcome goes into the request's own row"
else fail request-row "$(dump Incoming | grep PROJ01-0002)"; fi
grep -q '"how": *"redcap"\|redcap' "$P/PROJ01-0002/followup/.status" 2>/dev/null &&
	pass ".status names the REDCap request" || fail request-status "$(cat "$P/PROJ01-0002/followup/.status" 2>/dev/null)"

# 4. CouplingList and Routing from REDCap assign arriving studies.
acc=$(dcmdump -q +P 0008,0050 "$(find "$T/c/P01/ST3_MR" -name '*.dcm' | head -1)" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1)
ctl "action=write&project=CouplingList&data=[{\"record_id\":\"1\",\"cl_accessionnumber\":\"$acc\",\"cl_projectname\":\"PROJ01\",\"cl_subjectid\":\"PROJ01-0003\",\"cl_eventname\":\"baseline\"}]" >/dev/null
ctl "action=write&project=Routing&data=[{\"record_id\":\"r1\",\"routing_active\":\"1\",\"routing_dest_project\":\"PROJ01\",\"routing_incoming_aetitle\":\"ROUTEME\",\"routing_allowed_patientid\":\".\",\"routing_event_name\":\"followup\"}]" >/dev/null
sleep 5 # one poll
storescu -aet MOD -aec FIONA 127.0.0.1 11112 $(find "$T/c/P01/ST3_MR" -name '*.dcm') 2>/dev/null
i=0; while [ ! -d "$P/PROJ01-0003/baseline" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -d "$P/PROJ01-0003/baseline" ] && pass "a CouplingList row assigns the arriving study" || fail coupling "$(ls "$P")"
pid2=$(dcmdump -q +P 0010,0020 "$(find "$T/c/P02" -name '*.dcm' | head -1)" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1)
storescu -aet MOD -aec ROUTEME 127.0.0.1 11112 $(find "$T/c/P02" -name '*.dcm') 2>/dev/null
i=0; while [ ! -d "$P/$pid2/followup" ] && ! grep -q "REDCap routing record r1 of PROJ01 matched but" "$T/serve.log" &&
	[ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
echo "$pid2" | grep -Eq '^PROJ01-[0-9]{4}$' || echo "  (P02's PatientID $pid2 is no participant ID: routing refuses)"
if echo "$pid2" | grep -Eq '^PROJ01-[0-9]{4}$'; then
	[ -d "$P/$pid2/followup" ] && pass "a Routing record assigns the arriving study" || fail routing "$(ls "$P")"
else
	grep -q "REDCap routing record r1 of PROJ01 matched but" "$T/serve.log" &&
		pass "a Routing record matched (the PatientID is no participant ID: refused, logged by key)" ||
		fail routing "$(grep -i routing "$T/serve.log" | tail -3)"
fi

# 5. AutoID: two patients, sent twice each (and once after a restart): two IDs.
autoid_of() { dump AutoID | sed -n 's/.*"autoid_value":"\([^"]*\)".*/\1/p' | sort -u; }
send_auto() { storescu -aet MOD -aec PROJ01AUTO 127.0.0.1 11112 $(find "$1" -name '*.dcm') 2>/dev/null; }
rm -rf "$T/c3"; "$GEN" --preset tiny --seed 13 -o "$T/c3" >/dev/null 2>&1
send_auto "$T/c3/P01/ST1_MR"; send_auto "$T/c3/P02/ST1_MR"
sleep 3
send_auto "$T/c3/P01/ST1_MR"; send_auto "$T/c3/P02/ST1_MR"
kill "$PID"; wait "$PID" 2>/dev/null; PID=
fiona_start "$T"
send_auto "$T/c3/P01/ST3_MR"
wait_json AutoID '"autoid_value"' 2 20
ids=$(autoid_of)
n=$(echo "$ids" | grep -c .)
bad=$(echo "$ids" | grep -Evc '^PROJ01-[0-9]{4}$')
[ "$n" -eq 2 ] && [ "$bad" -eq 0 ] && pass "AutoID: 2 patients, 2 IDs matching the pattern ($(echo $ids))" ||
	fail autoid "ids: $ids"
i=0; while [ "$(ls "$P" | grep -c .)" -lt 5 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
for id in $ids; do [ -d "$P/$id/baseline" ] || fail autoid-folder "$id has no baseline folder"; done
studies=$(for id in $ids; do ls "$P/$id/baseline" 2>/dev/null; done | grep -vc '^\.')
[ "$studies" -ge 2 ] && pass "AutoID studies assigned under their IDs ($studies)" || fail autoid-assign "$studies studies"

# 6. Faults: REDCap misbehaves while studies arrive and are assigned; afterwards REDCap
# holds every row once.
ctl "action=fault&kind=offline&count=2" >/dev/null
ctl "action=fault&kind=dbdown&count=2" >/dev/null
ctl "action=fault&kind=oom&count=1" >/dev/null
ctl "action=fault&kind=drop_after_import&count=2&match=import" >/dev/null
ctl "action=fault&kind=hang&count=1" >/dev/null
"$FIONA" import -c "$T/fiona.json" "$T/c/P01/ST2_CT" >/dev/null 2>&1
rm -rf "$T/c2"; "$GEN" --preset tiny --seed 11 -o "$T/c2" >/dev/null 2>&1
storescu -aet MOD -aec FIONA 127.0.0.1 11112 $(find "$T/c2/P01/ST1_MR" -name '*.dcm') 2>/dev/null
fiona_wait_quarantine "$T" 2
ls "$Q" | grep -q . && pass "arrival carries on while REDCap fails" || fail fault-arrival "$(ls "$Q")"
i=0; while [ "$(ctl action=stats | sed -n 's/.*"faults_left":\([0-9]*\).*/\1/p')" != 0 ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i + 1)); done
# then the back-off after the last fault (at most retry_max_seconds) and a round: until
# Incoming holds a record per study and the outbox is empty (30 s at most)
st_of() { "$FIONA" status -c "$T/fiona.json" --json 2>/dev/null | sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" | head -1; }
i=0
while [ $i -lt 300 ]; do
	records=$(dump Incoming | grep -c '"instrument":"","instance":0')
	want=$(st_of studies)
	[ "$records" -ge "$want" ] && [ "$(st_of outbox)" = 0 ] && break
	sleep 0.1; i=$((i + 1))
done
sleep 2 # a further round: nothing more may be written
records=$(dump Incoming | grep -c '"instrument":"","instance":0')
want=$(st_of studies)
[ "$records" -eq "$want" ] && pass "after the faults every study is in Incoming once ($records)" ||
	fail fault-records "$records records, $want studies"
dup=$(dump Incoming | grep '"instrument":"series"' | sed -n 's/.*"series_instance_uid":"\([^"]*\)".*/\1/p' | sort | uniq -d | wc -l)
[ "$dup" -eq 0 ] && pass "no series row twice" || fail fault-dup "$dup series UIDs twice"
srows=$(dump Incoming | grep -c '"instrument":"series"')
sseries=$("$FIONA" status -c "$T/fiona.json" --json 2>/dev/null | sed -n 's/.*"series": \([0-9]*\).*/\1/p' | head -1)
[ "$srows" -eq "$sseries" ] && pass "every series has its row ($srows)" || fail fault-series "$srows rows, $sseries series"
depth=$("$FIONA" status -c "$T/fiona.json" --json 2>/dev/null | sed -n 's/.*"outbox": \([0-9]*\).*/\1/p')
[ "$depth" = 0 ] && pass "the outbox is empty again" || fail fault-outbox "depth $depth"

# 6b. A row REDCap refuses for good (a record name with '+', from a StudyInstanceUID no
# modality should send): the batch is bisected, that study parked with the reason, the
# study that came with it written.
mkdir -p "$T/bad" && cp $(find "$T/c2/P01/ST3_MR" -name '*.dcm') "$T/bad/"
dcmodify -nb -m "(0020,000d)=1.2.826.0.1.3680043.9999+7" "$T"/bad/*.dcm 2>/dev/null
good=$(dcmdump -q +P 0020,000D "$(find "$T/c2/P02" -name '*.dcm' | head -1)" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1)
storescu -aet MOD -aec FIONA 127.0.0.1 11112 "$T"/bad/*.dcm $(find "$T/c2/P02" -name '*.dcm') 2>/dev/null
i=0; while ! "$FIONA" status -c "$T/fiona.json" --json 2>/dev/null | grep -q '"parked": 1' && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
st=$("$FIONA" status -c "$T/fiona.json" --json 2>/dev/null)
echo "$st" | grep -q '"parked": 1' && echo "$st" | grep -q '"parked_reason": "REDCap refused' &&
	pass "a refused study is parked with REDCap's reason" || fail park "$(echo "$st" | sed -n 's/.*\("redcap".*\)/\1/p' | head -c 300)"
wait_json Incoming "\"record\":\"$good\"" 1 20 && pass "the study sent with it is written" ||
	fail park-other "$good not in Incoming"
dump Incoming | grep -q '9999+7' && fail park-written "the refused record is in REDCap" ||
	pass "nothing of the refused study in REDCap"
"$FIONA" status -c "$T/fiona.json" 2>/dev/null | grep -q "parked study" && pass "fiona status names the parked study" ||
	fail park-status "$("$FIONA" status -c "$T/fiona.json" 2>/dev/null | grep -A3 redcap)"

# 6c. An event only REDCap knows (PROJ01's own REDCap: event_1_arm_1, not in the
# configuration): mv assigns to it and the mount shows it, in projects/ and export/.
S7=$(ls "$Q" | head -n 1)
mkdir "$P/PROJ01-0007" && mv "$Q/$S7" "$P/PROJ01-0007/event_1_arm_1" 2>"$T/mv7.err" &&
	pass "mv into an event REDCap gave the project" || fail rc-event-mv "$(cat "$T/mv7.err")"
# (a burned-in candidate is shown once the cleaner has kept its outcome: wait for files)
i=0; while ! find "$P/PROJ01-0007/event_1_arm_1" -name '*.dcm' 2>/dev/null | grep -q . && [ $i -lt 150 ]; do
	sleep 0.1; i=$((i + 1)); done
nf=$(find "$P/PROJ01-0007/event_1_arm_1" -name '*.dcm' 2>/dev/null | wc -l)
nx=$(find "$M/export/PROJ01/PROJ01-0007/event_1_arm_1" -name '*.dcm' 2>/dev/null | wc -l)
ls "$P/PROJ01-0007" | grep -qx event_1_arm_1 && [ "$nf" -gt 0 ] && [ "$nx" -eq "$nf" ] &&
	pass "the mount shows the REDCap event folder ($nf files, export/ too)" ||
	fail rc-event-folder "$(ls "$P/PROJ01-0007"); $nf files, export $nx"

# 7. A ban stops all traffic; fiona status says so.
ctl "action=rate_limit&n=3" >/dev/null
before=$(ctl action=stats | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
i=0; while ! ctl action=stats | grep -q '"banned":\["127.0.0.1"\]' && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 1 # the request that was banned has come back to fiona
banned=$(ctl action=stats | grep -c '"banned":\["127.0.0.1"\]')
r1=$(ctl action=stats | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
sleep 5 # more than two poll periods
r2=$(ctl action=stats | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
[ "$banned" -eq 1 ] && [ "$r2" -le $((r1 + 1)) ] && pass "banned: traffic stops ($before -> $r1 -> $r2 requests)" ||
	fail ban "banned=$banned requests $before $r1 $r2"
"$FIONA" status -c "$T/fiona.json" 2>/dev/null | grep -qi "banned" && pass "fiona status says REDCap banned us" ||
	fail ban-status "$("$FIONA" status -c "$T/fiona.json" 2>&1 | grep -i redcap)"

# 8. A token file others can read is refused at start, loudly.
kill "$PID"; wait "$PID" 2>/dev/null; PID=
chmod 644 "$T/tok/incoming"
fiona_start "$T"
grep -q "no REDCap sync: .*incoming.*owner only" "$T/serve.log" && pass "a world-readable token file is refused" ||
	fail token-mode "$(grep -i redcap "$T/serve.log" | tail -2)"
grep -q AAAAAAAA "$T/serve.log" && fail token-leak "a token is in the log" || pass "no token in the log"
exit $failed
