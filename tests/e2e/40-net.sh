#!/bin/sh
# DICOM networking (net/net.h through build/tools/net_probe) against dcmtk and Orthanc:
# - storescu -> net_probe scp, one transfer syntax per file (uncompressed, deflated, JPEG,
#   JPEG-LS, RLE, JPEG 2000): the received data set bytes equal the sent ones;
# - a calling AE not on the allow-list is refused; echoscu and net_probe echo answered;
# - net_probe send -> Orthanc: Orthanc holds every instance, net_probe find counts match;
# - net_probe send -> storescp --bit-preserving: data sets byte-identical.
# Runs in a private network namespace (Orthanc listens on all interfaces).
set -u
. "$(dirname "$0")/lib/orthanc.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
PROBE=$(pwd)/$BUILD/tools/net_probe
T=$(mktemp -d)
SCP_PID=
cleanup() {
	[ -n "$SCP_PID" ] && kill "$SCP_PID" 2>/dev/null && wait "$SCP_PID" 2>/dev/null
	orthanc_stop
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failed=1; }
for tool in storescu storescp echoscu dump2dcm dcmconv dcmcjpeg dcmcjpls dcmcrle; do
	command -v $tool >/dev/null || { echo "SKIP net: $tool missing"; exit 0; }
done

STUDY=1.2.826.0.1.3680043.9.9999.40
# Data set offset of a Part-10 file: 132 + 12 + value of (0002,0000).
ds_off() { echo $((144 + $(od -An -tu4 -j140 -N4 "$1" | tr -d ' '))); }
ds_bytes() { tail -c +$(($(ds_off "$1") + 1)) "$1"; }
same_ds() { ds_bytes "$1" >"$T/a.bin"; ds_bytes "$2" >"$T/b.bin"; cmp -s "$T/a.bin" "$T/b.bin"; }

mkdump() { # instance-number series-number
	cat <<DUMP
(0008,0016) UI =CTImageStorage
(0008,0018) UI [$STUDY.$2.$1]
(0008,0060) CS [CT]
(0010,0010) PN [Synthetic^Net]
(0010,0020) LO [SYNNET]
(0020,000d) UI [$STUDY]
(0020,000e) UI [$STUDY.$2]
(0020,0013) IS [$1]
(0028,0002) US 1
(0028,0004) CS [MONOCHROME2]
(0028,0010) US 4
(0028,0011) US 4
(0028,0100) US 16
(0028,0101) US 12
(0028,0102) US 11
(0028,0103) US 0
(7fe0,0010) OW 0001\0002\0003\0004\0005\0006\0007\0008\0009\000a\000b\000c\000d\000e\000f\0010
DUMP
}
# name, storescu option proposing its transfer syntax
CASES="el:-xe il:-xi eb:-xb df:-xd jl:-xs jx:-xx jls:-xt rle:-xr j2k:-xv"
mkdir -p "$T/in" "$T/rx" "$T/rx2" "$T/sc"
i=0
for c in $CASES; do
	n=${c%%:*}; i=$((i + 1))
	mkdump $i 1 >"$T/d.txt"
	dump2dcm +te "$T/d.txt" "$T/el0.dcm" 2>/dev/null || { fail gen "dump2dcm"; exit 1; }
	case $n in
	el) cp "$T/el0.dcm" "$T/in/$n.dcm" ;;
	il) dcmconv +ti "$T/el0.dcm" "$T/in/$n.dcm" ;;
	eb) dcmconv +tb "$T/el0.dcm" "$T/in/$n.dcm" ;;
	df) dcmconv +td "$T/el0.dcm" "$T/in/$n.dcm" ;;
	jl) dcmcjpeg +e1 "$T/el0.dcm" "$T/in/$n.dcm" ;;
	jx) dcmcjpeg +ee +un "$T/el0.dcm" "$T/in/$n.dcm" ;; # JPEG extended (12 bit), UID kept
	jls) dcmcjpls "$T/el0.dcm" "$T/in/$n.dcm" ;;
	rle) dcmcrle "$T/el0.dcm" "$T/in/$n.dcm" ;;
	j2k) # dcmtk has no JPEG 2000 encoder: relabel a JPEG Lossless file (same UID length);
	     # the receiver never decodes, so the bytes only need a valid encapsulation.
	     dcmcjpeg +e1 "$T/el0.dcm" "$T/j.dcm" &&
	     LC_ALL=C sed 's/1\.2\.840\.10008\.1\.2\.4\.70/1.2.840.10008.1.2.4.90/' "$T/j.dcm" >"$T/in/$n.dcm" ;;
	esac || { fail gen "$n"; exit 1; }
