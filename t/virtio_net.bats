#!/usr/bin/env bats
# bats file_tags=kvm
# virtio-net, driven by the freestanding net.elf guest (t/guest/net.c) on
# a tap of tapnet(1).  Everything lives in a network namespace each test
# makes for itself: the bridge 192.0.2.1/24, the taps and the VMs; no
# frame leaves it.

load helpers

TAPNET="$ROOT/bin/tapnet"
SNAPRESTORE="$ROOT/bin/snaprestore"
GUEST_IP="ip=192.0.2.2 peer=192.0.2.1"

in_ns() {
	ip netns exec "$NS" "$@"
}

setup() {
	NS="snapvm-net-$$-$BATS_TEST_NUMBER"
	SNAP="$BATS_TEST_TMPDIR/snap"
	export XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
	ip netns add "$NS"
	# No IPv6: the guest's receive queue sees only the frames it asked for.
	in_ns sh -c 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
	in_ns "$TAPNET" bridge add br0 --addr 192.0.2.1/24
	in_ns "$TAPNET" tap add tap0 --bridge br0
}

teardown() {
	ip netns del "$NS" 2>/dev/null || true
}

# vmrun and snaprestore inside the namespace, bounded in time.
vm_ns() {
	in_ns timeout --kill-after=5 60 "$VMRUN" "$@"
}

restore_ns() {
	in_ns timeout --kill-after=5 60 "$SNAPRESTORE" "$@"
}

# A full snapshot of net.elf on tap0, taken after its first echoes.
make_net_snap() {
	vm_ns --kernel "$GUESTS/net.elf" --mem 32 --net tap0 \
	    --cmdline "$GUEST_IP ckpt=1" --dump-dir "$SNAP"
}

@test "virtio-net: ARP and echo through the bridge; back-pressure, drops, broken queues" {
	run vm_ns --kernel "$GUESTS/net.elf" --net tap0 --cmdline "$GUEST_IP"
	printf '%s\n' "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *FAIL* ]]
	[[ "$output" == *"mac 02:53:00:00:00:03"* ]]		# from CID 3
	[[ "$output" == *"ok link up"* ]]
	[[ "$output" == *"ok ARP reply kept while no receive buffer was posted"* ]]
	[[ "$output" == *"ok echo of 1400 bytes"* ]]
	[[ "$output" == *"ok reply larger than the buffer dropped, buffer kept"* ]]
	[[ "$output" == *"ok frame over 65550 bytes taken back"* ]]
	[[ "$output" == *"ok echo after dropped frames"* ]]
	[[ "$output" == *"device stopped: malformed transmit queue"* ]]
	[[ "$output" == *"ok ARP after reset"* ]]
	[[ "$output" == *"device stopped: receive buffer smaller than a header"* ]]
	# the drops were counted: one reply too large, two frames out of bounds
	[[ "$output" == *"virtio-net tap0: rx "*" 1 dropped; tx "*" 2 dropped 0 failed"* ]]
}

@test "virtio-net: --net TAP/MAC sets the MAC; otherwise --cid picks it" {
	run vm_ns --kernel "$GUESTS/net.elf" --net tap0/02:00:5e:00:53:01 \
	    --cmdline "$GUEST_IP ckpt=1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"mac 02:00:5e:00:53:01"* ]]
	[[ "$output" == *"ok echo 2"* ]]
	[[ "$output" == *"restores 0"* ]]
	run vm_ns --kernel "$GUESTS/net.elf" --net tap0 --cid 258 \
	    --cmdline "$GUEST_IP ckpt=1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"mac 02:53:00:00:01:02"* ]]
	[[ "$output" == *"ok echo 2"* ]]
}

@test "virtio-net: the command line names the device in the slot after vsock" {
	run vm_ns --kernel "$GUESTS/exit.elf" --vsock "$BATS_TEST_TMPDIR/v.sock" \
	    --net tap0 -vv
	[ "$status" -eq 0 ]
	[[ "$output" == *"virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6"* ]]
	run vm_ns --kernel "$GUESTS/exit.elf" --net tap0 -vv
	[[ "$output" == *"virtio_mmio.device=4K@0xd0000000:5"* ]]
	[[ "$output" != *"0xd0001000"* ]]
}

