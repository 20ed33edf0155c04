#!/bin/sh
# Self-test of redcap-emu over TLS (--tls-cert/--tls-key): a throwaway CA and a server
# certificate for 127.0.0.1 made with the openssl CLI, then curl --cacert against /api/
# and /control on the one HTTPS port: verification (wrong CA, plain HTTP, TLS 1.1
# refused), keep-alive, and that neither a stalled handshake, a hung request nor a slow
# reader of a large answer blocks other connections; latency and faults as over HTTP.
# Prints "PASS tls_name" / "FAIL tls_name: why"; exits non-zero if any failed.
# Run by selftest.sh; alone:  BUILD=build-emu sh tests/redcap/selftest_tls.sh
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
	[ -n "$bg" ] && kill $bg 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

if [ ! -x "$EMU" ]; then
	echo "FAIL tls_selftest: $EMU not built (make BUILD=$BUILD test-build)"
	exit 1
fi
if ! command -v openssl >/dev/null 2>&1; then
	echo "SKIP tls_selftest: no openssl CLI"
	exit 0
fi

# mkca DIR: a CA; mkcert DIR CA_DIR: a server certificate for 127.0.0.1 signed by it
mkca() {
	mkdir -p "$1"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=redcap-emu test CA" \
		-keyout "$1/ca.key" -out "$1/ca.pem" >/dev/null 2>&1
}
mkcert() {
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$1/server.key" -out "$1/server.csr" >/dev/null 2>&1 &&
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$1/ext" &&
		openssl x509 -req -days 2 -in "$1/server.csr" -CA "$2/ca.pem" -CAkey "$2/ca.key" \
			-CAcreateserial -extfile "$1/ext" -out "$1/server.pem" >/dev/null 2>&1
}
mkca "$tmp/ca" && mkcert "$tmp/ca" "$tmp/ca" && mkca "$tmp/other" || {
	echo "FAIL tls_certs: openssl could not make the certificates"; exit 1; }
CA=$tmp/ca/ca.pem

"$EMU" --fixture "$FIX" --port-file "$tmp/port" --tls-cert "$tmp/ca/server.pem" \
	--tls-key "$tmp/ca/server.key" 2>"$tmp/emu.log" &
pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -s "$tmp/port" ]; then
	echo "FAIL tls_start: no port file"; cat "$tmp/emu.log"; exit 1
fi
P=$(cat "$tmp/port")
U=https://127.0.0.1:$P
IN=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA

# api ARGS...: POST /api/ over TLS; status to $tmp/code, body to $tmp/body.
api() {
	curl -s --cacert "$CA" -o "$tmp/body" -w '%{http_code}' "$U/api/" "$@" >"$tmp/code"
}
ctl() { curl -s --cacert "$CA" "$U/control" "$@"; }
body() { cat "$tmp/body"; }
code() { cat "$tmp/code"; }

api -d token=$IN -d content=version
[ "$(code)" = 200 ] && [ "$(body)" = 15.7.6 ] && pass tls_api || fail tls_api "$(code) $(body)"
ctl -d action=stats | grep -q '"requests":1,' && pass tls_control_same_port ||
	fail tls_control_same_port "$(ctl -d action=stats)"
grep -q "listening on https://127.0.0.1:$P" "$tmp/emu.log" && pass tls_listening_line ||
	fail tls_listening_line "$(head -n 1 "$tmp/emu.log")"

# --- verification: the client's, against the emulator's certificate
curl -s -o /dev/null --cacert "$tmp/other/ca.pem" "$U/api/" -d token=$IN -d content=version
rc=$?
[ "$rc" = 60 ] && pass tls_wrong_ca_refused || fail tls_wrong_ca_refused "curl exit $rc, want 60"
i=0 # the emulator logs once it has read the client's alert
while ! grep -q 'TLS handshake failed: .*unknown ca' "$tmp/emu.log" && [ $i -lt 20 ]; do
	sleep 0.1; i=$((i + 1))
done
grep -q 'TLS handshake failed: .*unknown ca' "$tmp/emu.log" && pass tls_handshake_failure_logged ||
	fail tls_handshake_failure_logged "$(grep TLS "$tmp/emu.log")"
