#!/usr/bin/env bats
# ctrl's HTTP gateway and listen addresses.  No VM starts here: the one
# function runs cold boots (snapshots: false) with a fake runner standing
# in for vmrun(1), so every test takes a second or less.

load helpers

CTRL="$ROOT/bin/ctrl"

setup_file() {
	# The runner's side of the request lines (vmrun(1), request mode):
	# echoes small payloads, reports the size of the line it got, sleeps
	# when asked to.
	cat > "$BATS_FILE_TMPDIR/runner" <<'PY'
#!/usr/bin/env python3
import json, sys, time
for line in sys.stdin.buffer:
    line = line.rstrip(b"\n")
    req = json.loads(line)
    p = req["payload"]
    if isinstance(p, dict) and "sleep" in p:
        time.sleep(p["sleep"])
    resp = {"line": len(line), "slash_escaped": b"\\/" in line}
    if len(line) < 4096:
        resp["echo"] = p
    print(json.dumps({"id": req["id"], "status": "ok", "response": resp}),
          flush=True)
PY
	chmod +x "$BATS_FILE_TMPDIR/runner"
}

setup() {
	TMP="$BATS_TEST_TMPDIR"
}

# config LISTEN...: ctrl.yaml listening on each LISTEN, functions.yaml with
# one function, echo, served by the fake runner.
config() {
	{
		cat <<EOF2
kernel: $ROOT/build/vmlinux
rootfs: $ROOT/build/rootfs.ext4
appfs_dir: $ROOT/build/appfs
snapshot_dir: $TMP/snap
vmrun: $BATS_FILE_TMPDIR/runner
snaprestore: $BATS_FILE_TMPDIR/runner
functions: functions.yaml
memory_budget: 512
EOF2
		[ $# -eq 0 ] || echo "listen:"
		for l in "$@"; do
			printf '  - "%s"\n' "$l"
		done
		echo "$NO_JAIL"
	} > "$TMP/ctrl.yaml"
	printf 'functions:\n  - name: echo\n    appfs: %s\n    snapshots: false\n' \
	    "$TMP/echo.ext2" > "$TMP/functions.yaml"
}

# ctrl in the background, as a service manager runs it: signals go to ctrl
# itself (timeout(1) would take them), a watchdog bounds its life.
ctrl_bg() {
	"$CTRL" --config "$TMP/ctrl.yaml" "$@" 3>&- &
	pid=$!
	( sleep 120; kill -KILL $pid 2> /dev/null ) > /dev/null 2>&1 3>&- &
	WATCHDOG=$!
	disown $WATCHDOG
}

teardown() {
	[ -z "${WATCHDOG:-}" ] || kill $WATCHDOG 2> /dev/null || true
	[ -z "${pid:-}" ] || kill -KILL $pid 2> /dev/null || true
	[ -z "${HOLDER:-}" ] || kill $HOLDER 2> /dev/null || true
	[ -z "${LISTENER:-}" ] || kill $LISTENER 2> /dev/null || true
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for URL [CURL OPTION...]: until ctrl answers on it.
wait_for() {
	local url=$1
	shift
	for _ in $(seq 1 50); do
		curl -sf "$@" "$url/healthz" > /dev/null && return 0
		sleep 0.1
	done
	return 1
}

# serve [YAML-LINE...]: ctrl on a free port of 127.0.0.1 with these lines
# added to its ctrl.yaml, its log in $TMP/log; $url is where it listens.
serve() {
	port=$(free_port)
	config "127.0.0.1:$port"
	[ $# -eq 0 ] || printf '%s\n' "$@" >> "$TMP/ctrl.yaml"
	ctrl_bg 2> "$TMP/log"
	url="http://127.0.0.1:$port"
	wait_for "$url"
}

stop_ctrl() {
	kill -TERM $pid
	wait $pid
}

# raw PORT REQUEST: the whole response to one raw HTTP request, the
# connection closed by us after the headers' Content-Length worth.
raw() {
	python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode().replace(b"\n", b"\r\n"))
s.settimeout(2)
data = b""
try:
    while chunk := s.recv(65536):
        data += chunk
except socket.timeout:
    pass
sys.stdout.write(data.decode())
PY
}

@test "--check: each bad listen address named with its line; exit 78" {
	for bad in localhost:8080 127.0.0.1 127.0.0.1:0 127.0.0.1:65536 \
	    127.0.0.1:http ::1:8080 '[::1]' '[::1:8080' ':8080' 127.1:8080 \
	    unix: "unix:/$(printf 'x%.0s' $(seq 1 110))"; do
		config 127.0.0.1:1 "$bad"
		run "$CTRL" --config "$TMP/ctrl.yaml" --check
		echo "$bad: $output"
		[ "$status" -eq 78 ]
		[[ "$output" == *"ctrl.yaml:11: listen: \"$bad\": "* ]]
	done
	config 127.0.0.1:1 '[::1]:65535' 0.0.0.0:8080 unix:ctrl.sock
	run "$CTRL" --config "$TMP/ctrl.yaml" --check
	[ "$status" -eq 0 ]
	# One address, not a list: its own line.
	config
	printf 'listen: localhost:80\n' >> "$TMP/ctrl.yaml"
	run "$CTRL" --config "$TMP/ctrl.yaml" --check
	[ "$status" -eq 78 ]
	[[ "$output" == *'ctrl.yaml:10: listen: "localhost:80": not a numeric IPv4 address'* ]]
}

@test "TCP: ctrl listens on exactly the address given, IPv4 and IPv6" {
	port=$(free_port)
	port6=$(free_port)
	config "127.0.0.1:$port" "[::1]:$port6"
	ctrl_bg
	wait_for "http://127.0.0.1:$port"
	ss -ltnH "sport = :$port" > "$TMP/ss"
	cat "$TMP/ss"
	[ "$(wc -l < "$TMP/ss")" -eq 1 ]
	grep -q " 127\.0\.0\.1:$port " "$TMP/ss"
	# Another loopback address is not served.
	run curl -s -m 2 "http://127.0.0.2:$port/healthz"
	[ "$status" -eq 7 ]
	[ "$(curl -sg "http://[::1]:$port6/healthz")" = ok ]
	ss -ltnH "sport = :$port6" > "$TMP/ss6"
	cat "$TMP/ss6"
	[ "$(wc -l < "$TMP/ss6")" -eq 1 ]
	grep -q " \[::1\]:$port6 " "$TMP/ss6"
	stop_ctrl
}

@test "TCP: an address in use fails the start, exit 69, and names it" {
	port=$(free_port)
	python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(60)' "$port" &
	HOLDER=$!
	for _ in $(seq 1 50); do
		[ -n "$(ss -ltnH "sport = :$port")" ] && break
		sleep 0.1
	done
	config "127.0.0.1:$port"
	run timeout 20 "$CTRL" --config "$TMP/ctrl.yaml"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"127.0.0.1:$port: Address already in use"* ]]
}

@test "HTTP: a 405 names the methods allowed; HEAD is answered as GET, without a body" {
	port=$(free_port)
	config "127.0.0.1:$port"
	ctrl_bg
	url="http://127.0.0.1:$port"
	wait_for "$url"
	curl -si -X POST "$url/healthz" | tr -d '\r' > "$TMP/h"
	cat "$TMP/h"
	grep -q '^HTTP/1.1 405 ' "$TMP/h"
	grep -q '^Allow: GET, HEAD$' "$TMP/h"
	grep -q '"type":"MethodNotAllowed"' "$TMP/h"
	for path in /metrics /v1/functions; do
		curl -si -X DELETE "$url$path" | tr -d '\r' | grep -q '^Allow: GET, HEAD$'
	done
	for method in "-X GET" -I "-X PUT"; do
		# shellcheck disable=SC2086
		curl -si $method "$url/v1/functions/echo/invoke" | tr -d '\r' > "$TMP/h"
		grep -q '^HTTP/1.1 405 ' "$TMP/h"
		grep -q '^Allow: POST$' "$TMP/h"
	done
	curl -si "$url/nowhere" > "$TMP/h"
	run grep -qi '^Allow:' "$TMP/h"
	[ "$status" -eq 1 ]
	# A refusal keeps the connection open for the next request.
	[ "$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' \
	    "$url/v1/functions/echo/invoke" "$url/healthz" | tr '\n' ' ')" = "1 0 " ]
	for path in /healthz /metrics /v1/functions; do
		curl -s "$url$path" > "$TMP/get"
		raw "$port" "HEAD $path HTTP/1.1
Host: x
Connection: close

" | tr -d '\r' > "$TMP/head"
		cat "$TMP/head"
		grep -q '^HTTP/1.1 200 ' "$TMP/head"
		grep -qx "Content-Length: $(wc -c < "$TMP/get")" "$TMP/head"
		# Nothing after the blank line that ends the headers.
		[ -z "$(sed '1,/^$/d' "$TMP/head")" ]
	done
	stop_ctrl
}

@test "HTTP: bodies too big for the runner's line get 413 PayloadTooLarge" {
	port=$(free_port)
	config "127.0.0.1:$port"
	ctrl_bg
	url="http://127.0.0.1:$port/v1/functions/echo/invoke"
	wait_for "http://127.0.0.1:$port"
	max=$(( (4 << 20) - 64 ))
	python3 - "$TMP" "$max" <<'PY'
import sys
tmp, n = sys.argv[1], int(sys.argv[2])
open(tmp + "/4m1", "w").write("x" * ((4 << 20) + 1))
open(tmp + "/max", "w").write('"' + "/" * (n - 2) + '"')
open(tmp + "/max1", "w").write('"' + "a" * (n - 1) + '"')
# 900 KB as sent, 5.4 MB as written again: \u0001 for each.
open(tmp + "/ctl", "w").write('"' + "\x01" * 900000 + '"')
PY
	code() {
		curl -s -o "$TMP/r" -w '%{http_code}' -X POST "$@" "$url"
	}
	# Refused from its Content-Length, before the body is read.
	[ "$(code --data-binary @"$TMP/4m1")" = 413 ]
	grep -qx '{"type":"PayloadTooLarge","message":"the body is larger than 4 MiB - 64 bytes"}' "$TMP/r"
	# No Content-Length: refused once read.
	[ "$(code -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/4m1")" = 413 ]
	grep -q '"type":"PayloadTooLarge"' "$TMP/r"
	[ "$(code --data-binary @"$TMP/max1")" = 413 ]
	[ "$(code --data-binary @"$TMP/ctl")" = 413 ]
	grep -qx '{"type":"PayloadTooLarge","message":"the body, written compactly, is larger than 4 MiB - 64 bytes"}' "$TMP/r"
	# The largest body: passed on with its slashes as they are, in a line
	# within the runner's 4 MiB.
	[ "$(code --data-binary @"$TMP/max")" = 200 ]
	cat "$TMP/r"
	python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))
