#!/usr/bin/env bash
# The browser test drives a system Chromium (Playwright's own browser downloads need a CDN). Use
# $CHROMIUM or /usr/bin/chromium; when it is missing, install Debian's package (root with apt-get, as
# on CI), else say how to get one.
set -euo pipefail
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$chromium" ]; then
    "$chromium" --version
    exit 0
fi
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "Installing Debian's chromium for the browser test..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
    /usr/bin/chromium --version
    exit 0
fi
echo "error: the browser test needs Chromium at $chromium. Install it (Debian/Ubuntu:" \
     "'sudo apt-get install chromium') or point CHROMIUM at a Chromium or Chrome binary." >&2
exit 1
