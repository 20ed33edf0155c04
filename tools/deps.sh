#!/bin/sh
# Installs the Debian packages fiona's build and tests need, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
# Orthanc's package starts a system service on install: a policy-rc.d that denies
# service starts is put in place for the install (tests start their own Orthanc).
# PostgreSQL 15 and Ceph (mon, OSD, radosgw: ~71 MB download, ~283 MB installed) are for
# tests/scaleout/, which starts private servers on loopback; the same policy keeps the
# packages' own services (PostgreSQL's "main" cluster) from starting.
set -eu
PKGS="gcc g++ make pkg-config clang libclang-rt-14-dev
libfuse3-dev fuse3 libsqlite3-dev sqlite3 libjansson-dev libxxhash-dev libssl-dev zlib1g-dev
libcurl4-openssl-dev libpq-dev libdcmtk-dev dcmtk libtesseract-dev libleptonica-dev tesseract-ocr-eng
tesseract-ocr-nor tesseract-ocr libopenjp2-7-dev libfreetype-dev fonts-dejavu-core
orthanc dcm2niix dicom3tools libgdcm-tools curl util-linux iproute2 procps unzip
libarchive-tools zip
postgresql-15 postgresql-client-15 ceph-mon ceph-osd ceph-common radosgw"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "fiona: missing Debian packages:$missing" >&2
	echo "fiona: run as root:  apt-get update && $cmd" >&2
	exit 1
fi
echo "fiona: installing missing Debian packages:$missing" >&2
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	made_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends$missing >/dev/null
[ "$made_policy" -eq 1 ] && rm -f "$policy"
# The package's own service must not hold the DICOM/HTTP ports the tests use: stop that
# service only (never every Orthanc on the machine: a site's own may be running), and only
# when this install is what brought it.
case "$missing" in
*" orthanc"*)
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl disable --now orthanc >/dev/null 2>&1 || true
	elif [ -x /etc/init.d/orthanc ]; then
		/etc/init.d/orthanc stop >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
