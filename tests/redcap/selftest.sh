#!/bin/sh
# Self-test of redcap-emu: starts it on port 0 with the site fixture and checks the REDCap
# behaviour fiona depends on, byte for byte where REDCap's bytes are known.
# Prints "PASS name" / "FAIL name: why" per check; exits non-zero if any failed.
# The TLS checks are selftest_tls.sh, run at the end.
#   BUILD=build-emu sh tests/redcap/selftest.sh
set -u
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
EMU=$top/$BUILD/tools/redcap-emu
FIX=$top/tests/redcap/fixture-site.json
tmp=$(mktemp -d)
pid=
bg=
fails=0

cleanup() {
	[ -n "$bg" ] && kill "$bg" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ ! -x "$EMU" ]; then
	echo "FAIL selftest: $EMU not built (make BUILD=$BUILD test-build)"
	exit 1
fi
"$EMU" --fixture "$FIX" --port-file "$tmp/port" 2>"$tmp/emu.log" &
pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -s "$tmp/port" ]; then
	echo "FAIL start: no port file"; cat "$tmp/emu.log"; exit 1
fi
U=http://127.0.0.1:$(cat "$tmp/port")

IN=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA    # Incoming
RO=EXPORTONLYAAAAAAAAAAAAAAAAAAAAAA    # Incoming, export only
DTP=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB   # DataTransferProjects
AID=EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE   # AutoID
P1=FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF    # PROJ01

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

# api ARGS...: POST /api/; the status goes to $tmp/code, the body to $tmp/body.
api() {
	curl -s -o "$tmp/body" -w '%{http_code} %{content_type}' "$U/api/" "$@" >"$tmp/code"
}
ctl() { curl -s "$U/control" "$@"; }
body() { cat "$tmp/body"; }
code() { cut -d' ' -f1 "$tmp/code"; }
ctype() { cut -d' ' -f2- "$tmp/code"; }

