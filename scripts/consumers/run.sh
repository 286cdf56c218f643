#!/usr/bin/env bash
# `npm run test:consumers`: sets up the Python environment (setup.sh), then runs the consumer
# tier (vitest project `consumers`). Without Python 3.10+ or Java 17+ it says what is missing and
# exits 0 with the tier skipped.
set -uo pipefail
cd "$(dirname "$0")/../.."
bash scripts/consumers/setup.sh
status=$?
if [ "$status" -eq 3 ]; then exit 0; fi
if [ "$status" -ne 0 ]; then echo "consumer tier: the Python environment could not be installed (exit $status)" >&2; exit "$status"; fi
exec npx vitest run --project consumers "$@"