assert r["line"] <= 4 << 20 and not r["slash_escaped"], r' "$TMP/r"
	# Not JSON, or JSON and more: 400.  JSON null, or nothing: null.
	[ "$(code --data 'x')" = 400 ]
	[ "$(code --data '{"a":1} x')" = 400 ]
	grep -qx '{"type":"BadRequest","message":"the body is not JSON"}' "$TMP/r"
	[ "$(code --data ' null ')" = 200 ]
	grep -q '"echo":null' "$TMP/r"
	[ "$(code --data '{"a": "\/"} ')" = 200 ]
	python3 -c 'import json, sys
assert json.load(open(sys.argv[1]))["echo"] == {"a": "/"}' "$TMP/r"
	curl -s "http://127.0.0.1:$port/metrics" > "$TMP/metrics"
	grep -qx 'snapvm_requests_total{function="echo",outcome="bad_request"} 6' "$TMP/metrics"
	# What runs, as --version says it.
	grep -qx "snapvm_build_info{version=\"$("$ROOT/scripts/version")\"} 1" "$TMP/metrics"
	stop_ctrl
}

@test "HTTP: /healthz answers 503 draining while ctrl drains" {
	port=$(free_port)
	config "127.0.0.1:$port"
	ctrl_bg -v 2> "$TMP/log"
	url="http://127.0.0.1:$port"
	wait_for "$url"
	[ "$(curl -s "$url/healthz")" = ok ]
	curl -s -X POST --data '{"sleep": 2}' "$url/v1/functions/echo/invoke" > "$TMP/r" &
	client=$!
	for _ in $(seq 1 50); do
		grep -q '"event":"vm_started"' "$TMP/log" && break
		sleep 0.1
	done
	kill -TERM $pid
	sleep 0.3
	[ "$(curl -s -o "$TMP/h" -w '%{http_code}' "$url/healthz")" = 503 ]
	[ "$(cat "$TMP/h")" = draining ]
	wait $client
	grep -q '"echo":{"sleep":2}' "$TMP/r"
	wait $pid
}