# expect NAME STATUS BODY: the last api call answered exactly this.
expect() {
	if [ "$(code)" = "$2" ] && [ "$(body)" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "got $(code) '$(body | head -c 400)', want $2 '$3'"
	fi
}
# expect_has NAME STATUS TEXT: the body contains TEXT.
expect_has() {
	if [ "$(code)" = "$2" ] && grep -qF -- "$3" "$tmp/body"; then
		pass "$1"
	else
		fail "$1" "got $(code) '$(body | head -c 400)', want $2 with '$3'"
	fi
}
imp() { # imp TOKEN JSON [more curl args]
	t=$1; d=$2; shift 2
	api -d token="$t" -d content=record -d format=json --data-urlencode "data=$d" "$@"
}

NOAPI='You do not have permissions to use the API'
VALID='The value you provided could not be validated because it does not follow the expected format. Please try again.'

# --- formats and errors
api -d token=$IN -d content=version -d format=json
if [ "$(body)" = "15.7.6" ] && [ "$(ctype)" = "text/csv; charset=utf-8" ]; then
	pass version_text_csv; else fail version_text_csv "$(cat "$tmp/code") $(body)"; fi
api -d token=$IN -d content=metadata
if [ "$(code)" = 200 ] && [ "$(ctype)" = "text/xml; charset=utf-8" ] &&
	head -n 1 "$tmp/body" | grep -qxF '<?xml version="1.0" encoding="UTF-8" ?>'; then
	pass xml_default_format; else fail xml_default_format "$(cat "$tmp/code") $(body | head -c 80)"; fi
api -d token=NOTATOKEN0000000000000000000000000 -d content=record -d format=json
expect bad_token_json 403 "{\"error\":\"$NOAPI\"}"
api -d token=NOTATOKEN0000000000000000000000000 -d content=record -d format=csv
expect bad_token_csv 403 "ERROR: $NOAPI"
api -d token=NOTATOKEN0000000000000000000000000 -d content=record
expect bad_token_xml 403 "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><hash><error>$NOAPI</error></hash>"
api -d token='bad-token!' -d content=record -d format=csv -d returnFormat=json
expect returnformat_wins 403 "{\"error\":\"$NOAPI\"}"
api -d token=$IN -d content=nonsense -d format=json
expect unknown_content 400 '{"error":"The value of the parameter \"content\" is not valid"}'
imp $RO '[{"study_instance_uid":"9"}]'
expect export_only_token 403 '{"error":"You do not have API Import\/Update privileges"}'
api -d token=$IN -d content=event -d format=json
expect classic_events 400 '{"error":"You cannot export events for classic projects"}'
api -d token=$P1 -d content=event -d format=json
expect unique_event_names 200 '[{"event_name":"Baseline","arm_num":1,"unique_event_name":"baseline_arm_1","custom_event_label":"","event_id":101},{"event_name":"Follow up","arm_num":1,"unique_event_name":"follow_up_arm_1","custom_event_label":"","event_id":102},{"event_name":"Event 1","arm_num":1,"unique_event_name":"event_1_arm_1","custom_event_label":"","event_id":103}]'
api -d token=$IN -d content=record -d format=json -d 'fields[0]=nope'
expect export_unknown_field 400 '{"error":"The following values in the parameter \"fields\" are not valid: '"'nope'"'"}'
api -d token=$P1 -d content=metadata -d format=json -d 'forms[0]=imaging' -d 'forms[1]=nope' -d 'fields[0]=zzz'
n=$(grep -o '"field_name"' "$tmp/body" | wc -l)
if [ "$(code)" = 200 ] && [ "$n" -eq 5 ] && ! grep -q '_complete' "$tmp/body"; then
	pass metadata_ignores_unknown; else fail metadata_ignores_unknown "$n fields: $(body | head -c 200)"; fi
api -d token=$IN -d content=project -d format=json
expect_has project_object 200 '{"project_id":11,"project_title":"Incoming",'
grep -qF '"is_longitudinal":0,"has_repeating_instruments_or_events":1' "$tmp/body" &&
	pass project_ints || fail project_ints "$(body)"

# --- import, export shapes
imp $IN '[{"study_instance_uid":"1.2.3","study_description":"Head/neck","study_arrival_date":"2024-01-02 03:04"},{"study_instance_uid":"1.2.3","redcap_repeat_instrument":"transfers","redcap_repeat_instance":1,"transfer_project_name":"PROJ01","transfer_error_message":"boom","transfer_error___1":1,"transfer_active_proc_time":12}]'
expect count_distinct_records 200 '{"count": 1}'
api -d token=$IN -d content=record -d format=json -d 'records[0]=1.2.3' -d 'fields[0]=study_instance_uid' -d 'fields[1]=study_description'
expect key_order_and_slash 200 '[{"study_instance_uid":"1.2.3","redcap_repeat_instrument":"","redcap_repeat_instance":"","study_description":"Head\/neck"}]'
api -d token=$IN -d content=record -d format=json -d 'records[0]=1.2.3' -d 'forms[0]=transfers'
if grep -qF '"redcap_repeat_instrument":"transfers","redcap_repeat_instance":1,' "$tmp/body" &&
	grep -qF '"redcap_repeat_instrument":"","redcap_repeat_instance":"",' "$tmp/body" &&
	grep -qF '"transfer_error___1":"1","transfer_error___2":"0"' "$tmp/body"; then
	pass instance_int_base_blank; else fail instance_int_base_blank "$(body | head -c 300)"; fi
api -d token=$P1 -d content=record -d format=json
expect empty_export 200 '[]'
imp $P1 '[{"record_id":"PROJ01-0001","redcap_event_name":"event_1_arm_1","first_name":"A"},{"record_id":"PROJ01-0001","redcap_event_name":"event_1_arm_1","redcap_repeat_instrument":"imaging","redcap_repeat_instance":1,"img_study_instance_uid":"2.25.1"}]'
api -d token=$P1 -d content=record -d format=json -d 'fields[0]=record_id' -d 'fields[1]=img_study_instance_uid'
expect longitudinal_key_order 200 '[{"record_id":"PROJ01-0001","redcap_event_name":"event_1_arm_1","redcap_repeat_instrument":"","redcap_repeat_instance":"","img_study_instance_uid":""},{"record_id":"PROJ01-0001","redcap_event_name":"event_1_arm_1","redcap_repeat_instrument":"imaging","redcap_repeat_instance":1,"img_study_instance_uid":"2.25.1"}]'
api -d token=$IN -d content=record -d format=csv -d 'records=1.2.3' -d 'fields=study_instance_uid,study_description'
expect csv_export_comma_lists 200 'study_instance_uid,redcap_repeat_instrument,redcap_repeat_instance,study_description
1.2.3,,,Head/neck'

# --- merge on collision
imp $IN '[{"study_instance_uid":"1.2.3","redcap_repeat_instrument":"transfers","redcap_repeat_instance":1,"transfer_error_message":""}]' -d overwriteBehavior=normal
ctl -d action=dump -d project=Incoming >"$tmp/d1"
grep -qF '"transfer_error_message":"boom"' "$tmp/d1" && pass merge_normal_keeps ||
	fail merge_normal_keeps "$(cat "$tmp/d1")"
imp $IN '[{"study_instance_uid":"1.2.3","redcap_repeat_instrument":"transfers","redcap_repeat_instance":1,"transfer_error_message":"","transfer_error___1":"0"}]' -d overwriteBehavior=overwrite
ctl -d action=dump -d project=Incoming >"$tmp/d1"
if ! grep -qF 'transfer_error_message' "$tmp/d1" && ! grep -qF 'transfer_error___1' "$tmp/d1" &&
	grep -qF '"transfer_project_name":"PROJ01"' "$tmp/d1"; then
	pass merge_overwrite_erases; else fail merge_overwrite_erases "$(cat "$tmp/d1")"; fi

# --- validation: all or nothing, exact lines
imp $IN '[{"study_instance_uid":"2.2","study_description":"ok"},{"study_instance_uid":"2.2","redcap_repeat_instrument":"series","redcap_repeat_instance":1,"series_num_files":"abc"}]'
expect value_error_line 400 "{\"error\":\"\\\"2.2\\\",\\\"series_num_files\\\",\\\"abc\\\",\\\"$VALID\\\"\"}"
api -d token=$IN -d content=record -d format=json -d 'records[0]=2.2'
expect all_or_nothing 200 '[]'
imp $IN '[{"study_instance_uid":"3.3","foo":"1","baz":"2"}]' -d returnFormat=csv
expect unknown_fields_csv 400 'ERROR: The following fields were not found in the project as real data fields: foo, baz'
imp $IN '[{"study_instance_uid":"3.3","redcap_repeat_instrument":"transfers","redcap_repeat_instance":0}]' -d returnFormat=xml
expect bad_instance_xml 400 "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><hash><error>The record name (3.3) has an invalid value for 'redcap_repeat_instance'. The value must either be a positive integer or the value 'new'. Value provided: 0</error></hash>"
imp $P1 '[{"record_id":"X","redcap_event_name":"nope_arm_1"}]'
expect bad_event 400 '{"error":"The following values of redcap_event_name are invalid: nope_arm_1"}'
imp $IN '[{"study_instance_uid":"4.4","study_date":"a"},{"study_instance_uid":"4.4","study_date":"b"}]'
expect duplicate_rows 400 '{"error":"The records listed below occur more than once. Please remove any duplicates and try again: 4.4"}'
imp $DTP '[{"record_id":"P2","project_active":"7","project_rec_start_date":"2024-02-30"}]'
expect choice_and_date_errors 400 '{"error":"\"P2\",\"project_active\",\"7\",\"The value is not a valid category for project_active\"\n\"P2\",\"project_rec_start_date\",\"2024-02-30\",\"'"$VALID"'\""}'
imp $IN '[{"study_instance_uid":"a+b"}]'
expect_has record_name_chars 400 'The record name (a+b)'
imp $P1 '[{"record_id":"PROJ01-0002","redcap_event_name":"baseline_arm_1","img_study_instance_uid":"1"}]'
expect_has field_not_in_event 400 "This field ('img_study_instance_uid') exists on an instrument that is not designated for the event named 'Baseline'."
imp $IN 'not json'
expect broken_json 400 '{"error":"The data being imported is not formatted correctly. PHP error from JSON decoder: Syntax error. The JSON must be in an array, as in [{ ... }]."}'
imp $IN '[{"study_instance_uid":"5.5","study_description":"x"}]' -d returnContent=ids
expect return_ids 200 '["5.5"]'
imp $IN '[{"study_instance_uid":"5.5","study_description":"y"}]' -d returnContent=nothing
expect return_nothing 200 ''
api -d token=$IN -d content=record -d format=csv --data-urlencode 'data=study_instance_uid,study_description
6.6,"a, ""b"""' -d returnFormat=json
expect csv_import 200 '{"count": 1}'

# --- "new" instances: max+1, each row its own
imp $IN '[{"study_instance_uid":"1.2.3","redcap_repeat_instrument":"transfers","redcap_repeat_instance":"new","transfer_name":"n1"},{"study_instance_uid":"1.2.3","redcap_repeat_instrument":"transfers","redcap_repeat_instance":"new","transfer_name":"n2"}]'
ctl -d action=dump -d project=Incoming >"$tmp/d1"
if grep -qF '"instrument":"transfers","instance":2,"values":{"transfer_name":"n1"' "$tmp/d1" &&
	grep -qF '"instrument":"transfers","instance":3,"values":{"transfer_name":"n2"' "$tmp/d1"; then
	pass new_instances; else fail new_instances "$(cat "$tmp/d1")"; fi

# --- filterLogic: a valid filter filters, a broken one returns everything
api -d token=$IN -d content=record -d format=json -d 'filterLogic=[transfer_name] = "n2" or ([transfer_name]="zz" and [transfer_name] <> "")'
n=$(grep -o '"study_instance_uid"' "$tmp/body" | wc -l)
[ "$n" -eq 1 ] && grep -qF '"transfer_name":"n2"' "$tmp/body" && pass filter_logic ||
	fail filter_logic "$n rows: $(body | head -c 200)"
api -d token=$IN -d content=record -d format=json
all=$(grep -o '"study_instance_uid"' "$tmp/body" | wc -l)
api -d token=$IN -d content=record -d format=json -d 'filterLogic=[transfer_name = "broken'
n=$(grep -o '"study_instance_uid"' "$tmp/body" | wc -l)
[ "$(code)" = 200 ] && [ "$n" -eq "$all" ] && [ "$n" -gt 1 ] && pass filter_fails_open ||
	fail filter_fails_open "$n rows of $all"
api -d token=$IN -d content=record -d format=json -d 'dateRangeBegin=2999-01-01 00:00:00'
expect date_range 200 '[]'

# --- delete, next record name
api -d token=$IN -d content=record -d action=delete -d 'records[0]=5.5' -d 'records[1]=nope' -d format=json
expect delete_missing 400 '{"error":"One or more of the records provided cannot be deleted because they do not exist in the project. The following records do not exist: nope"}'
api -d token=$IN -d content=record -d action=delete -d 'records[0]=5.5' -d format=json
expect delete_count 200 '1'
api -d token=$AID -d content=generateNextRecordName
expect next_record_name_empty 200 '1'
imp $AID '[{"record_id":"7","autoid_project_name":"PROJ01","autoid_method":1}]'
api -d token=$AID -d content=generateNextRecordName
expect next_record_name 200 '8'

# --- canonical dump: the same state dumps the same bytes, keys sorted
ctl -d action=dump -d project=Incoming >"$tmp/d1"
ctl -d action=dump -d project=Incoming >"$tmp/d2"
if cmp -s "$tmp/d1" "$tmp/d2" && grep -qF '{"record":"1.2.3","event":"","instrument":"","instance":0,"values":{"incoming_studies_complete":"0","study_arrival_date":"2024-01-02 03:04","study_description":"Head\/neck"}}' "$tmp/d1"; then
	pass dump_canonical; else fail dump_canonical "$(head -c 400 "$tmp/d1")"; fi

# --- faults
ctl -d action=fault -d kind=offline -d count=1 >/dev/null
api -d token=$IN -d content=version -d format=json
expect fault_offline 400 '{"error":"This project is currently OFFLINE and is not accessible to normal users."}'
api -d token=$IN -d content=version
expect fault_once 200 '15.7.6'
ctl -d action=fault -d kind=sysoffline -d count=1 >/dev/null
api -d token=$IN -d content=version -d format=csv
expect fault_sysoffline 400 'ERROR: REDCap is currently offline. Please return at another time. We apologize for any inconvenience.'
ctl -d action=fault -d kind=dbdown -d count=1 >/dev/null
api -d token=$IN -d content=record -d format=json
if [ "$(code)" = 200 ] && [ "$(ctype)" = "text/html; charset=utf-8" ] &&
	grep -qF 'CRITICAL ERROR: REDCap server is offline!' "$tmp/body"; then
	pass fault_dbdown; else fail fault_dbdown "$(cat "$tmp/code")"; fi
ctl -d action=fault -d kind=oom -d count=1 -d match=import >/dev/null
api -d token=$IN -d content=version
expect fault_match_import_skips_export 200 '15.7.6'
imp $IN '[{"study_instance_uid":"7.7","study_description":"x"}]'
expect fault_oom 500 '{"error":"REDCap ran out of server memory. The request cannot be processed. Please try importing\/exporting a smaller amount of data."}'
ctl -d action=fault -d kind=drop_after_import -d count=1 -d match=import >/dev/null
imp $IN '[{"study_instance_uid":"8.8","study_description":"dropped"}]'
ctl -d action=dump -d project=Incoming >"$tmp/d1"
[ "$(code)" = 000 ] && grep -qF '"record":"8.8"' "$tmp/d1" && pass drop_after_import_keeps ||
	fail drop_after_import_keeps "code $(code)"
ctl -d action=fault -d kind=drop -d count=1 >/dev/null
imp $IN '[{"study_instance_uid":"9.9","study_description":"never"}]'
ctl -d action=dump -d project=Incoming >"$tmp/d1"
[ "$(code)" = 000 ] && ! grep -qF '"record":"9.9"' "$tmp/d1" && pass drop_writes_nothing ||
	fail drop_writes_nothing "code $(code)"
ctl -d action=fault -d kind=hang -d count=1 >/dev/null
curl -s -m 20 "$U/api/" -d token=$IN -d content=version >/dev/null 2>&1 &
bg=$!
sleep 0.3
t=$(curl -s -m 3 -o "$tmp/body" -w '%{time_total}' "$U/api/" -d token=$IN -d content=version)
if [ "$(body)" = 15.7.6 ] && kill -0 "$bg" 2>/dev/null; then
	pass hang_does_not_block; else fail hang_does_not_block "second answer '$(body)' in $t s"; fi
kill "$bg" 2>/dev/null; wait "$bg" 2>/dev/null; bg=
ctl -d action=latency -d ms=400 >/dev/null
t=$(curl -s -o /dev/null -w '%{time_total}' "$U/api/" -d token=$IN -d content=version)
ctl -d action=latency -d ms=0 >/dev/null
case $t in 0.[4-9]*|[1-9]*) pass latency ;; *) fail latency "answered in $t s" ;; esac
ctl -d action=fault -d kind=error500 -d count=2 >/dev/null
ctl -d action=fault -d kind=none >/dev/null
api -d token=$IN -d content=version
expect fault_none_clears 200 '15.7.6'

