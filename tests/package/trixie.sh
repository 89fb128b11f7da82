#!/usr/bin/env bash
# Debian 13 "trixie" run: build, unit tests, the end-to-end tests of the
# foundation and the store, the .deb and the operator's package test, all
# inside a debootstrap (minbase) root made from Debian's own packages.
#
#   tests/package/trixie.sh            as root; prints one timing line per step
#
# The root is cached at /var/cache/ocspstaple-ci/trixie-<hash> (hash of the
# package list tests/package/trixie-packages.txt and of this recipe) and
# reused while the list is unchanged; roots of other lists are removed.
# OCSPSTAPLE_CI_CACHE=DIR puts the cache elsewhere; OCSPSTAPLE_TRIXIE_FRESH=1
# makes a new root. The Debian archive is the one this machine's apt uses
# (read from its sources at run time, so no host is named here).
#
# Inside the root, the source tree is a copy (nothing is written into the
# working tree): /build/src, rebuilt on every run. /proc, /dev/pts and
# /dev/shm are mounted for the run and unmounted on exit, whatever happens.
# Services never start inside the root (policy-rc.d answers 101); every
# command has a timeout; any process left inside the root is killed.
set -euo pipefail

SCRIPT_NAME=trixie
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"

SUITE=trixie
# Bump when the way the root is made changes (not the package list: that
# is hashed itself).
RECIPE=1
CACHE_BASE=${OCSPSTAPLE_CI_CACHE:-/var/cache/ocspstaple-ci}
PKG_FILE=$HERE/trixie-packages.txt

if [ "$(id -u)" != 0 ]; then
    say "needs root (debootstrap, chroot, mount): skipped"
    echo "trixie: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
for tool in debootstrap chroot flock timeout; do
    command -v "$tool" >/dev/null 2>&1 || { say "$tool is missing (apt-get install debootstrap)"; exit 1; }
done

PKGS=$(grep -v '^[[:space:]]*#' "$PKG_FILE" | tr -s ' \n' ' ')
KEY=$(printf '%s\n%s\n%s\n' "$SUITE" "$RECIPE" "$PKGS" | sha256sum | cut -c1-16)
ROOT=$CACHE_BASE/$SUITE-$KEY

declare -a STEP_NAMES=() STEP_TIMES=() STEP_RESULTS=()
record() { STEP_NAMES+=("$1"); STEP_TIMES+=("$2"); STEP_RESULTS+=("$3"); say "$1: $3 (${2}s)"; }

# ---- cache lock: one run at a time per machine -------------------------
mkdir -p "$CACHE_BASE"
chmod 755 "$CACHE_BASE"
exec 9>"$CACHE_BASE/.lock"
if ! flock -w 1800 9; then
    say "another trixie run holds $CACHE_BASE/.lock for 30 minutes: giving up"
    exit 1
fi

