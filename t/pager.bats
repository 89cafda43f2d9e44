#!/usr/bin/env bats
# snaprestore --page-server (snapvm-pager(5)) without a VM: the runner
# hands its guest memory's userfaultfd to t/fakepager.py, which checks
# the HELLO and answers as each test tells it.  Layers come from
# t/fakesnap.py; a restore that gets READY goes on to open the console,
# which is made to fail (status 73), before anything touches guest
# memory or KVM.  The guest's side is in the VM tests.

load helpers

SNAPRESTORE="$ROOT/bin/snaprestore"

setup() {
	TMP="$BATS_TEST_TMPDIR"
	fake_layers
	SOCK="$TMP/pager.sock"
}

teardown() {
	if [ -n "${PAGER_PID:-}" ]; then
		kill "$PAGER_PID" 2> /dev/null || true
		wait "$PAGER_PID" 2> /dev/null || true
	fi
}

# pager ARG...: the fake page server in the background, as fakepager.py
# describes ARGs, once its socket is there; its HELLO in $TMP/hello.json.
pager() {
	rm -f "$SOCK" "$TMP/hello.json"
	timeout 60 "$ROOT/t/fakepager.py" "$SOCK" "$TMP/hello.json" "$@" &
	PAGER_PID=$!
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && return 0
		sleep 0.05
	done
	return 1
}

# pager_end: the fake server's status once the runner has gone.
pager_end() {
	local rc=0
	wait "$PAGER_PID" || rc=$?
	PAGER_PID=
	return "$rc"
}

# refused STATUS TEXT PAGER-ARG...: a restore with the fake server
# answering as PAGER-ARGs say exits STATUS, saying TEXT.
refused() {
	local want=$1 text=$2
	shift 2
	pager "$@"
	run fake_restore --page-server "$SOCK"
	echo "$output"
	[ "$status" -eq "$want" ]
	[[ "$output" == *"$text"* ]]
	pager_end
}

id_of() {
	jq -r .id "$1/manifest.json"
}

@test "--page-server is refused with --record-workset or --add-workset, and by vmrun (64)" {
	run fake_restore --page-server "$SOCK" --record-workset "$TMP/bits"
	echo "$output"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--page-server: no --record-workset: a working set is recorded and added from the layers' own memory files"* ]]
	run "$SNAPRESTORE" --load-dir "$STACK" --page-server "$SOCK" \
	    --add-workset "$TMP/bits"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--page-server: no --add-workset"* ]]
	run "$ROOT/bin/vmrun" --load-dir "$STACK" --page-server "$SOCK"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--page-server is snaprestore's: vmrun boots guests"* ]]
	run "$SNAPRESTORE" --help
	[[ "$output" == *"[--page-server SOCKET]"* ]]
	run "$ROOT/bin/vmrun" --help
	[[ "$output" != *"--page-server"* ]]
}

@test "an empty socket, file or directory name is refused (64), naming the flag; none reaches Linux as an abstract socket" {
	local flag
	for flag in --page-server --vsock --api-sock --console --dump-dir \
	    --record-workset --appfs; do
		run fake_restore "$flag" ""
		echo "$flag: $output"
		[ "$status" -eq 64 ]
		[[ "$output" == *"$flag: an empty value"* ]]
	done
	run "$ROOT/bin/vmrun" --kernel "$TMP/k" --drive ""
	[ "$status" -eq 64 ]
	[[ "$output" == *"--drive: an empty value"* ]]
}

@test "the page server gets the memory's userfaultfd, its size and the layers' ids bottom first" {
	pager ready 0
	run fake_restore --page-server "$SOCK"
	at_console
	pager_end
	cat "$TMP/hello.json"
	[ "$(jq -r .uffd "$TMP/hello.json")" = "anon_inode:[userfaultfd]" ]
	[ "$(jq -r '.ids | join(",")' "$TMP/hello.json")" = \
	    "$(id_of "$TMP/base"),$(id_of "$TMP/diff")" ]
	[ "$(jq -r .bytes "$TMP/hello.json")" -eq $((16 << 20)) ]
	[ "$(jq -r .page_size "$TMP/hello.json")" -eq 4096 ]
}

@test "with a page server no memory file or working set is opened; the state and pages are checked as ever" {
	# A working set on the diff: pages 0 to 2.
	{ printf '\007'; head -c 511 /dev/zero; } > "$TMP/bits"
	run "$SNAPRESTORE" --load-dir "$STACK" --add-workset "$TMP/bits"
	[ "$status" -eq 0 ]
	pager ready 3
	run opens "$TMP/base" "$TMP/diff" -- "$SNAPRESTORE" --console \
	    "$NOCONSOLE" --load-dir "$STACK" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img" --page-server "$SOCK"
	echo "$output"
	pager_end
	for f in diff/state diff/pages base/state; do
		grep -qx "$TMP/$f 1" <<< "$output"
	done
	[ "$(grep -cE '/(memory|workset) ' <<< "$output")" -eq 0 ]
	# A corrupted state is refused before the server is asked.
	printf 'X' | dd of="$TMP/diff/state" bs=1 seek=100 conv=notrunc 2> /dev/null
	pager ready 0
	run fake_restore --page-server "$SOCK"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/diff/state: SHA-256"* ]]
	[ ! -e "$TMP/hello.json" ]
}

@test "the server's ERROR, a hangup, a packet that is no reply or no server end the restore" {
	refused 65 "page server: s3://b/l/memory: chunk 3: not the index's digest" \
	    error 65 "s3://b/l/memory: chunk 3: not the index's digest"
	refused 69 "page server hung up" hangup
	refused 76 "page server: not a valid reply: a reply is 288 bytes, the packet 8" \
	    garbage
	refused 76 "page server: DONE before READY" done
	rm -f "$SOCK"
	run fake_restore --page-server "$SOCK"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"page server $SOCK: connect: No such file or directory"* ]]
}