# --- HTTP: keep-alive, Expect: 100-continue, 404, 501
curl -sv -o /dev/null "$U/api/" -d token=$IN -d content=version --next -o /dev/null "$U/api/" \
	-d token=$IN -d content=version 2>"$tmp/v"
grep -qiE 're-?using (existing )?connection' "$tmp/v" && pass keep_alive ||
	fail keep_alive "$(grep -i connect "$tmp/v" | head -3)"
api -H 'Expect: 100-continue' -d token=$IN -d content=version
expect expect_100_continue 200 '15.7.6'
curl -s -o "$tmp/body" -w '%{http_code}' "$U/redcap/" -d x=1 >"$tmp/code"
[ "$(cat "$tmp/code")" = 404 ] && pass not_found_404 || fail not_found_404 "$(cat "$tmp/code")"
curl -s -o "$tmp/body" -w '%{http_code}' "$U/api/" >"$tmp/code"
[ "$(cat "$tmp/code")" = 501 ] && pass get_501 || fail get_501 "$(cat "$tmp/code")"

# --- control write counts nothing, stats
before=$(ctl -d action=stats | sed 's/.*"requests":\([0-9]*\).*/\1/')
ctl -d action=write -d project=Incoming --data-urlencode 'data=[{"study_instance_uid":"10.10","redcap_repeat_instrument":"transfers","redcap_repeat_instance":1,"transfer_project_name":"PROJ01","transfer_name":"PROJ01-0003"}]' >"$tmp/w"
after=$(ctl -d action=stats | sed 's/.*"requests":\([0-9]*\).*/\1/')
[ "$(cat "$tmp/w")" = '{"count": 1}' ] && [ "$before" = "$after" ] && pass control_write ||
	fail control_write "$(cat "$tmp/w") requests $before -> $after"

