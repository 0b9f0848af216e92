#!/usr/bin/env bash
# Install Debian's `chromium` package when /usr/bin/chromium is missing (idempotent).
#
# The report test (tests/report) renders report.html in headless Chromium. The Makefile's test
# target calls this script; it does nothing when Chromium is already there, and exits non-zero
# with a clear message when it cannot install (not root, no apt-get), so the test then skips
# with that reason instead of failing.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "install-chromium: $CHROMIUM already present ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: apt-get not found; install Chromium by hand (Debian package 'chromium')" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-chromium: need root (or passwordless sudo) to run apt-get install chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-chromium: installing Debian package 'chromium' with apt-get"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null

if [ ! -x "$CHROMIUM" ]; then
    echo "install-chromium: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "install-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
