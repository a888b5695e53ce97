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
