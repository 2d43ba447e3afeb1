#!/usr/bin/env bash
# The README's no-internet demo: start a local registry seeded with sample
# images, pull from it with imagec, and show what landed in the store.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
ROOT=${IMAGEC_DEMO_ROOT:-$(mktemp -d /tmp/imagec-demo.XXXXXX)}
ready=$(mktemp /tmp/imagec-demo-ready.XXXXXX); rm -f "$ready"

"$BIN/imagec-sample-registry" --addr 127.0.0.1:0 --ready-file "$ready" &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; rm -f "$ready"' EXIT
for _ in $(seq 100); do [ -s "$ready" ] && break; sleep 0.1; done
[ -s "$ready" ] || { echo "demo: the sample registry did not start" >&2; exit 1; }
host=$(cat "$ready")

set -x
"$BIN/imagec" --root "$ROOT" pull "$host/samples/hello:latest"
"$BIN/imagec" --root "$ROOT" pull "$host/samples/multi:latest"
"$BIN/imagec" --root "$ROOT" pull "$host/samples/hello:latest"
"$BIN/imagec" --root "$ROOT" images --digests
"$BIN/imagec" --root "$ROOT" layers "$host/samples/hello:latest"
{ set +x; } 2>/dev/null
echo "store: $ROOT (an OCI image layout: try 'skopeo inspect oci:$ROOT:$host/samples/hello:latest')"
