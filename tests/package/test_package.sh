#!/usr/bin/env bash
# The package as an operator uses it, on this machine's own apache2:
#
#   1. build libapache2-mod-ocspstaple (tests/package/build-deb.sh), check
#      its contents and run lintian (no errors);
#   2. apt-get install ./…deb: nothing gets enabled;
#   3. a2enmod ocspstaple (enables ssl through "# Depends: ssl") and
#      a2ensite default-ssl, moved to loopback-only ports, with a test
#      certificate whose OCSP URL names the test responder
#      (tests/e2e/ocsp_responder.py --generate);
#   4. apache2ctl start: `openssl s_client -status` shows a successful,
#      good response with a Next Update, and the store has it;
#   5. responder stopped, apache2ctl graceful: still stapled; then a full
#      stop and start with the responder still down: stapled from the store;
#   6. apache2ctl stop; apt-get remove: the module and the status snippet
#      are disabled, the store stays; apt-get purge: the module file, the
#      configuration and /var/lib/apache2/ocspstaple are gone.
#
# The machine is left as it was found: /etc/apache2, /var/lib/apache2 and
# /var/log/apache2 are copied first and put back on exit (also after a
# failure, and at the start of the next run if this one was killed).
# A running system apache2, or an installed libapache2-mod-ocspstaple, is
# never touched: the test is skipped. Every command has a timeout; what it
# starts it stops by pid.
#
#   tests/package/test_package.sh        as root
#   OCSPSTAPLE_DEB=path.deb              test this .deb instead of building one
#
# Ends with "package: N passed, N failed[, N skipped]".
set -uo pipefail

SCRIPT_NAME=package
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"

PKG=libapache2-mod-ocspstaple
PY=/usr/bin/python3
MODFILE=/usr/lib/apache2/modules/mod_ocspstaple.so
STORE=/var/lib/apache2/ocspstaple
# the backup of an interrupted run is found here by the next one
BACKUP=/var/tmp/ocspstaple-package-test.backup
BACKUP_PATHS="etc/apache2 var/lib/apache2 var/log/apache2"

PASSED=0 FAILED=0 SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip - $*"; }
# check DESCRIPTION COMMAND...: pass when the command succeeds
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
not() { ! "$@"; }
finish() {
    echo "package: $PASSED passed, $FAILED failed$([ $SKIPPED -gt 0 ] && echo ", $SKIPPED skipped")"
    [ "$FAILED" = 0 ]
}

if [ "$(id -u)" != 0 ]; then
    skip "needs root (apt-get, apache2ctl)"
    finish; exit
fi

# one package test at a time on a machine: they share the system apache2
exec 8>/run/lock/ocspstaple-package-test.lock 2>/dev/null || exec 8>/tmp/ocspstaple-package-test.lock
if ! flock -w 1200 8; then
    fail "another package test held the lock for 20 minutes"
    finish; exit
fi

# ---- restoring the system --------------------------------------------------
# envvar NAME: a variable of Debian's /etc/apache2/envvars
envvar() { (set +u; . /etc/apache2/envvars >/dev/null 2>&1; eval "echo \"\${$1:-}\""); }
apache_pidfile() { local f; f=$(envvar APACHE_PID_FILE); echo "${f:-/var/run/apache2/apache2.pid}"; }
apache_pid() {
    local f p
    f=$(apache_pidfile)
    [ -f "$f" ] && p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}
system_apache_running() {
    [ -n "$(apache_pid)" ] && return 0
    # started by apache2ctl or the init script with another pid file
    pgrep -f '^/usr/sbin/apache2 -k start' >/dev/null 2>&1
}
stop_apache() {
    local p
    p=$(apache_pid) || true
    [ -n "$p" ] || return 0
    timeout -k 5 60 apache2ctl stop >/dev/null 2>&1 || true
    for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
    say "apache2 (pid $p) did not stop: SIGKILL"
    kill -KILL "$p" 2>/dev/null || true
}
pkg_installed() { dpkg-query -W -f '${Status}' "$PKG" 2>/dev/null | grep -q 'install ok installed'; }
pkg_present() { dpkg-query -W -f '${Status}' "$PKG" 2>/dev/null | grep -qE 'installed|config-files|unpacked|half'; }

