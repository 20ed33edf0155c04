#!/bin/sh
# One Ceph (mon, memstore OSD, radosgw) for all of tests/scaleout/, started by tests/run.sh
# before the first scale-out test and stopped after the last: starting one takes 13-14 s,
# and each test only needs its own user and bucket (lib.sh's ceph_join).
#   sh tests/scaleout/shared-ceph.sh DIR
# runs in a network namespace of its own (the tests join it with nsenter through this
# process's pid), writes DIR/ceph/shared.env and then DIR/ready (or DIR/failed), and stops
# the cluster when DIR/stop appears or it is sent TERM. Prints nothing on success.
. "$(dirname "$0")/lib.sh"
so_have_servers || { touch "$1/failed"; exit 0; }
so_netns_reexec "$0" "$@"
D=$1
SO_HOLDER=1
trap 'ceph_stop' EXIT
trap 'exit 0' INT TERM
if ! ceph_start "$D" 2>"$D/start.err"; then
	touch "$D/failed"
	exit 1
fi
cat >"$CEPH_DIR/shared.env" <<ENV
CEPH_DIR='$CEPH_DIR'
S3_ENDPOINT='$S3_ENDPOINT'
SO_SHARED_SECONDS='$CEPH_SECONDS'
ENV
touch "$D/ready"
while [ ! -e "$D/stop" ]; do
	kill -0 "$MON_PID" 2>/dev/null || break
	sleep 0.5
done
