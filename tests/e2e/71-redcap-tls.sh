#!/bin/sh
# REDCap over TLS, against the emulator serving HTTPS (redcap-emu --tls-cert/--tls-key)
# with a throwaway CA made here: fiona verifies the certificate for real. With the CA as
# redcap.ca_file an imported study reaches Incoming; restarted with another CA, a newly
# imported study never reaches the emulator (no request gets past the handshake),
# `fiona status` names the certificate failure, and the log holds no token; restarted
# with the right CA again, the held study is written. No Orthanc: the project has no
# destination.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
EMU=$(pwd)/$BUILD/tools/redcap-emu
FIX=$(pwd)/tests/redcap/fixture-site.json
e2e_gateway_init redcap-tls
EPID=
trap 'e2e_cleanup; [ -n "$EPID" ] && kill "$EPID" 2>/dev/null' EXIT
[ -x "$EMU" ] || { echo "SKIP redcap-tls: $EMU missing"; exit 0; }
command -v openssl >/dev/null 2>&1 || { echo "SKIP redcap-tls: no openssl CLI"; exit 0; }
[ -e /dev/fuse ] && [ "$(id -u)" = 0 ] || { echo "SKIP redcap-tls: needs /dev/fuse and root"; exit 0; }

# A CA and a server certificate for 127.0.0.1 signed by it; a second CA that signed nothing.
mkdir -p "$T/pki"
ossl() { openssl "$@" >>"$T/pki/openssl.log" 2>&1; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=fiona e2e CA" \
	-keyout "$T/pki/ca.key" -out "$T/pki/ca.pem" &&
	ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=fiona e2e other CA" \
		-keyout "$T/pki/other.key" -out "$T/pki/other.pem" &&
	ossl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$T/pki/server.key" -out "$T/pki/server.csr" &&
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$T/pki/ext" &&
	ossl x509 -req -days 2 -in "$T/pki/server.csr" -CA "$T/pki/ca.pem" -CAkey "$T/pki/ca.key" \
		-CAcreateserial -extfile "$T/pki/ext" -out "$T/pki/server.pem" ||
	{ fail pki "openssl: $(tail -n 3 "$T/pki/openssl.log")"; exit 1; }

"$EMU" --fixture "$FIX" --port-file "$T/emu.port" --tls-cert "$T/pki/server.pem" \
	--tls-key "$T/pki/server.key" 2>"$T/emu.log" &
EPID=$!
i=0; while [ ! -s "$T/emu.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$T/emu.port" ] || { fail emulator "did not start: $(cat "$T/emu.log")"; exit 1; }
EP=$(cat "$T/emu.port")
CTL=https://127.0.0.1:$EP/control
ctl() { curl -sf --cacert "$T/pki/ca.pem" -d "$1" "$CTL"; }
dump() { ctl "action=dump&project=$1"; }
requests() { ctl action=stats | sed -n 's/.*"requests":\([0-9]*\).*/\1/p'; }
records() { dump Incoming | grep -c '"instrument":"","instance":0'; }

fiona_setup "$T" 7 || { fail generate "gen_corpus failed"; exit 1; }
mkdir -p "$T/tok" && chmod 700 "$T/tok"
(umask 077; echo AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA >"$T/tok/incoming")
config() { # ca_file: fiona.json with REDCap at the emulator's HTTPS port, verified by ca_file
	cat >"$T/fiona.json" <<JSON
{ "data_dir": "$T/var", "mount_point": "$T/mnt", "secret_file": "$T/var/secret",
  "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.95,
  "projects": { "PROJ01": { "group": "root", "participant_pattern": "^PROJ01-[0-9]{4}\$",
                            "events": [ "baseline", "followup" ] } },
  "redcap": { "url": "https://127.0.0.1:$EP/api/", "token_file": "$T/tok/incoming",
              "ca_file": "$1",
              "requests_per_minute": 300, "poll_seconds": 2, "timeout_seconds": 5 } }
JSON
}
uid_of() { dcmdump -q +P 0020,000d "$(find "$1" -name '*.dcm' | head -1)" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1; }
wait_record() { # uid seconds: until Incoming holds the record
	i=0
	while ! dump Incoming | grep -qF "\"record\":\"$1\"" && [ $i -lt $(($2 * 10)) ]; do
		sleep 0.1; i=$((i + 1))
	done
	dump Incoming | grep -qF "\"record\":\"$1\""
}
restart() {
	[ -n "$PID" ] && kill "$PID" && wait "$PID" 2>/dev/null
	PID=
	fiona_start "$T"
}
U1=$(uid_of "$T/c/P01/ST1_MR")
U2=$(uid_of "$T/c/P01/ST2_CT")
[ -n "$U1" ] && [ -n "$U2" ] && [ "$U1" != "$U2" ] || { fail corpus "no StudyInstanceUIDs ($U1, $U2)"; exit 1; }

# 1. The right CA: the imported study is written to Incoming over HTTPS.
config "$T/pki/ca.pem"
fiona_start "$T"
grep -q "mounted at" "$T/serve.log" || { fail serve "fiona did not start: $(tail -n 5 "$T/serve.log")"; exit 1; }
"$FIONA" import -c "$T/fiona.json" "$T/c/P01/ST1_MR" >/dev/null 2>&1 || fail import "import of ST1 failed"
if wait_record "$U1" 20; then pass "with ca_file the study reaches Incoming over TLS"
else fail incoming "$(dump Incoming | head -c 300); $(grep -i redcap "$T/serve.log" | tail -3)"; fi
dump Incoming | grep -F "\"record\":\"$U1\"" | grep -q '"incoming_studies_complete":"2"' &&
	pass "the record is complete" || fail complete "$(dump Incoming | grep -F "$U1" | head -c 300)"
grep -q 'TLS handshake failed' "$T/emu.log" && fail handshake "$(grep TLS "$T/emu.log" | head -2)" ||
	pass "no failed handshake with the right CA"

# 2. Another CA: nothing gets past the handshake; status and log say why.
config "$T/pki/other.pem"
restart
r0=$(requests)
h0=$(grep -c 'TLS handshake failed' "$T/emu.log")
"$FIONA" import -c "$T/fiona.json" "$T/c/P01/ST2_CT" >/dev/null 2>&1 || fail import2 "import of ST2 failed"
i=0
while ! "$FIONA" status -c "$T/fiona.json" 2>/dev/null | grep -q 'last error' && [ $i -lt 150 ]; do
	sleep 0.1; i=$((i + 1))
done
sleep 4 # two more polls: the study must still not arrive
st=$("$FIONA" status -c "$T/fiona.json" 2>&1)
err=$(echo "$st" | grep 'last error')
if echo "$err" | grep -q 'REDCap unreachable' && echo "$err" | grep -Eqi 'certificate|SSL|TLS'; then
	pass "fiona status names the certificate failure (${err#*: })"
else
	fail status "$(echo "$st" | grep -A2 -i redcap)"
fi
dump Incoming | grep -qF "\"record\":\"$U2\"" && fail wrong-ca "ST2 reached Incoming with the wrong CA" ||
	pass "with a wrong CA the new study never reaches the emulator"
[ "$(records)" -eq 1 ] && pass "Incoming still holds one record" || fail records "$(records) records"
r1=$(requests)
[ "$r1" = "$r0" ] && pass "no API request got past the handshake ($r0 before, $r1 after)" ||
	fail requests "$r0 -> $r1 API requests"
h1=$(grep -c 'TLS handshake failed' "$T/emu.log")
[ "$h1" -gt "$h0" ] && grep 'TLS handshake failed' "$T/emu.log" | tail -1 | grep -q 'unknown ca' &&
	pass "fiona refused the server's certificate ($((h1 - h0)) handshakes, alert unknown ca)" ||
	fail handshakes "$h0 -> $h1: $(grep TLS "$T/emu.log" | tail -1)"
"$FIONA" status -c "$T/fiona.json" --json 2>/dev/null | grep -q '"outbox": [1-9]' &&
	pass "the study waits in the outbox" ||
	fail outbox "$("$FIONA" status -c "$T/fiona.json" --json 2>&1 | grep -o '"redcap": {[^}]*')"
grep -q AAAAAAAA "$T/serve.log" "$T/emu.log" && fail token-leak "a token is in a log" ||
	pass "no token in the logs"

# 3. The right CA again: the held study is written.
config "$T/pki/ca.pem"
restart
if wait_record "$U2" 20; then pass "with the right CA again the held study is written"
else fail held "$(grep -i redcap "$T/serve.log" | tail -3)"; fi
exit $failed