curl -s -o /dev/null --cacert "$CA" "https://localhost:$P/api/" -d content=version
rc=$?
[ "$rc" = 60 ] && pass tls_name_checked || fail tls_name_checked "curl exit $rc for localhost (SAN is IP:127.0.0.1)"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/api/" -d content=version)
[ "$code" = 000 ] && pass tls_only_no_plain_http || fail tls_only_no_plain_http "plain HTTP got $code"
curl -s -o /dev/null --cacert "$CA" --tlsv1.1 --tls-max 1.1 "$U/api/" -d content=version
rc=$?
[ "$rc" -ne 0 ] && pass tls_below_1_2_refused || fail tls_below_1_2_refused "TLS 1.1 accepted"
api --tlsv1.2 --tls-max 1.2 -d token=$IN -d content=version
[ "$(body)" = 15.7.6 ] && pass tls_1_2 || fail tls_1_2 "$(code) $(body)"
api --tlsv1.3 -d token=$IN -d content=version
[ "$(body)" = 15.7.6 ] && pass tls_1_3 || fail tls_1_3 "$(code) $(body)"

# --- keep-alive: the second request on the same TLS connection
curl -sv --cacert "$CA" -o /dev/null "$U/api/" -d token=$IN -d content=version --next \
	--cacert "$CA" -o /dev/null "$U/control" -d action=stats 2>"$tmp/v"
[ "$(grep -ciE 're-?using (existing )?connection' "$tmp/v")" -ge 1 ] &&
	[ "$(grep -c 'SSL connection using' "$tmp/v")" -eq 1 ] && pass tls_keep_alive ||
	fail tls_keep_alive "$(grep -iE 'connect|SSL conn' "$tmp/v" | head -4)"

# --- a handshake that stops half-way blocks nobody: 3 bytes of a TLS record header
if command -v bash >/dev/null 2>&1; then
	bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$P"'; printf "\026\003\001" >&3; sleep 8' 2>/dev/null &
	bg=$!
	sleep 0.3
	t=$(curl -s --cacert "$CA" -m 3 -o "$tmp/body" -w '%{time_total}' "$U/api/" -d token=$IN -d content=version)
	if [ "$(body)" = 15.7.6 ] && kill -0 $bg 2>/dev/null; then
		pass tls_stalled_handshake_does_not_block
	else
		fail tls_stalled_handshake_does_not_block "answer '$(body)' in $t s"
	fi
	kill $bg 2>/dev/null; wait $bg 2>/dev/null; bg=
else
	echo "SKIP tls_stalled_handshake_does_not_block: no bash for /dev/tcp"
fi

# --- faults over TLS
ctl -d action=fault -d kind=hang -d count=1 >/dev/null
curl -s --cacert "$CA" -m 20 "$U/api/" -d token=$IN -d content=version >/dev/null 2>&1 &
bg=$!
sleep 0.3
api -m 3 -d token=$IN -d content=version
if [ "$(body)" = 15.7.6 ] && kill -0 $bg 2>/dev/null; then
	pass tls_hang_does_not_block; else fail tls_hang_does_not_block "second answer '$(body)'"; fi
kill $bg 2>/dev/null; wait $bg 2>/dev/null; bg=
ctl -d action=fault -d kind=drop_after_import -d count=1 -d match=import >/dev/null
api -d token=$IN -d content=record -d format=json \
	--data-urlencode 'data=[{"study_instance_uid":"8.8","study_description":"dropped"}]'
[ "$(code)" = 000 ] && ctl -d action=dump -d project=Incoming | grep -qF '"record":"8.8"' &&
	pass tls_drop_after_import_keeps || fail tls_drop_after_import_keeps "code $(code)"
ctl -d action=fault -d kind=drop -d count=1 >/dev/null
api -d token=$IN -d content=record -d format=json \
	--data-urlencode 'data=[{"study_instance_uid":"9.9","study_description":"never"}]'