@test "unix: a file that is not a socket, or a socket in use, is refused and kept" {
	sock="$TMP/ctrl.sock"
	config "unix:$sock"
	echo precious > "$sock"
	run timeout 20 "$CTRL" --config "$TMP/ctrl.yaml"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"$sock: exists and is not a socket"* ]]
	[ "$(cat "$sock")" = precious ]
	rm "$sock"
	mkdir "$sock"
	run timeout 20 "$CTRL" --config "$TMP/ctrl.yaml"
	[ "$status" -eq 69 ]
	[[ "$output" == *"$sock: exists and is not a socket"* ]]
	rmdir "$sock"
	python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()
time.sleep(60)' "$sock" &
	HOLDER=$!
	for _ in $(seq 1 30); do [ -S "$sock" ] && break; sleep 0.1; done
	run timeout 20 "$CTRL" --config "$TMP/ctrl.yaml"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"$sock: in use: another process listens there"* ]]
	python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$sock"
}

@test "unix: a stale socket is replaced, the new one is 0660 whatever the umask, and removed at exit" {
	sock="$TMP/ctrl.sock"
	config "unix:$sock"
	# A socket nobody listens on, as a killed ctrl leaves it.
	python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$sock"
	[ -S "$sock" ]
	for mask in 000 077; do
		umask $mask
		ctrl_bg
		umask 022
		wait_for http://x --unix-socket "$sock"
		[ "$(stat -c %a "$sock")" = 660 ]
		stop_ctrl
		[ ! -e "$sock" ]
		kill $WATCHDOG
	done
}

