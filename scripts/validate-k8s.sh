#!/usr/bin/env bash
# Validates every manifest in deploy/kubernetes/ without a cluster and without the network:
# kubernetes-validate ships the Kubernetes JSON schemas inside its package, and strict
# validation rejects unknown fields, so a misspelt key fails here instead of being dropped by
# the API server. validate_k8s.py then checks what the schemas cannot: that the shard count,
# the per-index folders, the anti-affinity and the non-root settings agree across the files.
# The only network use is the one-time pip install when the validator is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# The oldest Kubernetes the manifests aim at (podFailurePolicy on by default since 1.26,
# Indexed Jobs stable since 1.24) and the newest the pinned validator ships.
versions=${K8S_VERSIONS:-"1.30 1.37"}
validator="kubernetes-validate==1.37.0"

if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
  echo "installing $validator (PyPI) for the manifest validation..." >&2
  python3 -m pip install --quiet --disable-pip-version-check "$validator"
fi

# shellcheck disable=SC2086 # the versions are words
python3 scripts/validate_k8s.py deploy/kubernetes $versions
