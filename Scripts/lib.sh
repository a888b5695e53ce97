# Shared helpers for the scripts in this folder (sourced, not run).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi

# Builds the executables in release mode (quietly unless it fails) and sets BIN.
build_release() {
  local log
  log="$(mktemp)"
  echo "building release executables (first build takes a few minutes)..." >&2
  if ! (cd "$ROOT" && swift build -c release >"$log" 2>&1); then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  BIN="$(cd "$ROOT" && swift build -c release --show-bin-path)"
}

# Waits until FILE exists and is non-empty (up to SECONDS), for port files.
wait_for_file() {
  local file="$1" seconds="${2:-30}" waited=0
  while [[ ! -s "$file" ]]; do
    sleep 0.1
    waited=$((waited + 1))
    if ((waited > seconds * 10)); then return 1; fi
  done
}

# Creates (once) the Python environment the benchmarks compare against (onnxruntime, pyvips)
# and sets PY to its interpreter. Needs python3 with venv (Debian: python3-venv).
python_tools() {
  local venv="$ROOT/.venv-tools"
  if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv --system-site-packages "$venv" || {
      echo "cannot create a Python venv; install python3-venv (apt-get install python3-venv)" >&2
      return 1
    }
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    numpy==2.4.6 onnxruntime==1.31.1 pyvips==3.2.0
  PY="$venv/bin/python"
}
