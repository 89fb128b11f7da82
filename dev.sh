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

case "${1:-}" in
    demo) install_packages; exec make -f Makefile.apxs demo ;;
    test) install_packages; exec make -f Makefile.apxs test ;;
    deps) install_packages ;;
    *) echo "usage: $0 demo|test|deps" >&2; exit 2 ;;
esac
