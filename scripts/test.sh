#!/usr/bin/env bash
# The README's test command: everything the suite needs, then the suite.
# Today it needs only the Rust toolchain; system packages the suite comes to need are installed
# here (Debian's packages), so a fresh machine and CI run the same thing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets "$@"