# --- the ban: sticky until unban, before the token check
ctl -d action=unban >/dev/null # also forgets the minute's count
ctl -d action=rate_limit -d n=5 >/dev/null
i=0 ok=0
while [ $i -lt 5 ]; do
	api -d token=$IN -d content=version
	[ "$(code)" = 200 ] && ok=$((ok + 1))
	i=$((i + 1))
done
[ $ok -eq 5 ] && pass under_limit_served || fail under_limit_served "$ok of 5 served"
api -d token=$IN -d content=version
expect ban_after_limit 429 'Your IP address (127.0.0.1) has been banned due to suspected abuse.'
ctl -d action=rate_limit -d n=0 >/dev/null
api -d token=NOTATOKEN -d content=version
expect ban_is_sticky 429 'Your IP address (127.0.0.1) has been banned due to suspected abuse.'
ctl -d action=stats | grep -qF '"banned":["127.0.0.1"]' && pass stats_banned || fail stats_banned "$(ctl -d action=stats)"
ctl -d action=unban >/dev/null
api -d token=$IN -d content=version
expect unban 200 '15.7.6'

# --- small endpoints
api -d token=$P1 -d content=formEventMapping -d format=json
expect form_event_mapping 200 '[{"arm_num":1,"unique_event_name":"baseline_arm_1","form":"participant"},{"arm_num":1,"unique_event_name":"follow_up_arm_1","form":"participant"},{"arm_num":1,"unique_event_name":"event_1_arm_1","form":"participant"},{"arm_num":1,"unique_event_name":"event_1_arm_1","form":"imaging"}]'
api -d token=$P1 -d content=repeatingFormsEvents -d format=json
expect repeating_forms_events 200 '[{"event_name":"event_1_arm_1","form_name":"imaging","custom_form_label":""}]'
api -d token=$IN -d content=arm -d format=json
expect classic_arms 400 '{"error":"You cannot export arms for classic projects"}'
api -d token=$IN -d content=exportFieldNames -d format=json -d field=transfer_error
expect export_field_names 200 '[{"original_field_name":"transfer_error","choice_value":"1","export_field_name":"transfer_error___1"},{"original_field_name":"transfer_error","choice_value":"2","export_field_name":"transfer_error___2"},{"original_field_name":"transfer_error","choice_value":"3","export_field_name":"transfer_error___3"}]'
api -d token=$DTP -d content=instrument -d format=csv
expect instruments_csv 200 'instrument_name,instrument_label
leave_alone_do_not_touch,Leave Alone Do Not Touch
projects,Projects
rewritepixelexclusions,RewritePixelExclusions'

