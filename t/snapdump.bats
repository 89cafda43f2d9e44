#!/usr/bin/env bats
# bats file_tags=kvm
# snapdump without a VM: usage errors, missing or dead sockets, and a fake
# VM (a few lines of Python speaking snapvm-api(5)) for the sequence of
# requests and the exit status of each failure.

load helpers

SNAPDUMP="$ROOT/bin/snapdump"

setup() {
	TMP="$(mktemp -d)"
	SOCK="$TMP/api.sock"
	FAKE_PID=
}

teardown() {
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null || true
		wait "$FAKE_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}

# A fake VM at $SOCK: logs each request to $TMP/requests with sorted keys
# and answers ok, except that $1, "OP:CODE:MESSAGE", makes OP fail with
# CODE and MESSAGE, or hang up when CODE is "hangup".
fake_vm() {
	python3 - "$SOCK" "$TMP/requests" "${1:-}" <<'PY' 3>&- &
import json, socket, sys
path, log, fail = sys.argv[1], sys.argv[2], sys.argv[3]
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(1)
while True:
    conn, _ = srv.accept()
    f = conn.makefile('rwb')
    for line in f:
        req = json.loads(line)
        with open(log, 'a') as out:
            out.write(json.dumps(req, sort_keys=True) + '\n')
        reply = {'ok': True}
        if fail.startswith(req['op'] + ':'):
            _, code, msg = fail.split(':', 2)
            if code == 'hangup':
                break
            reply = {'ok': False, 'code': code, 'error': msg}
        f.write((json.dumps(reply) + '\n').encode())
        f.flush()
    f.close()
    conn.close()
PY
	FAKE_PID=$!
	for _ in $(seq 50); do
		[ -S "$SOCK" ] && return 0
		sleep 0.1
	done
	return 1
}

ops() {
	python3 -c 'import json, sys
print(" ".join(json.loads(l)["op"] for l in open(sys.argv[1])))' \
	    "$TMP/requests"
}

@test "snapdump: no flags is a usage error" {
	run "$SNAPDUMP"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--sock PATH is required"* ]]
	[[ "$output" == *"usage: snapdump"* ]]
}

@test "snapdump: -h prints the usage and exits 0" {
	run "$SNAPDUMP" -h
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: snapdump --sock PATH --dir DIR"* ]]
}

@test "snapdump: --dir is required, and --stop excludes --keep-paused" {
	run "$SNAPDUMP" --sock "$SOCK"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--dir DIR is required"* ]]
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/s" --stop --keep-paused
	[ "$status" -eq 64 ]
	[[ "$output" == *"contradict"* ]]
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/s" extra
	[ "$status" -eq 64 ]
	[[ "$output" == *'unexpected argument "extra"'* ]]
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/s" --bogus
	[ "$status" -eq 64 ]
}

@test "snapdump: a missing socket exits 66 and names it" {
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/s"
	[ "$status" -eq 66 ]
	[ "$output" = "snapdump: $SOCK: no such socket; is the VM running with --api-sock?" ]
}

@test "snapdump: a file that is not a socket exits 69" {
	touch "$SOCK"
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/s"
	[ "$status" -eq 69 ]
	[ "$output" = "snapdump: $SOCK: not a socket" ]
}

@test "snapdump: a stale socket with no VM behind it exits 69" {
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/s"
	[ "$status" -eq 69 ]
	[[ "$output" == *"no VM listens there"* ]]
}

@test "snapdump: pause, full snapshot to an absolute dir, resume; one line" {
	fake_vm
	cd "$TMP"
	run "$SNAPDUMP" --sock "$SOCK" --dir snap
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^"snapdump: wrote full snapshot to snap in "[0-9]+" ms"$ ]]
	[ "$(ops)" = "pause snapshot resume" ]
	grep -qxF "{\"dir\": \"$TMP/snap\", \"kind\": \"full\", \"op\": \"snapshot\", \"version\": 1}" \
	    "$TMP/requests"
	[ "$(grep -c '"version": 1' "$TMP/requests")" -eq 3 ]
}

@test "snapdump: --diff --stop asks for a diff, then stops the VM" {
	fake_vm
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/d" --diff --stop
	[ "$status" -eq 0 ]
	[[ "$output" == "snapdump: wrote diff snapshot to $TMP/d in "* ]]
	[ "$(ops)" = "pause snapshot stop" ]
	grep -q '"kind": "diff"' "$TMP/requests"
}

