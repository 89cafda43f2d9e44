#!/usr/bin/env bats
# bats file_tags=kvm
# vmrun's request mode, with t/fake_runtime.py playing the guest runtime
# on the host side of the vsock socket and idle.elf as the guest.

load helpers

setup() {
	TMP="$(mktemp -d)"
	SOCK="$TMP/v.sock"
}

# Processes a test left running, by the pids it wrote to $TMP/*.pid.
teardown() {
	for f in "$TMP"/*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	rm -rf "$TMP"
}

# runtime ARGS...: the fake runtime in the background, its pid kept for
# teardown.
runtime() {
	python3 "$ROOT/t/fake_runtime.py" "$SOCK" "$@" &
	echo $! > "$TMP/runtime.pid"
}

# serve ARGS...: runs vmrun in request mode on stdin with a fake runtime.
serve() {
	runtime
	vm --kernel "$GUESTS/idle.elf" --serve --vsock "$SOCK" "$@"
}

# A request line whose payload is a string of $1 bytes.
big_request() {
	python3 -c 'import sys; print("{\"id\":1,\"payload\":\"" + "x" * int(sys.argv[1]) + "\"}")' "$1"
}

@test "requests are answered in order, one JSON line each, exit 0 at EOF" {
	printf '%s\n' '{"id":1,"payload":{"n":1}}' '{"id":"two","function":"echo","payload":"x"}' \
	    '{"payload":[3]}' > "$TMP/in"
	run serve < "$TMP/in"
	echo "$output"
	[ "$status" -eq 0 ]
	out=$(printf '%s\n' "${lines[@]}" | grep '"status"')
	[ "$(echo "$out" | wc -l)" -eq 3 ]
	echo "$out" | sed -n 1p | grep -q '^{"id":1,"status":"ok","response":{"echo":{"n":1}},"timings_us":{"total":[0-9]*,"handler":3}}$'
	echo "$out" | sed -n 2p | grep -q '"id":"two","status":"ok"'
	echo "$out" | sed -n 3p | grep -q '"id":null,"status":"ok","response":{"echo":\[3\]}'
}

@test "stdout carries only response lines; the console stays on stderr" {
	printf '{"id":1,"payload":1}\n' | serve > "$TMP/out" 2> "$TMP/err"
	[ "$(wc -l < "$TMP/out")" -eq 1 ]
	grep -q '"status":"ok"' "$TMP/out"
	grep -q '^idle$' "$TMP/err"
}

@test "malformed lines get an error line naming the problem; the next is served" {
	printf '%s\n' 'not json' '[1,2]' '{"id":5,"bogus":1}' '{"id":6,"payload":1} x' \
	    '{"id":7,"function":"other"}' '{"id":8,"function":3}' '{"id":9,"payload":9}' > "$TMP/in"
	run serve < "$TMP/in"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"line 1: not JSON'* ]]
	[[ "$output" == *'"line 2: a request is a JSON object"'* ]]
	[[ "$output" == *'"line 3: unknown field \"bogus\""'* ]]
	[[ "$output" == *'"line 4: trailing bytes after the JSON value"'* ]]
	[[ "$output" == *'function \"other\" is not loaded here (this VM runs \"echo\")'* ]]
	[[ "$output" == *'"line 6: function: expected a string"'* ]]
	[[ "$output" == *'{"id":9,"status":"ok"'* ]]
}

@test "a request over --max-request is refused and the stream goes on" {
	big=$(printf 'x%.0s' $(seq 1 300))
	printf '{"id":1,"payload":"%s"}\n{"id":2,"payload":"small"}\n' "$big" > "$TMP/in"
	run serve --max-request 100 < "$TMP/in"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"line 1: request larger than 100 bytes"'* ]]
	[[ "$output" == *'{"id":2,"status":"ok","response":{"echo":"small"}'* ]]
}

@test "an exception in the function is an error response, not a failure" {
	printf '%s\n' '{"id":1,"payload":{"raise":"boom"}}' '{"id":2,"payload":2}' > "$TMP/in"
	run serve < "$TMP/in"
	[ "$status" -eq 0 ]
	[[ "$output" == *'{"id":1,"status":"error","error":{"type":"ValueError","message":"boom"},"timings_us":{"total":'*',"handler":7}}'* ]]
	[[ "$output" == *'{"id":2,"status":"ok"'* ]]
}

@test "a runtime that sends garbage gets the request failed, not vmrun" {
	printf '%s\n' '{"id":1,"payload":{"garbage":true}}' '{"id":2,"payload":2}' > "$TMP/in"
	run serve < "$TMP/in"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *'{"id":1,"status":"error","error":{"type":"RuntimeError","message":"the runtime sent a malformed frame"}}'* ]]
	[[ "$output" == *'{"id":2,"status":"ok"'* ]]
}

@test "a runtime that hangs up fails the request and stops the VM (status 70)" {
	printf '%s\n' '{"id":1,"payload":{"close":true}}' '{"id":2,"payload":2}' > "$TMP/in"
	run serve < "$TMP/in"
	echo "$output"
	[ "$status" -eq 70 ]
	[[ "$output" == *'{"id":1,"status":"error","error":{"type":"RuntimeError"'* ]]
	[[ "$output" != *'"id":2'* ]]
}

@test "SIGTERM in request mode stops the guest: exit 143, sockets removed" {
	runtime
	mkfifo "$TMP/in"
	"$VMRUN" --kernel "$GUESTS/idle.elf" --serve --vsock "$SOCK" \
	    < "$TMP/in" 2>/dev/null &
	pid=$!
	exec {hold}> "$TMP/in"	# stdin open, no EOF, no writer process left over
	sleep 1
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	exec {hold}>&-
	[ "$rc" -eq 143 ]
	[ ! -e "$SOCK" ]
	[ ! -e "${SOCK}_1024" ]
}

@test "without --vsock, request mode uses a private socket directory" {
	mkdir "$TMP/tmpdir"
	# No runtime ever connects: vmrun waits until it is told to stop.
	TMPDIR="$TMP/tmpdir" run timeout -s TERM 2 "$VMRUN" \
	    --kernel "$GUESTS/idle.elf" --serve < /dev/null
	[ "$status" -eq 124 ]
	[ -z "$(ls -A "$TMP/tmpdir")" ]
}

# Issue 14, defect 8: the request is larger than the socket holds and the
# runtime never reads it; vmrun used to retry the write for ever, deaf to
# --timeout and to signals.
@test "a runtime that never reads its request: --timeout still stops it (75)" {
	big_request 1000000 > "$TMP/in"
	runtime --stall
	run vm --kernel "$GUESTS/idle.elf" --serve --vsock "$SOCK" \
	    --max-request 2000000 --timeout 2000 < "$TMP/in"
	echo "$output" | cut -c1-300
	[ "$status" -eq 75 ]
	[[ "$output" == *'{"id":1,"status":"error","error":{"type":"Timeout","message":"the function did not answer within 2000 ms; the VM was stopped"}'* ]]
}

@test "a runtime that never reads its request: SIGTERM still stops vmrun (143)" {
	big_request 1000000 > "$TMP/in"
	runtime --stall
	"$VMRUN" --kernel "$GUESTS/idle.elf" --serve --vsock "$SOCK" \
	    --max-request 2000000 < "$TMP/in" > "$TMP/out" 2> "$TMP/err" &
	pid=$!
	echo "$pid" > "$TMP/vmrun.pid"
	for _ in $(seq 1500); do	# until the request is on its way
		[ -e "$SOCK.stalled" ] && break
		sleep 0.02
	done
	[ -e "$SOCK.stalled" ]
	kill -TERM "$pid"
	rc=0
	timeout 30 tail --pid="$pid" -f /dev/null || rc=124
	[ "$rc" -eq 0 ] || kill -KILL "$pid"
	[ "$rc" -eq 0 ]
	wait "$pid" || rc=$?
	rm "$TMP/vmrun.pid"
	cat "$TMP/err"
	[ "$rc" -eq 143 ]
	grep -q '"id":1,"status":"error","error":{"type":"VMStopped"' "$TMP/out"
}