@test "unix: a socket replaced while ctrl runs is left alone at exit" {
	sock="$TMP/ctrl.sock"
	config "unix:$sock"
	ctrl_bg
	wait_for http://x --unix-socket "$sock"
	mv "$sock" "$TMP/old.sock"
	echo other > "$sock"
	stop_ctrl
	[ "$(cat "$sock")" = other ]
	# Its own socket, moved away, is not followed either.
	[ -S "$TMP/old.sock" ]
}

# systemd's side of Type=notify: a datagram socket at $NOTIFY_SOCKET,
# each message a line of $TMP/notified.
notify_listener() {
	python3 - "$TMP/notify.sock" "$TMP/notified" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
	LISTENER=$!
	for _ in $(seq 50); do [ -S "$TMP/notify.sock" ] && return 0; sleep 0.1; done
	return 1
}

@test "systemd Type=notify: READY=1 once it listens, WATCHDOG=1 at half WatchdogSec, STOPPING=1 when it drains" {
	port=$(free_port)
	config "127.0.0.1:$port"
	notify_listener
	NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=400000 ctrl_bg 2> "$TMP/log"
	for _ in $(seq 100); do		# a backstop, not a measurement
		grep -q READY=1 "$TMP/notified" 2> /dev/null && break
		sleep 0.1
	done
	cat "$TMP/notified"
	grep -q '^READY=1 STATUS=serving 1 functions' "$TMP/notified"
	# Listening by then.
	curl -sf "http://127.0.0.1:$port/healthz"
	for _ in $(seq 100); do
		[ "$(grep -c '^WATCHDOG=1' "$TMP/notified")" -ge 3 ] && break
		sleep 0.1
	done
	[ "$(grep -c '^WATCHDOG=1' "$TMP/notified")" -ge 3 ]
	! grep -q STOPPING "$TMP/notified"
	stop_ctrl
	grep -q '^STOPPING=1 STATUS=draining' "$TMP/notified"
	kill $LISTENER
	# Without $NOTIFY_SOCKET nothing is sent, and nothing fails.
	ctrl_bg 2> "$TMP/log"
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
	curl -sf "http://127.0.0.1:$port/healthz"
	stop_ctrl
}