@test "virtio-net: no device without --net" {
	run vm_ns --kernel "$GUESTS/net.elf" --cmdline "$GUEST_IP"
	[ "$status" -eq 100 ]
}

@test "virtio-net: a tap that is missing or not a tap is refused by name, status 66" {
	run vm_ns --kernel "$GUESTS/exit.elf" --net nosuch0
	[ "$status" -eq 66 ]
	[[ "$output" == *"nosuch0: no such network interface"* ]]
	run vm_ns --kernel "$GUESTS/exit.elf" --net br0
	[ "$status" -eq 66 ]
	[[ "$output" == *"br0: exists and is not a tap"* ]]
}

@test "virtio-net: --net with a bad name or MAC is a usage error, status 64" {
	for spec in "" "tap/0" "tap0/01:00:00:00:00:01" "tap0/00:00:00:00:00:00" \
	    "tap0/02:00:00:00:00" "tap0/02-00-00-00-00-01" "name-of-16-bytes"; do
		run "$VMRUN" --kernel "$GUESTS/exit.elf" --net "$spec"
		[ "$status" -eq 64 ]
		[[ "$output" == *"--net: "* ]]
	done
	run "$SNAPRESTORE" --load-dir /nonexistent --net "tap0/ff:ff:ff:ff:ff:ff"
	[ "$status" -eq 64 ]
}

@test "virtio-net snapshot: the restored VM gets the tap --net names, keeps its MAC" {
	run make_net_snap
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok echo 2"* ]]
	[[ "$output" != *"restores"* ]]		# stopped at the checkpoint
	# The tap is the caller's: the one the snapshot records is not taken.
	run restore_ns --load-dir "$SNAP" -v
	[ "$status" -eq 64 ]
	[[ "$output" == *"name its tap with --net (it was taken on \"tap0\")"* ]]
	run restore_ns --load-dir "$SNAP" --net tap0 -v
	printf '%s\n' "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"restores 1"* ]]
	[[ "$output" == *"mac 02:53:00:00:00:03"* ]]
	[[ "$output" == *"ok ARP after restore"* ]]
	[[ "$output" == *"ok echo after restore"* ]]
	[[ "$output" == *"virtio-net tap0: "* ]]
	[[ "$output" != *FAIL* ]]
}

@test "virtio-net snapshot: a restored VM may get another tap and MAC" {
	in_ns "$TAPNET" tap add tap1 --bridge br0
	make_net_snap
	in_ns "$TAPNET" tap del tap0
	run restore_ns --load-dir "$SNAP" --net tap1/02:00:5e:00:53:07 -v
	printf '%s\n' "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"mac 02:00:5e:00:53:07"* ]]
	[[ "$output" == *"ok echo after restore"* ]]
	[[ "$output" == *"virtio-net tap1: "* ]]
	# vmrun --load-dir shares the flag
	run vm_ns --load-dir "$SNAP" --net tap1
	[ "$status" -eq 0 ]
	[[ "$output" == *"mac 02:53:00:00:00:03"* ]]
	[[ "$output" == *"ok echo after restore"* ]]
}

@test "virtio-net snapshot: a missing tap is named; --net cannot add a device" {
	make_net_snap
	in_ns "$TAPNET" tap del tap0
	run restore_ns --load-dir "$SNAP" --net tap0
	[ "$status" -eq 66 ]
	[[ "$output" == *"tap0: no such network interface"* ]]
	vm --kernel "$GUESTS/snap.elf" --mem 32 --dump-dir "$BATS_TEST_TMPDIR/plain"
	run restore_ns --load-dir "$BATS_TEST_TMPDIR/plain" --net tap0
	[ "$status" -eq 65 ]
	[[ "$output" == *"the snapshot has no network device for --net"* ]]
}
