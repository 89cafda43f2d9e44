#!/usr/bin/env bats
# bats file_tags=kvm
# Lazy restores of the run's real snapshots (build/snap) through
# snappager(1): guest memory comes from the store (the S3 test server,
# scripts/s3-test-server) as the guest touches it, the working set first.

load helpers

SNAPRESTORE="$ROOT/bin/snaprestore"
S3SNAP="$ROOT/bin/s3snap"
PAGER="$ROOT/bin/snappager"

setup_file() {
	export SNAP="$ROOT/build/snap"
	export S3_TEST_DIR="${S3_TEST_DIR:-$ROOT/build/s3-test-lazy}"
	"$ROOT/scripts/s3-test-server" start >&3
	[ -f "$SNAP/diff/hello/manifest.json" ] || "$ROOT/scripts/mksnap" "$SNAP" 2> /dev/null
}

teardown_file() {
	"$ROOT/scripts/s3-test-server" stop
}

setup() {
	eval "$("$ROOT/scripts/s3-test-server" env)"
	export S3SNAP_RETRIES=2		# a dead store fails in seconds
	TMP="$(mktemp -d)"
	STORE="s3://snapvm-test/lazy-$$-$BATS_TEST_NUMBER"
	PIDS=
}

teardown() {
	local pid
	for pid in $PIDS; do
		kill -9 "$pid" 2> /dev/null || true
	done
	rm -rf "$TMP"
}

# put LAYER...: the run's layers (python3, diff/hello) into this test's
# prefix of the store.
put() {
	local l
	for l in "$@"; do
		"$S3SNAP" put "$SNAP/$l" "$STORE/$l"
	done
}

# pager LAYER...: snappager in the background for the given layers of
# the store (python3, diff/hello), fetched into $TMP/NAME (NAME the
# last part); through the store at PAGER_ENDPOINT if set.  LOAD is its
# load-dir line's value once it listens; 1 if it stops first.
pager() {
	local l specs=()
	for l in "$@"; do
		specs+=("$STORE/$l=$TMP/${l##*/}")
	done
	env ${PAGER_ENDPOINT:+AWS_ENDPOINT_URL=$PAGER_ENDPOINT} "$PAGER" \
	    --socket "$TMP/pager.sock" "${specs[@]}" \
	    > "$TMP/pager.out" 2> "$TMP/pager.err" &
	PAGER_PID=$!
	PIDS="$PIDS $PAGER_PID"
	for _ in $(seq 600); do
		grep -q '^load-dir ' "$TMP/pager.out" && break
		kill -0 "$PAGER_PID" 2> /dev/null || break
		sleep 0.1
	done
	LOAD=$(sed -n 's/^load-dir //p' "$TMP/pager.out")
	[ -n "$LOAD" ]
}

# restore LOAD-DIR [ARGS...]: hello's request.json through a restore of
# the given layers; its answer in $TMP/out, messages in $TMP/err.
restore() {
	local load=$1
	shift
	RC=0
	tr -d '\n' < "$ROOT/appfs/hello/request.json" | { cat; echo; } |
	    timeout --kill-after=10 600 "$SNAPRESTORE" --load-dir "$load" \
	    --rootfs "$ROOT/build/rootfs.ext4" \
	    --appfs "$ROOT/build/appfs/hello.ext2" "$@" \
	    > "$TMP/out" 2> "$TMP/err" || RC=$?
	cat "$TMP/out" "$TMP/err"
}

# pager_status: snappager's exit status, once it has exited.
pager_status() {
	local rc=0
	wait "$PAGER_PID" || rc=$?
	cat "$TMP/pager.err"
	echo "snappager exited $rc"
	return "$rc"
}

# Nothing of a failed transfer is left: no layer, no hidden directory.
nothing_left() {
	[ ! -e "$TMP/python3" ]
	[ ! -e "$TMP/hello" ]
	[ -z "$(find "$TMP" -maxdepth 1 -name '.*' ! -name . ! -name ..)" ]
}

# A byte of the object of file NAME of stored layer L changed in place.
corrupt() {
	local key size
	key="${STORE#s3://snapvm-test/}/$1/$(sha256sum < "$SNAP/$1/manifest.json" | cut -c1-64)/$2"
	curl -sf -o "$TMP/obj" --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
	    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
	    "$AWS_ENDPOINT_URL/snapvm-test/$key"
	size=$(stat -c %s "$TMP/obj")
	printf '\x5a' | dd of="$TMP/obj" bs=1 seek=$((size / 2)) conv=notrunc \
	    2> /dev/null
	curl -sf -X PUT -T "$TMP/obj" --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
	    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
	    "$AWS_ENDPOINT_URL/snapvm-test/$key" > /dev/null
}

@test "layers only in the store: a lazy restore answers as a local one; then both layers are complete here and verified" {
	put python3 diff/hello
	restore "$SNAP/python3,$SNAP/diff/hello"
	[ "$RC" -eq 0 ]
	cp "$TMP/out" "$TMP/local.out"
	pager python3 diff/hello
	[[ "$LOAD" != *"$SNAP"* ]]
	restore "$LOAD" --page-server "$TMP/pager.sock"
	[ "$RC" -eq 0 ]
	python3 -c 'import json, sys
a, b = (json.loads(open(f).readline()) for f in sys.argv[1:])
assert a["status"] == "ok" and a["response"] == b["response"], (a, b)' \
	    "$TMP/out" "$TMP/local.out"
	pager_status
	"$S3SNAP" verify "$TMP/python3"
	"$S3SNAP" verify "$TMP/hello"
	cmp "$SNAP/python3/memory" "$TMP/python3/memory"
	cmp "$SNAP/diff/hello/workset" "$TMP/hello/workset"
	[ -z "$(find "$TMP" -maxdepth 1 -name '.*' ! -name . ! -name ..)" ]
}

@test "a corrupt working set in the store: the restore fails naming the object, nothing is left" {
	put python3 diff/hello
	corrupt diff/hello workset
	# Fetched whole before snappager listens: it never does.
	! pager python3 diff/hello
	run pager_status
	[ "$status" -eq 65 ]
	[[ "$output" == *"/workset: "*"SHA-256"* ]]
	nothing_left
}

@test "the store stopped in the middle: the guest's first fault from it fails the restore (69), nothing is left" {
	put python3 diff/hello
	# A forwarder between snappager and the store, stopped once the
	# small files are here: every chunk of memory is then out of reach.
	python3 "$ROOT/t/tcpfwd.py" "$TMP/fwd.port" "${AWS_ENDPOINT_URL#http://}" &
	FWD=$!
	PIDS="$PIDS $FWD"
	for _ in $(seq 100); do [ -s "$TMP/fwd.port" ] && break; sleep 0.1; done
	# The base alone: no working set, so the runtime's first touches
	# fault pages in from the store.
	PAGER_ENDPOINT="http://127.0.0.1:$(cat "$TMP/fwd.port")" pager python3
	kill "$FWD"
	restore "$LOAD" --page-server "$TMP/pager.sock"
	[ "$RC" -eq 69 ]
	grep -q 'page server' "$TMP/err"
	run pager_status
	[ "$status" -eq 69 ]
	nothing_left
}