# --- SIGTERM exits cleanly
kill "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] && pass sigterm_clean_exit || fail sigterm_clean_exit "exit status $rc"

# --- REDCap's unique_event_name on awkward labels (a second, tiny instance)
cat >"$tmp/ev.json" <<'EOF2'
{"projects": [{"title": "EV", "longitudinal": 1, "tokens": [{"token": "GGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG"}],
  "events": [{"name": "Visit"}, {"name": "Visit"}, {"name": "Follow-up (3 months) & more!"},
             {"name": "  _Weird__ "}, {"name": "\u00c6\u00d8\u00c5"}, {"name": "Arm two", "arm": 2}],
  "arms": [{"num": 1}, {"num": 2, "name": "Second"}],
  "metadata": [{"field_name": "record_id", "form_name": "f"}]}]}
EOF2
"$EMU" --fixture "$tmp/ev.json" --port-file "$tmp/port2" 2>>"$tmp/emu.log" &
pid=$!
i=0
while [ ! -s "$tmp/port2" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
U=http://127.0.0.1:$(cat "$tmp/port2")
md5=$(printf '%s' 'ÆØÅ' | md5sum | cut -c1-10)
api -d token=GGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG -d content=event -d format=csv
expect unique_event_name_algorithm 200 "event_name,arm_num,unique_event_name,custom_event_label,event_id
Visit,1,visit_arm_1,,41
Visit,1,visita_arm_1,,42
Follow-up (3 months) & more!,1,followup_3_months_arm_1,,43
  _Weird__ ,1,weird_arm_1,,44
ÆØÅ,1,${md5}_arm_1,,45
Arm two,2,arm_two_arm_2,,46"
api -d token=GGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG -d content=arm -d format=json
expect arms 200 '[{"arm_num":1,"name":"Arm 1"},{"arm_num":2,"name":"Second"}]'
kill "$pid"; wait "$pid"; pid=

# --- the same emulator over TLS (its own instance, certificates and PASS/FAIL lines)
BUILD=$BUILD sh "$top/tests/redcap/selftest_tls.sh" || fails=$((fails + 1))

if [ "$fails" -ne 0 ]; then
	echo "--- emulator log (last 20 lines)"; tail -n 20 "$tmp/emu.log"
	exit 1
fi
exit 0
