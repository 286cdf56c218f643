#!/usr/bin/env bash
# Creates the consumer tier's Python environment in .venv-consumers/ (git-ignored) from
# test/consumers/requirements.txt; a no-op when it is already installed with the same pins.
# Exit 0: ready. Exit 3: Python 3.10+ or Java 17+ is missing (the message says what and how
# to install it); the tier then skips. Any other exit: the install failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.venv-consumers
REQ=test/consumers/requirements.txt

python=${MIXPEEK_CONSUMERS_PYTHON:-python3}
if ! command -v "$python" >/dev/null || ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "consumer tier skipped: Python 3.10 or newer is missing ($python); install it (Debian: apt-get install python3 python3-venv) or set MIXPEEK_CONSUMERS_PYTHON" >&2
  exit 3
fi
java_major=$(java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1 || true)
if [ -z "${java_major}" ] || [ "${java_major}" -lt 17 ]; then
  echo "consumer tier skipped: Java 17 or newer is missing (found: ${java_major:-none}); install it (Debian: apt-get install openjdk-17-jre-headless) and put java on PATH" >&2
  exit 3
fi
if [ -f "$VENV/.installed" ] && cmp -s "$REQ" "$VENV/.installed"; then
  exit 0
fi
rm -rf "$VENV"
"$python" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
cp "$REQ" "$VENV/.installed"
echo "consumer tier: installed $(wc -l < "$REQ") lines of pins into $VENV" >&2