# restore: undo everything the test did to the system (idempotent).
restore() {
    [ -f "$BACKUP/complete" ] || return 0
    stop_apache
    # the responder of an interrupted run (its timeout wrapper, by pid)
    local pid
    pid=$(cat "$BACKUP/responder-pid" 2>/dev/null)
    if [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q ocsp_responder.py; then
        kill -TERM "$pid" 2>/dev/null
    fi
    # whatever apache2 this test started and is still there (by pid)
    for pid in $(cat "$BACKUP/apache-pids" 2>/dev/null); do
        if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/apache2 ]; then
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    if pkg_present; then
        DEBIAN_FRONTEND=noninteractive timeout -k 10 300 apt-get purge -y -q "$PKG" >/dev/null 2>&1 ||
            timeout -k 10 120 dpkg --purge "$PKG" >/dev/null 2>&1 || say "could not purge $PKG"
    fi
    local p ok=1
    for p in $BACKUP_PATHS; do
        if [ -d "$BACKUP/root/$p" ]; then
            rm -rf "/$p" && cp -a "$BACKUP/root/$p" "/$p" || ok=0
        fi
    done
    if [ -e "$BACKUP/root/$MODFILE" ]; then cp -a "$BACKUP/root/$MODFILE" "$MODFILE" || ok=0; fi
    if [ -e "$BACKUP/root/usr/sbin/policy-rc.d" ]; then
        cp -a "$BACKUP/root/usr/sbin/policy-rc.d" /usr/sbin/policy-rc.d || ok=0
    else
        rm -f /usr/sbin/policy-rc.d
    fi
    # the work directory of an interrupted run
    local w
    w=$(cat "$BACKUP/work-dir" 2>/dev/null)
    case "$w" in /tmp/ocspstaple-package-*) [ "$w" != "$WORK" ] && rm -rf "$w" ;; esac
    # run and lock directories that apache2ctl made
    local d
    while read -r d; do [ -n "$d" ] && rm -rf "$d"; done < "$BACKUP/created-dirs"
    if [ $ok = 1 ]; then
        rm -rf "$BACKUP"
    else
        say "restoring the system config failed; the copy is in $BACKUP"
    fi
}

backup() {
    rm -rf "$BACKUP"
    mkdir -p "$BACKUP/root" || return 1
    chmod 700 "$BACKUP"
    local p
    for p in $BACKUP_PATHS; do
        if [ -e "/$p" ]; then
            mkdir -p "$BACKUP/root/$(dirname "$p")" && cp -a "/$p" "$BACKUP/root/$p" || return 1
        fi
    done
    if [ -e "$MODFILE" ]; then
        mkdir -p "$BACKUP/root$(dirname "$MODFILE")" && cp -a "$MODFILE" "$BACKUP/root$MODFILE" || return 1
    fi
    if [ -e /usr/sbin/policy-rc.d ]; then
        mkdir -p "$BACKUP/root/usr/sbin" && cp -a /usr/sbin/policy-rc.d "$BACKUP/root/usr/sbin/" || return 1
    fi
    # directories apache2ctl creates, to remove if they were not there
    local run lock
    run=$(envvar APACHE_RUN_DIR); run=${run:-/var/run/apache2}
    lock=$(envvar APACHE_LOCK_DIR); lock=${lock:-/var/lock/apache2}
    : > "$BACKUP/created-dirs"
    for p in "$run" "$lock"; do [ -e "$p" ] || echo "$p" >> "$BACKUP/created-dirs"; done
    echo "$WORK" > "$BACKUP/work-dir"
    touch "$BACKUP/complete"
}

