#!/usr/bin/env bats
# bats file_tags=kvm
# The Python function runtime and the bundled apps, run on the host against
# vmrun's request loop (idle.elf as the guest).  The same runtime runs in
# the guest in t/linux.bats.

load helpers

setup() {
	TMP="$(mktemp -d)"
	SOCK="$TMP/v.sock"
}

# The runtimes a test started, by the pids it wrote to $TMP/*.pid.
teardown() {
	for f in "$TMP"/*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	rm -rf "$TMP"
}

# invoke APP < requests: responses on stdout.
invoke() {
	local app=$1
	shift
	(
		for _ in $(seq 1 500); do [ -S "${SOCK}_1024" ] && break; sleep 0.01; done
		SNAPVM_APP_DIR="$ROOT/appfs/$app" SNAPVM_CONNECT="unix:${SOCK}_1024" \
		    exec python3 "$ROOT/rootfs/runtime/snapvm_runtime.py"
	) 2> "$TMP/runtime.err" &
	echo $! > "$TMP/runtime.pid"
	vm --kernel "$GUESTS/idle.elf" --serve --vsock "$SOCK" "$@" 2> "$TMP/vm.err"
}

# same_json A B: the two JSON texts are equal as values.
same_json() {
	python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$1" "$2"
}

@test "every bundled app answers its request.json with its expected.json" {
	for dir in "$ROOT"/appfs/*/; do
		app=$(basename "$dir")
		out=$(tr -d '\n' < "$dir/request.json" | { cat; echo; } | invoke "$app")
		echo "$app: $out"
		status=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["status"])' "$out")
		[ "$status" = ok ]
		resp=$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["response"]))' "$out")
		same_json "$resp" "$(cat "$dir/expected.json")"
		[[ "$out" == *'"handler":'[0-9]* ]]
	done
}

@test "an exception in handle() is an error response and the runtime goes on" {
	printf '%s\n' '{"id":1,"payload":{"below":-1}}' '{"id":2,"payload":{"below":10}}' \
	    '{"id":3,"payload":"not a number"}' > "$TMP/in"
	run invoke primes < "$TMP/in"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == '{"id":1,"status":"error","error":{"type":"ValueError","message":"below must be between 0 and 50000000"}'* ]]
	[[ "${lines[1]}" == '{"id":2,"status":"ok","response":{"below":10,"count":4,"largest":7}'* ]]
	[[ "${lines[2]}" == '{"id":3,"status":"error","error":{"type":"ValueError"'* ]]
}

@test "a result that is not JSON-serialisable is an error, not a crash" {
	mkdir -p "$TMP/badapp"
	printf 'def handle(e):\n    return {1, 2}\n' > "$TMP/badapp/workload.py"
	(
		for _ in $(seq 1 500); do [ -S "${SOCK}_1024" ] && break; sleep 0.01; done
		SNAPVM_APP_DIR="$TMP/badapp" SNAPVM_CONNECT="unix:${SOCK}_1024" \
		    exec python3 "$ROOT/rootfs/runtime/snapvm_runtime.py"
	) 2>/dev/null &
	echo $! > "$TMP/runtime.pid"
	run vm --kernel "$GUESTS/idle.elf" --serve --vsock "$SOCK" \
	    < <(printf '{"id":1,"payload":null}\n{"id":2,"function":"badapp"}\n')
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *'{"id":1,"status":"error","error":{"type":"TypeError"'* ]]
	[[ "$output" == *'{"id":2,"status":"error","error":{"type":"TypeError"'* ]]
}

@test "appfs images: one ext2 per app, labelled, with the manifest" {
	for dir in "$ROOT"/appfs/*/; do
		app=$(basename "$dir")
		img="$ROOT/build/appfs/$app.ext2"
		[ -f "$img" ]
		[ "$(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Filesystem volume name: *//p')" = "$app" ]
		debugfs -R 'cat /snapvm-app.json' "$img" 2>/dev/null | grep -q "\"name\": \"$app\""
		debugfs -R 'cat /workload.py' "$img" 2>/dev/null | cmp - "$dir/workload.py"
	done
}

# A host run of an app (the tests above) leaves appfs/APP/__pycache__,
# which is not in the image: remaking the image for it changed the app
# drive's SHA-256, and snapshots made on the old one were refused.
@test "appfs images: a __pycache__ left in an app's directory does not remake its image" {
	make -s -C "$ROOT" build/appfs/hello.ext2 > /dev/null
	mkdir -p "$ROOT/appfs/hello/__pycache__"
	touch "$ROOT/appfs/hello/__pycache__"
	run make -q -C "$ROOT" build/appfs/hello.ext2
	[ "$status" -eq 0 ]
}