@test "metrics as Prometheus expects: HELP and TYPE before every family, every sample in one, process_*, a charset" {
	port=$(free_port)
	config "127.0.0.1:$port"
	ctrl_bg 2> "$TMP/log"
	wait_for "http://127.0.0.1:$port"
	curl -s -D "$TMP/head" "http://127.0.0.1:$port/metrics" > "$TMP/metrics"
	grep -qix 'content-type: text/plain; version=0.0.4; charset=utf-8.' "$TMP/head"
	python3 - "$TMP/metrics" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
families, help_of = {}, {}
for i, l in enumerate(lines):
    if l.startswith("# TYPE "):
        _, _, name, kind = l.split(" ")
        assert lines[i - 1].startswith("# HELP %s " % name), (i, l)
        help_of[name] = lines[i - 1].split(" ", 3)[3]
        assert "See ctrl(1)" not in help_of[name], name
        families[name] = kind
for l in lines:
    if l.startswith("#"):
        continue
    name = re.match(r"[a-z_]+", l).group(0)
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    assert name in families or families.get(base) == "histogram", l
for f in ("process_cpu_seconds_total", "process_resident_memory_bytes",
          "process_open_fds", "process_max_fds", "process_start_time_seconds"):
    assert f in families, f
print(len(families), "families")
PY
	stop_ctrl
}

@test "HTTP: X-Request-Id comes back; an answer says whether its VM started cold, and its time (Server-Timing)" {
	port=$(free_port)
	config "127.0.0.1:$port"
	ctrl_bg 2> "$TMP/log"
	url="http://127.0.0.1:$port"
	wait_for "$url"
	curl -s -D "$TMP/h1" -o /dev/null -H 'X-Request-Id: req-1.a_B' -X POST --data '{}' "$url/v1/functions/echo/invoke"
	curl -s -D "$TMP/h2" -o /dev/null -X POST --data '{}' "$url/v1/functions/echo/invoke"
	cat "$TMP/h1" "$TMP/h2"
	grep -qx 'X-Request-Id: req-1.a_B.' "$TMP/h1"
	grep -qx 'X-Snapvm-Start: cold.' "$TMP/h1"
	grep -qx 'X-Snapvm-Start: warm.' "$TMP/h2"
	grep -qE '^Server-Timing: total;dur=[0-9]+.$' "$TMP/h1"
	! grep -qi '^X-Request-Id' "$TMP/h2"
	# On any answer, an error's too; one with a space or too long is not
	# echoed.
	curl -s -D "$TMP/h3" -o /dev/null -H 'X-Request-Id: r404' "$url/nowhere"
	grep -qx 'X-Request-Id: r404.' "$TMP/h3"
	curl -s -D "$TMP/h4" -o /dev/null -H 'X-Request-Id: two words' "$url/healthz"
	curl -s -D "$TMP/h5" -o /dev/null -H "X-Request-Id: $(printf 'x%.0s' $(seq 129))" "$url/healthz"
	! grep -qi '^X-Request-Id' "$TMP/h4" "$TMP/h5"
	# The id is in the log lines of its request too.
	curl -s -o /dev/null -H 'X-Request-Id: bad-body-7' -X POST --data 'x' "$url/v1/functions/echo/invoke"
	stop_ctrl
	grep '"event":"request_failed"' "$TMP/log" | grep -q '"request_id":"bad-body-7"'
}

@test "log lines carry their level; the service's life is logged without -v; on the journal, each line starts with its priority" {
	port=$(free_port)
	config "127.0.0.1:$port"
	ctrl_bg 2> "$TMP/log"
	wait_for "http://127.0.0.1:$port"
	curl -s -o /dev/null -X POST --data 'x' "http://127.0.0.1:$port/v1/functions/echo/invoke"
	stop_ctrl
	cat "$TMP/log"
	grep -q '^{"ts":[0-9.]*,"event":"listening",.*,"level":"notice"}$' "$TMP/log"
	grep -q '^{"ts":[0-9.]*,"event":"request_failed",.*,"level":"warning"}$' "$TMP/log"
	grep -q '"event":"stopped",.*"level":"notice"}$' "$TMP/log"
	# Every line has a level; info events wait for -v.
	[ "$(grep -vc '"level":"\(err\|warning\|notice\)"}$' "$TMP/log")" -eq 0 ]
	# stderr is the journal when JOURNAL_STREAM names it (systemd sets it).
	: > "$TMP/journal"
	JOURNAL_STREAM=$(stat -c %d:%i "$TMP/journal") ctrl_bg -v 2>> "$TMP/journal"
	wait_for "http://127.0.0.1:$port"
	curl -s -o /dev/null -X POST --data '{}' "http://127.0.0.1:$port/v1/functions/echo/invoke"
	stop_ctrl
	cat "$TMP/journal"
	grep -q '^<5>{"ts":[0-9.]*,"event":"listening",' "$TMP/journal"
	grep -q '^<6>{"ts":[0-9.]*,"event":"vm_started",.*"level":"info"}$' "$TMP/journal"
	[ "$(grep -vc '^<[3-6]>{' "$TMP/journal")" -eq 0 ]
}

