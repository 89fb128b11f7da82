#!/bin/sh
# Takes a fresh Debian 12 machine to a running demo or a passing test suite:
#   ./dev.sh demo    install what is needed, build, start the loopback demo
#   ./dev.sh test    install what is needed, build, run every test
# Installing needs root (apt-get); as another user the packages must already
# be there (or sudo is used when present).
set -eu
cd "$(dirname "$0")"

install_packages() {
    pkgs=$(grep -v '^#' tests/debian-packages.txt | tr '\n' ' ')
    if [ "$(id -u)" = 0 ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs
    else
        echo "dev.sh: not root and no sudo: assuming these are installed: $pkgs" >&2
    fi
}

# promtool (alert rule tests) from Debian's prometheus package, unpacked
# into build/tools: installing the package would start a Prometheus server.
unpack_promtool() {
    command -v promtool >/dev/null 2>&1 && return 0
    [ -x build/tools/usr/bin/promtool ] && return 0
    mkdir -p build/tools/deb
    if (cd build/tools/deb && timeout 300 apt-get download prometheus >/dev/null 2>&1); then
        dpkg-deb -x build/tools/deb/prometheus_*.deb build/tools/root &&
            mkdir -p build/tools/usr/bin &&
            cp build/tools/root/usr/bin/promtool build/tools/usr/bin/promtool
        rm -rf build/tools/root build/tools/deb
    else
        echo "dev.sh: could not download prometheus for promtool; its tests skip" >&2
    fi
}

case "${1:-}" in
    demo) install_packages; exec make -f Makefile.apxs demo ;;
    test) install_packages; unpack_promtool; exec make -f Makefile.apxs test ;;
    deps) install_packages ;;
    *) echo "usage: $0 demo|test|deps" >&2; exit 2 ;;
esac