# ---- mounts and cleanup --------------------------------------------------
MOUNTED=0
kill_inside() {
    # processes whose root is the chroot: ours (started by this run)
    local p r pids=()
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        [ "$r" = "$ROOT" ] && pids+=("${p#/proc/}")
    done
    if [ ${#pids[@]} -gt 0 ]; then
        say "stopping ${#pids[@]} process(es) left inside the root: ${pids[*]}"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        sleep 1
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
}
cleanup() {
    local rc=$?
    if [ "$MOUNTED" = 1 ]; then
        kill_inside
        umount_under "$ROOT"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount_root() {
    mkdir -p "$ROOT/proc" "$ROOT/dev/pts" "$ROOT/dev/shm"
    MOUNTED=1
    is_mounted "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
    is_mounted "$ROOT/dev/pts" || mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$ROOT/dev/pts"
    is_mounted "$ROOT/dev/shm" || mount -t tmpfs -o mode=1777,size=256m shm "$ROOT/dev/shm"
    # /dev/ptmx of the new devpts instance
    if [ ! -e "$ROOT/dev/ptmx" ] || [ ! -L "$ROOT/dev/ptmx" ]; then
        rm -f "$ROOT/dev/ptmx"
        ln -s pts/ptmx "$ROOT/dev/ptmx"
    fi
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
    cp /etc/hosts "$ROOT/etc/hosts" 2>/dev/null || true
}
unmount_root() {
    kill_inside
    umount_under "$ROOT"
    MOUNTED=0
}

# in_root SECONDS COMMAND: run a shell command inside the root, in
# /build/src, with a clean environment and a timeout.
in_root() {
    local t=$1; shift
    timeout -k 10 "$t" chroot "$ROOT" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
        CI="${CI:-}" \
        /bin/bash -c "cd /build/src 2>/dev/null || cd /; $*"
}

# ---- the root ------------------------------------------------------------
make_root() {
    local tmp=$ROOT.tmp mirror security
    mirror=$(debian_mirror)
    security=$(debian_mirror security)
    if [ -z "$mirror" ]; then
        say "no Debian archive found in this machine's apt sources"
        return 1
    fi
    say "making the $SUITE root at $ROOT from $mirror (first run on this machine)"
    [ -e "$tmp" ] && safe_rm_root "$tmp"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    timeout -k 10 900 debootstrap --variant=minbase --keyring="$keyring" \
        "$SUITE" "$tmp" "$mirror" > "$CACHE_BASE/debootstrap.log" 2>&1 || {
        tail -n 30 "$CACHE_BASE/debootstrap.log" >&2
        say "debootstrap failed (log: $CACHE_BASE/debootstrap.log)"
        return 1
    }
    # never start a service inside the root
    printf '#!/bin/sh\n# ocspstaple CI root: no service starts here\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"
    chmod 755 "$tmp/usr/sbin/policy-rc.d"
    {
        echo "deb $mirror $SUITE main"
        echo "deb $mirror $SUITE-updates main"
        [ -n "$security" ] && echo "deb $security $SUITE-security main"
    } > "$tmp/etc/apt/sources.list"
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        > "$tmp/etc/apt/apt.conf.d/90ocspstaple-ci"
    local saved_root=$ROOT
    ROOT=$tmp
    mount_root
    local ok=1
    in_root 600 "apt-get update -q || { sleep 5; apt-get update -q; }" > "$CACHE_BASE/apt.log" 2>&1 &&
        in_root 1200 "apt-get install -y -q $PKGS && apt-get clean" >> "$CACHE_BASE/apt.log" 2>&1 || ok=0
    unmount_root
    ROOT=$saved_root
    if [ $ok != 1 ]; then
        tail -n 30 "$CACHE_BASE/apt.log" >&2
        say "installing the packages failed (log: $CACHE_BASE/apt.log)"
        return 1
    fi
    touch "$tmp/.ocspstaple-ready"
    mv "$tmp" "$ROOT"
    # roots of older package lists
    local old
    for old in "$CACHE_BASE/$SUITE"-*; do
        [ -d "$old" ] && [ "$old" != "$ROOT" ] && { say "removing old root $old"; safe_rm_root "$old"; }
    done
    return 0
}

t0=$(now_s)
if [ -n "${OCSPSTAPLE_TRIXIE_FRESH:-}" ] && [ -d "$ROOT" ]; then
    safe_rm_root "$ROOT"
fi
if [ -f "$ROOT/.ocspstaple-ready" ]; then
    record "root (cached $(basename "$ROOT"))" "$(elapsed "$t0")" ok
else
    [ -d "$ROOT" ] && safe_rm_root "$ROOT"
    if make_root; then
        record "root (debootstrap + packages, $(du -sm "$ROOT" | cut -f1) MB)" "$(elapsed "$t0")" ok
    else
        record "root" "$(elapsed "$t0")" FAILED
        echo "trixie: 0 passed, 1 failed"
        exit 1
    fi
fi

# ---- the source tree -----------------------------------------------------
t0=$(now_s)
mount_root
safe_rm_root "$ROOT/build"
mkdir -p "$ROOT/build/src" "$ROOT/build/out"
copy_tree "$REPO" "$ROOT/build/src"
chmod 755 "$ROOT/build" "$ROOT/build/src"
LOGDIR=$(mktemp -d /tmp/ocspstaple-trixie-XXXXXX)
in_root 60 'echo "$(. /etc/os-release; echo "$PRETTY_NAME") $(cat /etc/debian_version);' \
    '$(apache2 -v | head -n1); $(openssl version); $(gcc --version | head -n1)"' >&2 || true
record "copy source" "$(elapsed "$t0")" ok

failed=0 passed=0
# step NAME SECONDS COMMAND: one step inside the root, its output in
# $LOGDIR/NAME.log (shown when it fails).
step() {
    local name=$1 t=$2; shift 2
    local s rc=0
    s=$(now_s)
    in_root "$t" "$*" > "$LOGDIR/$name.log" 2>&1 || rc=$?
    if [ $rc = 0 ]; then
        passed=$((passed + 1)); record "$name" "$(elapsed "$s")" ok
    else
        failed=$((failed + 1)); record "$name" "$(elapsed "$s")" "FAILED (rc $rc)"
        tail -n 60 "$LOGDIR/$name.log" >&2
    fi
    return $rc
}
# no_warnings NAME: a compiler warning in the step's log fails it.
# (dpkg-shlibdeps and dpkg-gencontrol notes in the .deb build are not the
# compiler's.)
no_warnings() {
    if grep -n 'warning:' "$LOGDIR/$1.log" | grep -Ev '^[0-9]+:dpkg-[a-z]+: warning:' >&2; then
        say "$1: the compiler warned (above): the build must be warning-free on $SUITE"
        passed=$((passed - 1)); failed=$((failed + 1))
        STEP_RESULTS[${#STEP_RESULTS[@]}-1]="FAILED (warnings)"
        return 1
    fi
}

if step build 600 'make -f Makefile.apxs clean >/dev/null && make -f Makefile.apxs module'; then
    no_warnings build || true
    step unit 900 'make -f Makefile.apxs unit' && no_warnings unit || true
    step e2e 1200 'cd tests/e2e && python3 -m pytest -q -p no:cacheprovider test_foundation.py test_store.py' || true
    tail -n 1 "$LOGDIR/e2e.log" >&2 || true
fi
# nocheck: the unit step above ran the same tests on the same tree (the
# package test on the host builds with them)
if step deb 900 'DEB_BUILD_OPTIONS=nocheck tests/package/build-deb.sh /build/out'; then
    no_warnings deb || true
    step package 600 'OCSPSTAPLE_DEB=$(ls /build/out/libapache2-mod-ocspstaple_*.deb) tests/package/test_package.sh' || true
    grep -E '^ +lintian:|^skip' "$LOGDIR/package.log" >&2 || true
    tail -n 1 "$LOGDIR/package.log" >&2 || true
fi
unmount_root

if [ "$failed" = 0 ]; then
    rm -rf "$LOGDIR"
    echo "== $SUITE run: time per step"
else
    echo "== $SUITE run: time per step (logs kept in $LOGDIR)"
fi
for i in "${!STEP_NAMES[@]}"; do
    printf '  %-52s %7ss  %s\n' "${STEP_NAMES[$i]}" "${STEP_TIMES[$i]}" "${STEP_RESULTS[$i]}"
done
echo "trixie: $passed passed, $failed failed"
[ "$failed" = 0 ]
