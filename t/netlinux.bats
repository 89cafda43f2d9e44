#!/usr/bin/env bats
# bats file_tags=kvm
# The guest's IP configuration: --net-addr on a cold boot (snapvm.net= for
# init), in the runtime's continue message (the host's side, with the
# runtime on the host and idle.elf as the guest), and two VMs restored at
# once from one snapshot, each with its own tap, MAC and address on one
# bridge, fetching from the host with t/apps/fetch.  Everything lives in a
# network namespace each test makes for itself: the bridge 192.0.2.1/24,
# its taps and the VMs.

load helpers

KERNEL="$ROOT/build/vmlinux"
ROOTFS="$ROOT/build/rootfs.ext4"
TAPNET="$ROOT/bin/tapnet"
SNAPRESTORE="$ROOT/bin/snaprestore"
RUNTIME="$ROOT/rootfs/runtime/snapvm_runtime.py"

setup() {
	NS="snapvm-nl-$$-$BATS_TEST_NUMBER"
	TMP="$BATS_TEST_TMPDIR"
	export XDG_CACHE_HOME="$TMP/cache"
	ip netns add "$NS"
	in_ns sh -c 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
	in_ns "$TAPNET" bridge add br0 --addr 192.0.2.1/24
	# A port that stays up: without one the bridge loses its carrier when
	# the last VM exits, and the kernel then flushes its neighbours, which
	# the tests read after the VMs are gone.
	in_ns ip link add vb0 type veth peer name vb1
	in_ns ip link set vb0 master br0 up
	in_ns ip link set vb1 up
	for t in tap0 tap1 tap2; do
		in_ns "$TAPNET" tap add "$t" --bridge br0
	done
}

teardown() {
	[ ! -s "$TMP/server.pid" ] || kill "$(cat "$TMP/server.pid")" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
}

in_ns() {
	ip netns exec "$NS" "$@"
}

need_linux() {
	[ -f "$KERNEL" ] || { echo "$KERNEL missing: make kernel" >&2; return 1; }
	[ -f "$ROOTFS" ] || { echo "$ROOTFS missing: make rootfs" >&2; return 1; }
}

# A cold boot of Linux in the namespace, with room for an emulated kernel.
linux_ns() {
	in_ns timeout --kill-after=10 900 "$VMRUN" --kernel "$KERNEL" \
	    --rootfs "$ROOTFS" --mem 256 "$@"
}

restore_ns() {
	in_ns timeout --kill-after=10 300 "$SNAPRESTORE" --rootfs "$ROOTFS" "$@"
}

field() {	# field JSON-LINE KEY...: a member, as JSON
	python3 -c 'import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2:]:
    v = v[k]
print(json.dumps(v))' "$@"
}

@test "cold boot: --net-addr is eth0's address and route; the guest pings the bridge" {
	need_linux
	run linux_ns --net tap0 --net-addr 192.0.2.2/24,192.0.2.1 -vv \
	    --console "$TMP/console" --append \
	    'snapvm.run="ip -o -4 addr show dev eth0; ip route; ping -c1 -W10 192.0.2.1"'
	cat "$TMP/console"
	[ "$status" -eq 0 ]
	[[ "$output" == *" snapvm.net=192.0.2.2/24,192.0.2.1 "* ]]
	grep -q "inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0" "$TMP/console"
	grep -q "default via 192.0.2.1 dev eth0" "$TMP/console"
	grep -q "1 packets received" "$TMP/console"
	[[ "$(in_ns ip neigh show 192.0.2.2)" == *"lladdr 02:53:00:00:00:03"* ]]
}

@test "cold boot: the caller's snapvm.net wins; a bad one is reported and the boot goes on" {
	need_linux
	run linux_ns --net tap0 --net-addr 192.0.2.2/24 --console "$TMP/console" \
	    --append 'snapvm.net=192.0.2.3/33 snapvm.run="ip -o -4 addr show dev eth0"'
	cat "$TMP/console"
	[ "$status" -eq 0 ]
	grep -q "snapvm init: snapvm.net=192.0.2.3/33: the prefix length must be 1 to 32; eth0 stays down" "$TMP/console"
	run grep -c "inet 192.0.2" "$TMP/console"
	[ "$output" = 0 ]
}

# The host's runtime against idle.elf's vmrun: what each continue's "net"
# makes the runtime run, written down by a snapvm-netcfg that only
# records.  Prints the calls.
continue_calls() {
	local sock="$TMP/v.sock"
	printf '#!/bin/sh\necho "$*" >> "%s/calls"\n' "$TMP" > "$TMP/netcfg"
	chmod +x "$TMP/netcfg"
	: > "$TMP/calls"
	(
		for _ in $(seq 1 500); do [ -S "${sock}_1024" ] && break; sleep 0.01; done
		SNAPVM_APP_DIR="$ROOT/appfs/hello" SNAPVM_CONNECT="unix:${sock}_1024" \
		    SNAPVM_NETCFG="$TMP/netcfg" exec python3 "$RUNTIME"
	) 2> "$TMP/runtime.err" &
	echo '{"id": 1, "payload": 1}' | in_ns timeout --kill-after=5 60 \
	    "$VMRUN" --kernel "$GUESTS/idle.elf" --serve --vsock "$sock" "$@" \
	    > "$TMP/out" 2> "$TMP/vmrun.err"
	wait $!
	grep -q '"status":"ok"' "$TMP/out"
	cat "$TMP/calls"
}

