#!/usr/bin/env bash
# The README's test command: everything the suite needs, then the suite.
# The HTML report test renders the report in headless Chromium, from Debian's packages; it is
# installed here when missing, so a fresh machine and CI run exactly the same thing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing chromium (Debian package) for the HTML report test..." >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
cargo test --all-targets "$@"