@test "HTTP: Prefer: respond-async gets 202 and a Location, where the answer is fetched (202 until it is there) until async_keep ends" {
	serve "async_keep: 3"
	code=$(curl -s -D "$TMP/h1" -o "$TMP/b1" -w '%{http_code}' \
	    -H 'Prefer: wait=5, respond-async' -H 'X-Request-Id: job-1' \
	    -X POST --data '{"sleep":1,"v":7}' "$url/v1/functions/echo/invoke")
	cat "$TMP/h1" "$TMP/b1"
	[ "$code" = 202 ]
	grep -qx 'Preference-Applied: respond-async.' "$TMP/h1"
	loc=$(sed -n 's/^Location: \(\/v1\/invocations\/[0-9a-f]\{32\}\)\r$/\1/p' "$TMP/h1")
	[ -n "$loc" ]
	python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["status"]=="pending" and b["function"]=="echo" and sys.argv[2].endswith(b["id"]) and b["location"]==sys.argv[2], b' "$TMP/b1" "$loc"
	# The function sleeps a second: its answer is not there yet.
	code=$(curl -s -D "$TMP/h2" -o "$TMP/b2" -w '%{http_code}' "$url$loc")
	cat "$TMP/h2" "$TMP/b2"
	[ "$code" = 202 ]
	grep -qx 'Retry-After: 1.' "$TMP/h2"
	grep -q '"status":"pending"' "$TMP/b2"
	# The X-Request-Id of the submission comes with its answer.
	grep -qx 'X-Request-Id: job-1.' "$TMP/h2"
	for _ in $(seq 1 100); do
		code=$(curl -s -D "$TMP/h3" -o "$TMP/b3" -w '%{http_code}' "$url$loc")
		[ "$code" = 202 ] || break
		sleep 0.1
	done
	cat "$TMP/h3" "$TMP/b3"
	[ "$code" = 200 ]
	python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["echo"]=={"sleep":1,"v":7}, b' "$TMP/b3"
	grep -qx 'X-Snapvm-Start: cold.' "$TMP/h3"
	grep -qE '^Server-Timing: total;dur=[0-9]+.$' "$TMP/h3"
	# Fetched again: the same answer, until async_keep ends.
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$url$loc")" = 200 ]
	curl -s "$url/metrics" > "$TMP/metrics"
	grep -qx 'snapvm_async_invocations{state="done"} 1' "$TMP/metrics"
	grep -qx 'snapvm_async_invocations{state="pending"} 0' "$TMP/metrics"
	# Errors a call would get at once come at once, not as a 202.
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Prefer: respond-async' -X POST --data '{}' "$url/v1/functions/nope/invoke")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Prefer: respond-async' -X POST --data 'x' "$url/v1/functions/echo/invoke")" = 400 ]
	# Other preferences, or none, leave the call synchronous.
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Prefer: respond-async-not, return=minimal' -X POST --data '{}' "$url/v1/functions/echo/invoke")" = 200 ]
	# Unknown ids, and only GET on a result.
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/invocations/00000000000000000000000000000000")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/invocations/")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url$loc")" = 405 ]
	# async_keep (3 s) after the answer came, it is gone.
	sleep 3.5
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$url$loc")" = 404 ]
	curl -s "$url/metrics" | grep -qx 'snapvm_async_invocations{state="done"} 0'
	stop_ctrl
}