done

# An undefined-length sequence: dcmtk re-encodes such data sets unless net/ sends the
# original bytes (storescu would change them; net_probe send must not).
mkdir -p "$T/sq"
mkdump 50 1 >"$T/d.txt"
cat >>"$T/d.txt" <<DUMP
(0008,1110) SQ (Sequence with undefined length #=1)
  (fffe,e000) na (Item with undefined length #=1)
    (0008,1155) UI [$STUDY.5]
  (fffe,e00d) na (ItemDelimitationItem)
(fffe,e0dd) na (SequenceDelimitationItem)
DUMP
dump2dcm +te "$T/d.txt" "$T/sqe.dcm" && dcmconv -e "$T/sqe.dcm" "$T/sq/sq.dcm" || { fail gen sq; exit 1; }

# --- storescu -> net_probe scp -------------------------------------------------------
"$PROBE" scp 11112 "$T/rx" FIONA >"$T/scp.out" 2>"$T/scp.err" &
SCP_PID=$!
i=0; while ! grep -q listening "$T/scp.out" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
for c in $CASES; do
	n=${c%%:*}; opt=${c#*:}
	rm -f "$T/rx"/*.dcm
	if ! storescu -R $opt -aet SENDER -aec FIONA 127.0.0.1 11112 "$T/in/$n.dcm" 2>"$T/su.err"; then
		fail "scp_receive_$n" "storescu: $(tail -1 "$T/su.err")"; continue
	fi
	got=$(ls "$T/rx"/*.dcm 2>/dev/null | head -1)
	ts_in=$(dcmdump -q +P 0002,0010 "$T/in/$n.dcm" | awk '{print $3}')
	ts_rx=$([ -n "$got" ] && dcmdump -q +P 0002,0010 "$got" | awk '{print $3}')
	if [ -z "$got" ]; then fail "scp_receive_$n" "nothing stored"
	elif [ "$ts_in" != "$ts_rx" ]; then fail "scp_receive_$n" "transfer syntax changed"
	elif ! same_ds "$T/in/$n.dcm" "$got"; then fail "scp_receive_$n" "data set bytes differ"
	else pass "scp_receive_$n"; fi
done
ls "$T"/.rx-* "$T"/rx/.rx-* >/dev/null 2>&1 && fail scp_no_temp_left "temporary files left"
# net_send_batch (net_probe send -j 3) -> net_probe scp: every instance, bytes preserved
rm -f "$T/rx"/*.dcm
if "$PROBE" send -j 3 127.0.0.1 11112 FIONA "$T"/in/*.dcm "$T/sq/sq.dcm" >"$T/batch.out"; then
	ok=1
	for f in "$T"/in/*.dcm "$T/sq/sq.dcm"; do
		uid=$(dcmdump -q +P 0008,0018 "$f")
		m=
		for r in "$T"/rx/*.dcm; do
			[ "$(dcmdump -q +P 0008,0018 "$r")" = "$uid" ] && same_ds "$f" "$r" && m=1
		done
		[ -n "$m" ] || { ok=0; fail batch_send_bytes "$(basename "$f") missing or changed"; }
	done
	grep -q "associations 3" "$T/batch.out" || { ok=0; fail batch_send_bytes "not 3 associations"; }
	[ $ok -eq 1 ] && pass batch_send_bytes
else
	fail batch_send_bytes "net_probe send -j 3 failed"
fi
# destination down: the batch ends with an error, promptly, after bounded reopen attempts
s=$(date +%s)
if "$PROBE" send -j 2 127.0.0.1 11199 FIONA "$T"/in/*.dcm >/dev/null 2>"$T/down.err"; then
	fail batch_dest_down "reported success"
elif [ $(($(date +%s) - s)) -gt 20 ]; then fail batch_dest_down "took too long"
else pass batch_dest_down; fi

# the receiver dies (kill -9) mid-batch and comes back: workers reconnect, nothing lost
mkdir -p "$T/rxa" "$T/rxb"
"$PROBE" scp 11117 "$T/rxa" FIONA >"$T/sa.out" 2>&1 &
pa=$!
i=0; while ! grep -q listening "$T/sa.out" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
# the same file 8000 times, one net_probe run (-x: fail rather than split the list)
(cd "$T/in" && seq 8000 | sed 's/.*/el.dcm/' |
	xargs -x -n 8000 -s 100000 "$PROBE" send -j 2 127.0.0.1 11117 FIONA) >"$T/re.out" 2>"$T/re.err" &
ps=$!
# killed once it has taken some (not after a fixed time: a fast run could be over by then)
i=0; while [ "$(ls "$T/rxa" | wc -l)" -lt 200 ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done
kill -9 $pa; wait $pa 2>/dev/null
"$PROBE" scp 11117 "$T/rxb" FIONA >"$T/sb.out" 2>&1 &
pb=$!
wait $ps; rs=$?
kill $pb; wait $pb
na=$(ls "$T/rxa" | wc -l); nb=$(ls "$T/rxb" | wc -l)
if [ $rs -ne 0 ]; then fail batch_reconnect "send failed: $(tail -1 "$T/re.err")"
elif ! grep -q "sent 8000 failed 0" "$T/re.out"; then fail batch_reconnect "$(cat "$T/re.out")"
elif grep -q "associations 2$" "$T/re.out"; then fail batch_reconnect "receiver killed too late"
elif [ $((na + nb)) -lt 8000 ]; then fail batch_reconnect "only $na + $nb stored"
else pass batch_reconnect; fi
rm -rf "$T/rxa" "$T/rxb"

# the synthetic corpus (several transfer syntaxes, modalities) through net_send_batch
GEN=$(pwd)/$BUILD/tools/gen_corpus
if [ -x "$GEN" ] && "$GEN" --preset tiny --seed 7 -o "$T/corpus" >/dev/null 2>&1; then
	rm -f "$T/rx"/*.dcm
	find "$T/corpus" -name '*.dcm' | sort >"$T/corpus.lst"
	if xargs -x "$PROBE" send -j 2 127.0.0.1 11112 FIONA <"$T/corpus.lst" >/dev/null 2>"$T/c.err"; then
		mkdir -p "$T/byuid"
		for r in "$T"/rx/*.dcm; do
			mv "$r" "$T/byuid/$(dcmdump -q +P 0008,0018 "$r" | sed 's/.*\[\(.*\)\].*/\1/')"
		done
		bad=0
		while read -r f; do
			u=$(dcmdump -q +P 0008,0018 "$f" | sed 's/.*\[\(.*\)\].*/\1/')
			[ -f "$T/byuid/$u" ] && same_ds "$f" "$T/byuid/$u" || bad=$((bad + 1))
		done <"$T/corpus.lst"
		[ $bad -eq 0 ] && pass corpus_send_bytes ||
			fail corpus_send_bytes "$bad of $(wc -l <"$T/corpus.lst") missing or changed"
	else
		fail corpus_send_bytes "send failed: $(tail -1 "$T/c.err")"
	fi
else
	echo "SKIP corpus_send_bytes: gen_corpus not available"
fi

echoscu -aet SENDER -aec FIONA 127.0.0.1 11112 && pass scp_echoscu || fail scp_echoscu "C-ECHO"
"$PROBE" echo 127.0.0.1 11112 FIONA && pass net_echo || fail net_echo "net_echo"
# two associations at once (two storescu processes), all instances arrive
rm -f "$T/rx"/*.dcm
storescu -aec FIONA 127.0.0.1 11112 "$T/in/el.dcm" "$T/in/il.dcm" "$T/in/eb.dcm" "$T/in/df.dcm" 2>"$T/p1.err" &
p1=$!
storescu -aec FIONA 127.0.0.1 11112 "$T/in/el.dcm" "$T/in/il.dcm" "$T/in/eb.dcm" "$T/in/df.dcm" 2>"$T/p2.err"
r2=$?; wait $p1; r1=$?
n=$(ls "$T/rx"/*.dcm 2>/dev/null | wc -l)
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ "$n" -eq 8 ] && pass scp_parallel_assocs ||
	fail scp_parallel_assocs "rc $r1/$r2, $n of 8 stored"
kill "$SCP_PID"; wait "$SCP_PID"; rc=$?; SCP_PID=
[ $rc -eq 0 ] && pass scp_clean_stop || fail scp_clean_stop "exit status $rc"

# TCP_NODELAY is set by net/ itself (not only through the environment): 60 small
# instances from a no-delay sender take ~40 ms each when the receiver leaves Nagle on.
env -u TCP_NODELAY "$PROBE" scp 11116 "$T/rx2" FIONA >"$T/scp4.out" 2>&1 &
SCP_PID=$!
i=0; while ! grep -q listening "$T/scp4.out" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
files=; i=0; while [ $i -lt 60 ]; do files="$files $T/in/el.dcm"; i=$((i+1)); done
s=$(date +%s%N)
storescu -aec FIONA 127.0.0.1 11116 $files
ms=$(( ($(date +%s%N) - s) / 1000000 ))
[ $ms -lt 1500 ] && pass scp_tcp_nodelay || fail scp_tcp_nodelay "60 instances took ${ms} ms"
kill "$SCP_PID"; wait "$SCP_PID"; SCP_PID=
rm -f "$T"/rx2/*.dcm

# --- allow-list ------------------------------------------------------------------------
"$PROBE" scp 11113 "$T/rx2" FIONA GOODAE >"$T/scp2.out" 2>&1 &
SCP_PID=$!
i=0; while ! grep -q listening "$T/scp2.out" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if storescu -aet BADAE -aec FIONA 127.0.0.1 11113 "$T/in/el.dcm" 2>"$T/bad.err"; then
	fail allow_list_refuses "BADAE was accepted"
elif ! grep -qi "reject" "$T/bad.err"; then fail allow_list_refuses "no rejection: $(tail -1 "$T/bad.err")"
elif ls "$T/rx2"/*.dcm >/dev/null 2>&1; then fail allow_list_refuses "file stored"
else pass allow_list_refuses; fi
storescu -aet GOODAE -aec FIONA 127.0.0.1 11113 "$T/in/el.dcm" && [ -f "$T/rx2/0.dcm" ] &&
	pass allow_list_accepts || fail allow_list_accepts "GOODAE refused"
storescu -aet GOODAE -aec OTHER 127.0.0.1 11113 "$T/in/el.dcm" 2>/dev/null &&
	fail called_aet_checked "wrong called AE accepted" || pass called_aet_checked
kill "$SCP_PID"; wait "$SCP_PID"; SCP_PID=

# --- a failing store callback gives Out of Resources (0xA700) to the sender ----------------
NET_PROBE_FAIL=1 "$PROBE" scp 11115 "$T/rx2" FIONA >"$T/scp3.out" 2>&1 &
SCP_PID=$!
i=0; while ! grep -q listening "$T/scp3.out" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if storescu -v -aec FIONA 127.0.0.1 11115 "$T/in/el.dcm" 2>"$T/full.err"; then
	fail store_failure_status "sender saw success"
elif grep -qi "OutOfResources" "$T/full.err"; then pass store_failure_status
else fail store_failure_status "$(tail -1 "$T/full.err")"; fi
ls "$T"/rx2/.rx-* >/dev/null 2>&1 && fail store_failure_status "temporary file left"
kill "$SCP_PID"; wait "$SCP_PID"; SCP_PID=

# --- net_probe send -> storescp (bit-preserving) -------------------------------------------
storescp -aet SC --bit-preserving -od "$T/sc" +xa 11114 2>"$T/sc.err" &
SCP_PID=$!
i=0; while ! echoscu -aec SC 127.0.0.1 11114 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
# storescp +xa accepts every transfer syntax it knows.
cp "$T/sq/sq.dcm" "$T/in/sq.dcm.seq"
if NET_PROBE_AET=FIONA "$PROBE" send 127.0.0.1 11114 SC "$T/in/el.dcm" "$T/in/il.dcm" "$T/in/jl.dcm" "$T/in/sq.dcm.seq"; then
	ok=1
	for n in el.dcm il.dcm jl.dcm sq.dcm.seq; do
		uid=$(dcmdump -q +P 0008,0018 "$T/in/$n" | sed 's/.*\[\(.*\)\].*/\1/')
		f=$(ls "$T/sc"/*"$uid"* 2>/dev/null | head -1)
		[ -n "$f" ] && same_ds "$T/in/$n" "$f" || { ok=0; fail "send_storescp_$n" "data set differs or missing"; }
	done
	[ $ok -eq 1 ] && pass send_storescp_bytes
else
	fail send_storescp_bytes "net_probe send failed"
fi
kill "$SCP_PID"; wait "$SCP_PID" 2>/dev/null; SCP_PID=

# --- net_probe send -> Orthanc, find counts ---------------------------------------------------
if ! orthanc_start "$T/orthanc" 4242 8042 ORTHANC FIONA 11112; then
	echo "SKIP orthanc: did not start"; exit $failed
fi
mkdump 1 2 >"$T/d.txt"; dump2dcm +te "$T/d.txt" "$T/s2a.dcm"
mkdump 2 2 >"$T/d.txt"; dump2dcm +te "$T/d.txt" "$T/s2b.dcm"
if NET_PROBE_AET=FIONA "$PROBE" send 127.0.0.1 4242 ORTHANC "$T"/in/*.dcm "$T/s2a.dcm" "$T/s2b.dcm"; then
	pass send_orthanc
else
	fail send_orthanc "net_probe send failed"
fi
want=$(($(ls "$T"/in/*.dcm | wc -l) + 2))
have=$(curl -sf "$ORTHANC_URL/instances" | grep -c '"')
[ "$have" -eq "$want" ] && pass orthanc_holds_all || fail orthanc_holds_all "$have of $want"
st=$(NET_PROBE_AET=FIONA "$PROBE" find 127.0.0.1 4242 ORTHANC study "$STUDY")
s1=$(NET_PROBE_AET=FIONA "$PROBE" find 127.0.0.1 4242 ORTHANC series "$STUDY" "$STUDY.1")
s2=$(NET_PROBE_AET=FIONA "$PROBE" find 127.0.0.1 4242 ORTHANC series "$STUDY" "$STUDY.2")
[ "$st" = "$want" ] && [ "$s1" = $((want - 2)) ] && [ "$s2" = 2 ] && pass find_counts ||
	fail find_counts "study $st series $s1 $s2, want $want $((want - 2)) 2"
nx=$(NET_PROBE_AET=FIONA "$PROBE" find 127.0.0.1 4242 ORTHANC study "$STUDY.999")
[ "$nx" = 0 ] && pass find_unknown_study || fail find_unknown_study "got $nx"
exit $failed
