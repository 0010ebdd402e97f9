#!/usr/bin/env bash
# The browser test of the built book (tests/test_book_browser.py) drives Debian's Chromium through its
# ChromeDriver. Installs both when they are missing and this is root on a Debian-like system; otherwise says
# what to install. Called by `make test` and by .ci/run.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "Installing Debian's chromium and chromium-driver for the browser test of the book"
  apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }
  exit 0
fi
echo "The browser test needs Chromium and ChromeDriver (Debian: sudo apt-get install chromium chromium-driver;" \
     "elsewhere put chromium and chromedriver on PATH, or set LFWSIAMESE_CHROMIUM and LFWSIAMESE_CHROMEDRIVER)." >&2
exit 1