# ---- the .deb ----------------------------------------------------------------
WORK=$(mktemp -d /tmp/ocspstaple-package-XXXXXX)
chmod 755 "$WORK"
RESPONDER_PID=
cleanup() {
    local rc=$?
    if [ -n "$RESPONDER_PID" ]; then kill "$RESPONDER_PID" 2>/dev/null; wait "$RESPONDER_PID" 2>/dev/null; fi
    restore
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# an interrupted earlier run: put the system back first
if [ -f "$BACKUP/complete" ]; then
    say "restoring the system from an interrupted run ($BACKUP)"
    restore
fi

t0=$(now_s)
DEB=${OCSPSTAPLE_DEB:-}
if [ -z "$DEB" ]; then
    if "$HERE/build-deb.sh" "$WORK/out"; then
        DEB=$(ls "$WORK"/out/$PKG\_*.deb)
        pass "dpkg-buildpackage -us -uc -b builds $(basename "$DEB") ($(elapsed "$t0")s)"
    else
        fail "dpkg-buildpackage -us -uc -b"
        finish; exit
    fi
fi
DEB=$(cd "$(dirname "$DEB")" && pwd)/$(basename "$DEB")

# contents
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's#^\./#/#' > "$WORK/contents"
for f in "$MODFILE" /etc/apache2/mods-available/ocspstaple.load \
         /etc/apache2/mods-available/ocspstaple.conf \
         /etc/apache2/conf-available/ocspstaple-status.conf \
         /usr/share/man/man5/mod_ocspstaple.5.gz \
         /usr/share/doc/$PKG/README.md.gz /usr/share/doc/$PKG/README.Debian \
         /usr/share/doc/$PKG/copyright; do
    check "the package ships $f" grep -qx "$f" "$WORK/contents"
done
mkdir -p "$WORK/x"
dpkg-deb -x "$DEB" "$WORK/x"
check "ocspstaple.load loads $MODFILE" \
    grep -q "^LoadModule ocspstaple_module $MODFILE\$" "$WORK/x/etc/apache2/mods-available/ocspstaple.load"
check "ocspstaple.load has '# Depends: ssl' (a2enmod enables mod_ssl)" \
    grep -q '^# Depends:.*\bssl\b' "$WORK/x/etc/apache2/mods-available/ocspstaple.load"
check "ocspstaple.conf keeps the store in $STORE" \
    grep -qE "^[[:space:]]*OCSPStapleStore[[:space:]]+$STORE\$" "$WORK/x/etc/apache2/mods-available/ocspstaple.conf"
dpkg-deb -e "$DEB" "$WORK/ctl"
check "no postinst: installing enables nothing" test ! -e "$WORK/ctl/postinst"
check "prerm disables the module and the status snippet on removal" \
    grep -q 'apache2_invoke dismod' "$WORK/ctl/prerm"
check "postrm removes $STORE on purge" grep -q "rm -rf $STORE" "$WORK/ctl/postrm"

# every directive of the README's tables is in the man page
zcat "$WORK/x/usr/share/man/man5/mod_ocspstaple.5.gz" > "$WORK/man5"
missing=
for d in $(grep -oE '^\| `OCSPStaple[A-Za-z]*' "$REPO/README.md" | tr -d '|` ' | sort -u); do
    grep -qE "^\.B[IR]? \"?$d[ \"]" "$WORK/man5" || missing="$missing $d"
done
if [ -z "$missing" ]; then pass "mod_ocspstaple(5) describes every directive of the README"
else fail "mod_ocspstaple(5) lacks:$missing"; fi
if ! command -v man >/dev/null 2>&1; then
    skip "man is not installed here: mod_ocspstaple(5) not formatted"
elif LC_ALL=C.UTF-8 MANWIDTH=80 timeout 60 man --warnings -E UTF-8 -l -Tutf8 -Z "$WORK/man5" 2>"$WORK/man.err" >/dev/null &&
   [ ! -s "$WORK/man.err" ]; then
    pass "mod_ocspstaple(5) formats without warnings"
else
    fail "mod_ocspstaple(5) formats without warnings: $(head -c 500 "$WORK/man.err")"
fi

if command -v lintian >/dev/null 2>&1; then
    timeout -k 10 300 lintian --info "$DEB" > "$WORK/lintian" 2>&1
    sed -e '/^N:/d' "$WORK/lintian" | grep -v 'running with root privileges' | sed 's/^/    lintian: /'
    check "lintian: no errors" not grep -q '^E:' "$WORK/lintian"
else
    skip "lintian is not installed here"
fi

# ---- installing into the system apache2 -----------------------------------
if system_apache_running; then
    skip "the system apache2 is running: not touching it (install, enable, stop, purge)"
    finish; exit
fi
if pkg_present; then
    skip "$PKG is already installed here: not touching it"
    finish; exit
fi
# what "as it was" means: every file's path, type, mode, owner, size, link
# target and checksum under these paths, and the package's dpkg state
manifest() {
    local p
    for p in $BACKUP_PATHS usr/sbin/policy-rc.d ${MODFILE#/} var/run/apache2 var/lock/apache2; do
        [ -e "/$p" ] || [ -L "/$p" ] || { echo "absent /$p"; continue; }
        # (no sizes: a directory copied back has another size; files are
        # compared by checksum)
        find "/$p" -printf '%p %y %m %u %g %l\n'
        find "/$p" -type f -exec md5sum {} +
    done | LC_ALL=C sort
    echo "dpkg: $(dpkg-query -W -f '${Status}' "$PKG" 2>/dev/null)"
}
manifest > "$WORK/manifest.before"
if ! backup; then
    fail "copy /etc/apache2, /var/lib/apache2, /var/log/apache2 before the test"
    rm -rf "$BACKUP"
    finish; exit
fi
# never let a maintainer script start or restart a service on this machine
printf '#!/bin/sh\n# mod_ocspstaple package test: no service starts here\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d

t0=$(now_s)
if DEBIAN_FRONTEND=noninteractive timeout -k 10 300 apt-get install -y -q "$DEB" > "$WORK/apt-install.log" 2>&1 && pkg_installed; then
    pass "apt-get install ./$(basename "$DEB") ($(elapsed "$t0")s)"
else
    tail -n 20 "$WORK/apt-install.log"
    fail "apt-get install ./$(basename "$DEB")"
    finish; exit
fi
check "installed: the module file is there" test -f "$MODFILE"
check "installing enabled nothing (a2query -m ocspstaple)" not a2query -q -m ocspstaple
check "installing enabled nothing (a2query -c ocspstaple-status)" not a2query -q -c ocspstaple-status

# ---- test PKI and responder ------------------------------------------------
T=$WORK/run
mkdir -p "$T"
chmod 755 "$T"
timeout -k 5 600 "$PY" "$REPO/tests/e2e/ocsp_responder.py" --dir "$T/pki" --port 0 --generate \
    --port-file "$T/responder.port" > "$T/responder.log" 2>&1 &
RESPONDER_PID=$!
echo "$RESPONDER_PID" > "$BACKUP/responder-pid"
for _ in $(seq 1 300); do [ -s "$T/responder.port" ] && break; kill -0 $RESPONDER_PID 2>/dev/null || break; sleep 0.1; done
if [ ! -s "$T/responder.port" ]; then
    cat "$T/responder.log"
    fail "test responder started (ocsp_responder.py --generate)"
    finish; exit
fi
RPORT=$(cat "$T/responder.port")
pass "test PKI made, responder on 127.0.0.1:$RPORT"

read -r HTTP HTTPS < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

# ---- Debian's configuration, moved to loopback ports ----------------------
E=/etc/apache2
sed -i -E "s/^([[:space:]]*)Listen 80\$/\\1Listen 127.0.0.1:$HTTP/; s/^([[:space:]]*)Listen 443\$/\\1Listen 127.0.0.1:$HTTPS/" $E/ports.conf
sed -i -E "s/<VirtualHost ([^>]*):80>/<VirtualHost \\1:$HTTP>/" $E/sites-available/000-default.conf
sed -i -E "s/<VirtualHost ([^>]*):443>/<VirtualHost \\1:$HTTPS>/;
           s#^([[:space:]]*SSLCertificateFile[[:space:]]).*#\\1$T/pki/rsa.chain.pem#;
           s#^([[:space:]]*SSLCertificateKeyFile[[:space:]]).*#\\1$T/pki/rsa.key#;
           s#^([[:space:]]*)SSLEngine on#&\\n\\1SSLUseStapling on#" $E/sites-available/default-ssl.conf
check "ports.conf listens on 127.0.0.1 only" \
    bash -c "! grep -E '^[[:space:]]*Listen' $E/ports.conf | grep -v ' 127\.0\.0\.1:'"
check "default-ssl: the test certificate and SSLUseStapling on" \
    bash -c "grep -q 'SSLUseStapling on' $E/sites-available/default-ssl.conf && grep -q '$T/pki/rsa.chain.pem' $E/sites-available/default-ssl.conf"

timeout 60 a2enmod ocspstaple > "$T/a2enmod.log" 2>&1
check "a2enmod ocspstaple" a2query -q -m ocspstaple
check "a2enmod ocspstaple enabled ssl too (# Depends: ssl)" a2query -q -m ssl
timeout 60 a2ensite default-ssl > /dev/null 2>&1
check "a2ensite default-ssl" a2query -q -s default-ssl
timeout 60 a2enconf ocspstaple-status > /dev/null 2>&1
check "a2enconf ocspstaple-status" a2query -q -c ocspstaple-status
if timeout 60 apache2ctl configtest > "$T/configtest.log" 2>&1; then
    pass "apache2ctl configtest"
else
    cat "$T/configtest.log"; fail "apache2ctl configtest"
fi

LOG=$(envvar APACHE_LOG_DIR)/error.log
generations() { grep -c 'resuming normal operations' "$LOG" 2>/dev/null || true; }
# ready GEN: apache2 has a pid file and logged a generation after GEN
# (the listening socket accepts before that: it is bound while the
# configuration is read)
ready() { [ "$(generations)" -gt "$1" ] && [ -n "$(apache_pid)" ]; }
wait_ready() { for _ in $(seq 1 150); do ready "$1" && return 0; sleep 0.2; done; return 1; }
# stapled: what operators are told to check
stapled() {
    echo QUIT | timeout 20 openssl s_client -connect "127.0.0.1:$HTTPS" -servername rsa.test \
        -status -CAfile "$T/pki/root.pem" > "$T/s_client.out" 2>&1
    grep -q 'OCSP Response Status: successful' "$T/s_client.out" &&
        grep -q 'Cert Status: good' "$T/s_client.out" &&
        grep -q 'Next Update' "$T/s_client.out"
}
check_stapled() {
    if stapled; then pass "$1"
    else fail "$1"; grep -iE 'OCSP|Cert Status|Update|error' "$T/s_client.out" | head -n 10; fi
}
store_files() { find "$STORE" -maxdepth 1 -type f 2>/dev/null | wc -l; }

t0=$(now_s)
started() { apache_pid >> "$BACKUP/apache-pids"; }
g=$(generations)
timeout -k 5 60 apache2ctl start > "$T/start.log" 2>&1
wait_ready "$g"
started
if ready "$g"; then
    pass "apache2ctl start: Debian's apache2 answers on 127.0.0.1:$HTTPS ($(elapsed "$t0")s)"
else
    cat "$T/start.log"; tail -n 20 "$LOG" 2>/dev/null
    fail "apache2ctl start"
    finish; exit
fi
check_stapled "openssl s_client -status: successful, good, Next Update"
for _ in $(seq 1 50); do [ "$(store_files)" -gt 0 ] && break; sleep 0.2; done
check "the response is in the store $STORE" test "$(store_files)" -gt 0
check "the store belongs to the user apache2 runs as" \
    test "$(stat -c %U "$STORE" 2>/dev/null)" = "$(envvar APACHE_RUN_USER)"
# the conf-available snippet: JSON, metrics and server-status on loopback
timeout 20 curl -sS -o "$T/status.json" "http://127.0.0.1:$HTTP/ocspstaple-status" 2>"$T/curl.err"
check "ocspstaple-status.conf: /ocspstaple-status answers JSON with the certificate, good" \
    "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1]))
sys.exit(not (d["totals"]["certificates"] == 1 and d["totals"]["good"] == 1))' "$T/status.json"
timeout 20 curl -sS -o "$T/metrics.txt" "http://127.0.0.1:$HTTP/ocspstaple-metrics" 2>>"$T/curl.err"
check "ocspstaple-status.conf: /ocspstaple-metrics answers Prometheus text" \
    grep -q '^ocspstaple_seconds_until_next_update{' "$T/metrics.txt"
timeout 20 curl -sS -o "$T/server-status.txt" "http://127.0.0.1:$HTTP/server-status?auto" 2>>"$T/curl.err"
check "ocspstaple-status.conf: /server-status?auto has the OCSPStaple lines" \
    grep -q '^OCSPStapleGood: 1' "$T/server-status.txt"

# ---- responder down: graceful, then a full restart -------------------------
kill "$RESPONDER_PID" 2>/dev/null; wait "$RESPONDER_PID" 2>/dev/null; RESPONDER_PID=
check "responder stopped" bash -c "! timeout 2 bash -c 'echo > /dev/tcp/127.0.0.1/$RPORT' 2>/dev/null"
g=$(generations)
timeout -k 5 60 apache2ctl graceful > "$T/graceful.log" 2>&1
if wait_ready "$g"; then
    pass "apache2ctl graceful with the responder down"
else
    cat "$T/graceful.log"; fail "apache2ctl graceful with the responder down"
fi
check_stapled "after graceful, responder down: successful, good, Next Update"

stop_apache
check "apache2ctl stop" test -z "$(apache_pid)"
g=$(generations)
timeout -k 5 60 apache2ctl start > "$T/start2.log" 2>&1
wait_ready "$g"
started
if ready "$g"; then
    check_stapled "after stop and start, responder down: stapled from the store"
else
    cat "$T/start2.log"; fail "apache2ctl start with the responder down"
fi
stop_apache
check "apache2ctl stop" test -z "$(apache_pid)"
if grep -E '\[ocspstaple:(emerg|alert|crit|error)\]|exit signal|Segmentation fault' "$LOG" > "$T/bad-lines"; then
    cat "$T/bad-lines"; fail "the error log has no module error and no crash"
else
    pass "the error log has no module error and no crash"
fi

# ---- remove, then purge ------------------------------------------------------
DEBIAN_FRONTEND=noninteractive timeout -k 10 300 apt-get remove -y -q "$PKG" > "$T/remove.log" 2>&1
check "apt-get remove" not pkg_installed
check "removing disabled the module" bash -c "! ls $E/mods-enabled/ocspstaple.* >/dev/null 2>&1"
check "removing disabled the status snippet" test ! -e $E/conf-enabled/ocspstaple-status.conf
check "removing removed the module file" test ! -e "$MODFILE"
check "removing kept the store" test -d "$STORE"
# README.Debian: with the module gone, a vhost with SSLUseStapling on needs
# an SSLStaplingCache of its own (ocspstaple.conf had it)
# (configtest passes: mod_ssl checks at start)
timeout -k 5 60 apache2ctl start > "$T/start-removed.log" 2>&1
started
check "after removal, SSLUseStapling on without SSLStaplingCache: apache2 does not start (AH01958), as README.Debian says" \
    grep -q AH01958 "$T/start-removed.log" "$LOG"
stop_apache
DEBIAN_FRONTEND=noninteractive timeout -k 10 300 apt-get purge -y -q "$PKG" > "$T/purge.log" 2>&1
check "apt-get purge" not pkg_present
check "purging removed $STORE" test ! -e "$STORE"
check "purging removed the configuration" bash -c \
    "! ls $E/mods-available/ocspstaple.* $E/conf-available/ocspstaple-status.conf >/dev/null 2>&1"
check "nothing of the package is left" bash -c "! dpkg -S ocspstaple >/dev/null 2>&1 && ! find /etc/apache2 /usr/lib/apache2 /var/lib/apache2 -name '*ocspstaple*' | grep -q ."

# ---- the system as it was ----------------------------------------------------
restore
check "the copy of the system configuration was put back" test ! -e "$BACKUP"
manifest > "$WORK/manifest.after"
if diff -u "$WORK/manifest.before" "$WORK/manifest.after" > "$WORK/manifest.diff"; then
    pass "the machine is as it was: /etc/apache2, /var/lib/apache2, /var/log/apache2, run dirs, dpkg state"
else
    head -n 40 "$WORK/manifest.diff"; fail "the machine is as it was"
fi
finish
