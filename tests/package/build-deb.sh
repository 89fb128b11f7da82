#!/usr/bin/env bash
# Builds libapache2-mod-ocspstaple with `dpkg-buildpackage -us -uc -b` in a
# copy of the source tree (the build cleans .libs/ and must not touch the
# working tree) and puts the .deb (and the build log) into OUTDIR.
#
#   tests/package/build-deb.sh OUTDIR
#
# DEB_BUILD_OPTIONS passes through (e.g. "nocheck" skips the unit tests that
# dh_auto_test runs).
set -euo pipefail
SCRIPT_NAME=build-deb
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"

OUT=${1:?usage: build-deb.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

WORK=$(mktemp -d /tmp/ocspstaple-deb-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SRC=$WORK/libapache2-mod-ocspstaple
copy_tree "$REPO" "$SRC"

t0=$(now_s)
rc=0
(cd "$SRC" && timeout -k 10 900 dpkg-buildpackage -us -uc -b) > "$OUT/build.log" 2>&1 || rc=$?
if [ $rc != 0 ]; then
    tail -n 40 "$OUT/build.log" >&2
    say "dpkg-buildpackage failed (rc $rc; log: $OUT/build.log)"
    exit 1
fi
rm -f "$OUT"/libapache2-mod-ocspstaple_*.deb "$OUT"/libapache2-mod-ocspstaple-dbgsym_*
cp "$WORK"/*.deb "$OUT"/
cp "$WORK"/*.ddeb "$OUT"/ 2>/dev/null || true
cp "$WORK"/*.buildinfo "$WORK"/*.changes "$OUT"/ 2>/dev/null || true
# the compiler's warnings, if any, for whoever checks the build
grep -n 'warning:' "$OUT/build.log" | grep -Ev '^[0-9]+:dpkg-[a-z]+: warning:' >&2 || true
say "built $(cd "$OUT" && ls libapache2-mod-ocspstaple_*.deb) in $(elapsed "$t0")s"