@test "continue: \"net\" carries --net-addr and the device's MAC, from --net or the CID" {
	run continue_calls --net tap0/02:00:5e:00:53:09 \
	    --net-addr 192.0.2.9/24,192.0.2.1
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "eth0 192.0.2.9/24,192.0.2.1 02:00:5e:00:53:09" ]
	run continue_calls --net tap0 --cid 258 --net-addr 192.0.2.9/24
	[ "$status" -eq 0 ]
	[ "$output" = "eth0 192.0.2.9/24 02:53:00:00:01:02" ]
	run continue_calls --net tap0
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# An HTTP server on the bridge's address, serving $TMP/www.
start_server() {
	mkdir -p "$TMP/www"
	head -c 100000 /dev/urandom > "$TMP/www/blob"
	in_ns python3 -c '
import functools, http.server, os, sys
os.chdir(sys.argv[1])
srv = http.server.ThreadingHTTPServer(("192.0.2.1", 8080),
                                      http.server.SimpleHTTPRequestHandler)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
srv.serve_forever()
' "$TMP/www" "$TMP/server.pid" > /dev/null 2>&1 3>&- &
	for _ in $(seq 1 500); do [ -s "$TMP/server.pid" ] && break; sleep 0.01; done
}

@test "cold boot: the fetch function gets a page from the bridge over its own address" {
	need_linux
	mke2fs -q -t ext2 -L fetch -d "$ROOT/t/apps/fetch" "$TMP/fetch.ext2" 1024
	start_server
	echo '{"id": 1, "payload": {"url": "http://192.0.2.1:8080/blob"}}' |
	    linux_ns --net tap0 --net-addr 192.0.2.2/24,192.0.2.1 \
	    --appfs "$TMP/fetch.ext2" --console "$TMP/console" > "$TMP/out"
	out=$(cat "$TMP/out")
	echo "$out"
	[ "$(field "$out" status)" = '"ok"' ]
	[ "$(field "$out" response status)" = 200 ]
	[ "$(field "$out" response length)" = 100000 ]
	[ "$(field "$out" response sha256)" = "\"$(sha256sum < "$TMP/www/blob" | cut -d' ' -f1)\"" ]
	[ "$(field "$out" response source)" = '"192.0.2.2"' ]
}

@test "restore: two clones of one snapshot at once, each with its own tap, MAC and address" {
	need_linux
	linux_ns --net tap0 --net-addr 192.0.2.2/24,192.0.2.1 \
	    --dump-dir "$TMP/base" --console "$TMP/base.console"
	mke2fs -q -t ext2 -L fetch -d "$ROOT/t/apps/fetch" "$TMP/fetch.ext2" 1024
	start_server
	req='{"id": 1, "payload": {"url": "http://192.0.2.1:8080/blob"}}'
	pids=()
	for i in 1 2; do
		echo "$req" | restore_ns --load-dir "$TMP/base" \
		    --appfs "$TMP/fetch.ext2" --net "tap$i/02:53:00:00:01:0$i" \
		    --net-addr "192.0.2.1$i/24,192.0.2.1" --console "$TMP/clone$i.console" \
		    > "$TMP/clone$i.out" &
		pids+=($!)
	done
	wait "${pids[@]}"
	want=$(sha256sum < "$TMP/www/blob" | cut -d' ' -f1)
	for i in 1 2; do
		out=$(cat "$TMP/clone$i.out")
		echo "clone $i: $out"
		[ "$(field "$out" status)" = '"ok"' ]
		[ "$(field "$out" response status)" = 200 ]
		[ "$(field "$out" response length)" = 100000 ]
		[ "$(field "$out" response sha256)" = "\"$want\"" ]
		[ "$(field "$out" response source)" = "\"192.0.2.1$i\"" ]
		[[ "$(in_ns ip neigh show "192.0.2.1$i")" == *"lladdr 02:53:00:00:01:0$i"* ]]
	done
	# without --net-addr a clone keeps the snapshot's address
	echo "$req" | restore_ns --load-dir "$TMP/base" --appfs "$TMP/fetch.ext2" \
	    --net tap1 > "$TMP/plain.out"
	[ "$(field "$(cat "$TMP/plain.out")" response source)" = '"192.0.2.2"' ]
}