[ "$(code)" = 000 ] && ! ctl -d action=dump -d project=Incoming | grep -qF '"record":"9.9"' &&
	pass tls_drop_writes_nothing || fail tls_drop_writes_nothing "code $(code)"
ctl -d action=fault -d kind=oom -d count=1 >/dev/null
api -d token=$IN -d content=version -d format=json
[ "$(code)" = 500 ] && grep -qF 'ran out of server memory' "$tmp/body" && pass tls_fault_answer ||
	fail tls_fault_answer "$(code) $(body)"
ctl -d action=latency -d ms=400 >/dev/null
t=$(curl -s --cacert "$CA" -o /dev/null -w '%{time_total}' "$U/api/" -d token=$IN -d content=version)
t2=$(curl -s --cacert "$CA" -o /dev/null -w '%{time_total}' "$U/control" -d action=stats)
ctl -d action=latency -d ms=0 >/dev/null
case $t in 0.[4-9]* | [1-9]*) pass tls_latency ;; *) fail tls_latency "answered in $t s" ;; esac
case $t2 in 0.[0-3]*) pass tls_latency_not_on_control ;; *) fail tls_latency_not_on_control "$t2 s" ;; esac

# --- a large answer to a slow reader: partial TLS writes resume, nobody else waits.
# ~8 MB of export, more than the loopback socket buffers hold.
awk 'BEGIN { d = sprintf("%0500d", 0); gsub(/0/, "x", d); printf "["
	for (i = 1; i <= 16000; i++) printf "%s{\"study_instance_uid\":\"77.%d\",\"study_description\":\"%s\"}", (i > 1 ? "," : ""), i, d
	printf "]" }' >"$tmp/big.json"
api -d token=$IN -d content=record -d format=json --data-urlencode "data@$tmp/big.json"
[ "$(body)" = '{"count": 16000}' ] && pass tls_large_import || fail tls_large_import "$(code) $(body | head -c 200)"
api -d token=$IN -d content=record -d format=json -d 'fields[0]=study_description'
cp "$tmp/body" "$tmp/fast"
size=$(wc -c <"$tmp/fast")
curl -s --cacert "$CA" --limit-rate 4M -o "$tmp/slow" "$U/api/" -d token=$IN -d content=record \
	-d format=json -d 'fields[0]=study_description' &
bg=$!
sleep 0.5
t=$(curl -s --cacert "$CA" -m 3 -o "$tmp/body" -w '%{time_total}' "$U/api/" -d token=$IN -d content=version)
running=0
kill -0 $bg 2>/dev/null && running=1
wait $bg; bg=
if [ "$(body)" = 15.7.6 ] && [ $running = 1 ] && [ "$size" -gt 8000000 ] && cmp -s "$tmp/fast" "$tmp/slow"; then
	pass tls_slow_reader_does_not_block
else
	fail tls_slow_reader_does_not_block "other answer '$(body)' in $t s, reader running $running, $size bytes, same $(cmp "$tmp/fast" "$tmp/slow" 2>&1)"
fi

# --- SIGTERM exits cleanly; a key that is not the certificate's stops the start
kill "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] && pass tls_sigterm_clean_exit || fail tls_sigterm_clean_exit "exit status $rc"
"$EMU" --fixture "$FIX" --port-file "$tmp/port2" --tls-cert "$tmp/ca/server.pem" \
	--tls-key "$tmp/other/ca.key" 2>"$tmp/bad.log" &
pid=$!
wait "$pid"
rc=$?
pid=
[ "$rc" -ne 0 ] && [ ! -e "$tmp/port2" ] && grep -q 'cannot use certificate' "$tmp/bad.log" &&
	pass tls_wrong_key_refused || fail tls_wrong_key_refused "exit $rc: $(cat "$tmp/bad.log")"
"$EMU" --fixture "$FIX" --tls-cert "$tmp/ca/server.pem" 2>/dev/null
[ $? -eq 2 ] && pass tls_cert_needs_key || fail tls_cert_needs_key "started without --tls-key"

if [ "$fails" -ne 0 ]; then
	echo "--- emulator log (last 20 lines)"; tail -n 20 "$tmp/emu.log"
	exit 1
fi
exit 0
