# Shared by scripts/serve and .ci/run: make .venv with a Python >= 3.11 and install into it.
# Usage: source scripts/bootstrap.sh EXTRAS   (EXTRAS: "" or "[test]")
set -euo pipefail
extras="${1:-}"
py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "softswitch needs Python >= 3.11 (found: $("$py" --version 2>&1))" >&2
  exit 1
fi
# Debian's python3 comes without venv/ensurepip until python3-venv is installed.
if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  else
    echo "please install python3-venv (sudo apt-get install python3-venv)" >&2
    exit 1
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".${extras}"