@test "snapdump: --keep-paused leaves the VM paused; -q prints nothing" {
	fake_vm
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/d" --keep-paused -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(ops)" = "pause snapshot" ]
}

@test "snapdump: a failed snapshot exits 74 with the VM's message; the VM resumes" {
	fake_vm "snapshot:failed:$TMP/d: No space left on device"
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/d" --stop
	[ "$status" -eq 74 ]
	[ "$output" = "snapdump: $SOCK: snapshot: $TMP/d: No space left on device" ]
	[ "$(ops)" = "pause snapshot resume" ]
}

@test "snapdump: a VM that cannot pause exits 70 and is asked nothing more" {
	fake_vm "pause:failed:the guest is shutting down"
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/d"
	[ "$status" -eq 70 ]
	[[ "$output" == *"pause: the guest is shutting down" ]]
	[ "$(ops)" = "pause" ]
}

@test "snapdump: a refused user exits 77" {
	fake_vm "pause:denied:uid 1000 may not use this socket"
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/d"
	[ "$status" -eq 77 ]
	[[ "$output" == *"uid 1000 may not use this socket" ]]
}

@test "snapdump: a request the VM does not understand exits 76" {
	fake_vm "pause:bad-request:field \"version\": version 1 is not supported"
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/d"
	[ "$status" -eq 76 ]
}

@test "snapdump: a VM that hangs up mid-snapshot exits 69 and is not resumed" {
	fake_vm "snapshot:hangup:"
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/d"
	[ "$status" -eq 69 ]
	[ "$output" = "snapdump: $SOCK: the VM closed the connection" ]
	[ "$(ops)" = "pause snapshot" ]
}

# The real thing: a runner with --api-sock, the freestanding idle guest.
runner_bg() {
	local sock="$1"
	shift
	timeout --kill-after=5 60 "$@" --api-sock "$sock" \
	    > "$TMP/out.$BASHPID" 2> "$TMP/err" 3>&- &
	RUNNER_PID=$!
	for _ in $(seq 100); do
		[ -S "$sock" ] && return 0
		sleep 0.05
	done
	cat "$TMP/err" >&2
	return 1
}

@test "snapdump against vmrun: full snapshot, resume, then a diff of the restored VM, stop" {
	runner_bg "$SOCK" "$ROOT/bin/vmrun" --kernel "$ROOT/build/testguest/idle.elf" --mem 32
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/base"
	[ "$status" -eq 0 ]
	[[ "$output" == "snapdump: wrote full snapshot to $TMP/base in "*" ms" ]]
	[ -f "$TMP/base/manifest.json" ]
	grep -q '"kind": *"full"' "$TMP/base/manifest.json"
	# A booted VM has no layer below it: a diff is refused, and it runs on.
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/nodiff" --diff
	[ "$status" -eq 74 ]
	[[ "$output" == *"needs a VM restored"* ]]
	[ ! -e "$TMP/nodiff" ]
	run "$SNAPDUMP" -q --sock "$SOCK" --dir "$TMP/base2" --stop
	[ "$status" -eq 0 ]
	wait "$RUNNER_PID"
	[ ! -e "$SOCK" ]

	runner_bg "$SOCK" "$ROOT/bin/snaprestore" --load-dir "$TMP/base"
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/diff" --diff --stop
	[ "$status" -eq 0 ]
	wait "$RUNNER_PID"
	grep -q '"kind": *"diff"' "$TMP/diff/manifest.json"
	# The diff holds a few pages, not the guest's 32 MiB.
	[ "$(du -k "$TMP/diff" | cut -f1)" -lt 4096 ]

	runner_bg "$SOCK" "$ROOT/bin/snaprestore" --load-dir "$TMP/base,$TMP/diff"
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/again" --stop
	[ "$status" -eq 0 ]
	wait "$RUNNER_PID"
}

@test "a second runner on a socket in use refuses to start; the first runs on" {
	runner_bg "$SOCK" "$ROOT/bin/vmrun" --kernel "$ROOT/build/testguest/idle.elf" --mem 32
	first=$RUNNER_PID
	run timeout 20 "$ROOT/bin/vmrun" --kernel "$ROOT/build/testguest/idle.elf" --mem 32 --api-sock "$SOCK"
	[ "$status" -eq 73 ]
	[[ "$output" == *"$SOCK"* ]]
	run "$SNAPDUMP" --sock "$SOCK" --dir "$TMP/s" --stop
	[ "$status" -eq 0 ]
	wait "$first"
}
