#!/usr/bin/env bash
# Runs the whole Autobahn|Testsuite (sections 1-13) against examples/echo_server.rs (server
# role) and examples/autobahn_client.rs (client role), both with permessage-deflate enabled
# (AB_DEFLATE=1: sections 12 and 13 are all about it; sections 1-11 never offer it, so they run
# the uncompressed code), then compares each case's result with the golden files next to this
# script. The two roles run at the same time (each fuzzer is one single-threaded Python
# process; on 2 cores that halves the wall time, most of it spent in 12-13).
#
#   .ci/autobahn/run.sh            # both roles, compare with golden files
#   .ci/autobahn/run.sh --update   # both roles, rewrite the golden files
#
# Environment: AB_OUT (default /tmp) holds autobahn-report-{server,client}; AB_TIMEOUT
# (default 1800 s) bounds each role.
#
# The harness in this folder (a Python 3 port of
# wstest, installed from PyPI into /tmp/autobahn-venv at first use).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
update=0; [ "${1:-}" = "--update" ] && update=1
export AB_TIMEOUT="${AB_TIMEOUT:-1800}"
export AB_DEFLATE=1
out="${AB_OUT:-/tmp}"

cargo build --release -q -p wschannel --example echo_server --example autobahn_client || exit 1
# Install (or check) the harness once, before the two roles run at once.
bash "$HERE/setup.sh" >/dev/null || { echo "autobahn: setup.sh failed" >&2; exit 1; }
bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples"
status=0
start=$(date +%s)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

compare() { # role report_dir agent
  local golden="$HERE/expected-$1.txt" got="$2/results.txt"
  python3 - "$2/index.json" "$3" > "$got" <<'PY' || return 1
import json, re, sys
data = json.load(open(sys.argv[1]))[sys.argv[2]]
key = lambda c: [int(x) for x in re.findall(r"\d+", c)]
for cid in sorted(data, key=key):
    print(cid, data[cid]["behavior"], data[cid]["behaviorClose"])
PY
  if [ $update = 1 ]; then cp "$got" "$golden"; echo "autobahn: wrote $golden"; return 0; fi
  if diff -u "$golden" "$got"; then
    echo "autobahn $1: every case matches $golden"
  else
    echo "autobahn $1: results differ from $golden (report: $2/index.html)"; return 1
  fi
}

# Server role, in the background.
port=$(free_port)
"$bin/echo_server" "127.0.0.1:$port" > "$out/autobahn-echo-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
AB_AGENT=wschannel-server AB_REPORT_DIR="$out/autobahn-report-server" \
  bash "$HERE/test-server.sh" "ws://127.0.0.1:$port" > "$out/autobahn-server-role.log" 2>&1 &
server_role=$!

# Client role, meanwhile, on its own fuzzing-server port.
AB_PORT=$(free_port) AB_REPORT_DIR="$out/autobahn-report-client" \
  bash "$HERE/test-client.sh" wschannel-client "$bin/autobahn_client" > "$out/autobahn-client-role.log" 2>&1
client_rc=$?
wait $server_role
server_rc=$?
kill $server 2>/dev/null; wait $server 2>/dev/null

echo "---- server role"; tail -n 4 "$out/autobahn-server-role.log"
[ $server_rc -eq 0 ] || status=1
compare server "$out/autobahn-report-server" wschannel-server || status=1
echo "---- client role"; tail -n 4 "$out/autobahn-client-role.log"
[ $client_rc -eq 0 ] || status=1
compare client "$out/autobahn-report-client" wschannel-client || status=1
echo "autobahn: both roles in $(( $(date +%s) - start )) s"
exit $status