@test "HTTP: with async_keep: 0, Prefer: respond-async is ignored and the call answered as it runs" {
	serve "async_keep: 0"
	code=$(curl -s -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' -H 'Prefer: respond-async' -X POST --data '{"v":1}' "$url/v1/functions/echo/invoke")
	[ "$code" = 200 ]
	! grep -qi '^Preference-Applied' "$TMP/h"
	grep -q '"echo":{"v":1}' "$TMP/b"
	stop_ctrl
}

@test "HTTP: asynchronous invocations keep at most half of http_buffer; past it, 503 with Retry-After" {
	serve "http_buffer: 1"
	python3 -c 'import json; print(json.dumps({"sleep": 2, "pad": "x" * 300000}))' > "$TMP/big"
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Prefer: respond-async' -X POST --data-binary @"$TMP/big" "$url/v1/functions/echo/invoke")" = 202 ]
	code=$(curl -s -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' -H 'Prefer: respond-async' -X POST --data-binary @"$TMP/big" "$url/v1/functions/echo/invoke")
	cat "$TMP/h" "$TMP/b"
	[ "$code" = 503 ]
	grep -qx 'Retry-After: 1.' "$TMP/h"
	grep -q '"type":"OverCapacity"' "$TMP/b"
	# A synchronous call of the same size still fits the other half.
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$TMP/big" "$url/v1/functions/echo/invoke")" = 200 ]
	stop_ctrl
}

@test "socket activation: sockets systemd passes serve their listen addresses, ctrl binds the rest; a passed socket of no listen address fails the start" {
	port=$(free_port)
	port2=$(free_port)
	config "127.0.0.1:$port" "unix:$TMP/s.sock" "127.0.0.1:$port2"
	# systemd-socket-activate passes them as a unit's ListenStream= would
	# (LISTEN_FDS, LISTEN_PID), and execs ctrl at the first connection.
	systemd-socket-activate -l "127.0.0.1:$port" -l "$TMP/s.sock" \
	    "$CTRL" --config "$TMP/ctrl.yaml" 2> "$TMP/log" 3>&- &
	pid=$!
	( sleep 120; kill -KILL $pid 2> /dev/null ) > /dev/null 2>&1 3>&- &
	WATCHDOG=$!
	disown $WATCHDOG
	for _ in $(seq 1 50); do grep -q 'as 4' "$TMP/log" && break; sleep 0.1; done
	[ "$(curl -s "http://127.0.0.1:$port/healthz")" = ok ]
	[ "$(curl -s --unix-socket "$TMP/s.sock" http://x/healthz)" = ok ]
	[ "$(curl -s "http://127.0.0.1:$port2/healthz")" = ok ]
	[ "$(curl -s -X POST --data '{"v":1}' "http://127.0.0.1:$port/v1/functions/echo/invoke" | python3 -c 'import json,sys; print(json.load(sys.stdin)["echo"])')" = "{'v': 1}" ]
	stop_ctrl
	cat "$TMP/log"
	grep "\"event\":\"listening\",\"address\":\"127.0.0.1:$port\",\"from\":\"systemd\"" "$TMP/log"
	grep "\"event\":\"listening\",\"address\":\"unix:$TMP/s.sock\",\"from\":\"systemd\"" "$TMP/log"
	grep "\"event\":\"listening\",\"address\":\"127.0.0.1:$port2\",\"from\":\"ctrl\"" "$TMP/log"
	# The passed Unix socket is systemd's: left in place at exit.
	[ -S "$TMP/s.sock" ]
	# A socket for an address ctrl.yaml does not list: refused, named.
	config "127.0.0.1:$port"
	systemd-socket-activate -l "127.0.0.1:$port2" -l "127.0.0.1:$port" \
	    "$CTRL" --config "$TMP/ctrl.yaml" 2> "$TMP/log2" 3>&- &
	pid=$!
	for _ in $(seq 1 50); do grep -q 'as 4' "$TMP/log2" && break; sleep 0.1; done
	curl -s -m 10 "http://127.0.0.1:$port2/healthz" || true
	rc=0
	wait $pid || rc=$?
	cat "$TMP/log2"
	[ "$rc" -eq 69 ]
	grep -q 'ctrl: the socket systemd passed as descriptor 3 listens on no address of listen: in ctrl.yaml' "$TMP/log2"
}
