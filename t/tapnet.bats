#!/usr/bin/env bats
# tapnet(1), wholly inside a network namespace each test makes for itself:
# the bridges and taps live and die there.

load helpers

TAPNET="$ROOT/bin/tapnet"

setup() {
	NS="snapvm-tapnet-$$-$BATS_TEST_NUMBER"
	HOLD_PID=
	ip netns add "$NS"
}

teardown() {
	[ -z "$HOLD_PID" ] || kill "$HOLD_PID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
}

# tapnet, or any command, inside the test's namespace.
tn() {
	ip netns exec "$NS" "$TAPNET" "$@"
}

in_ns() {
	ip netns exec "$NS" "$@"
}

nobody() {
	ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$TAPNET" "$@"
}

@test "tapnet: bridge add makes an up bridge with its address; del removes it" {
	run tn bridge add br0 --addr 192.0.2.1/24
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	in_ns ip -d link show br0 | grep -q 'bridge '
	in_ns ip link show br0 | grep -q '<.*UP.*>'
	in_ns ip -4 addr show dev br0 | grep -q 'inet 192.0.2.1/24'
	run tn bridge del br0
	[ "$status" -eq 0 ]
	run in_ns ip link show br0
	[ "$status" -ne 0 ]
}

@test "tapnet: IPv6 addresses and bridges without one" {
	run tn bridge add br6 --addr fd00:5356::1/64
	[ "$status" -eq 0 ]
	in_ns ip -6 addr show dev br6 | grep -q 'inet6 fd00:5356::1/64'
	run tn bridge add bare
	[ "$status" -eq 0 ]
	in_ns ip -d link show bare | grep -q 'bridge '
}

@test "tapnet: tap add makes a persistent vnet-header tap on the bridge, up" {
	tn bridge add br0 --addr 192.0.2.1/24
	run tn tap add tap0 --bridge br0 --owner 65534
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run in_ns ip -d link show tap0
	[[ "$output" == *"master br0"* ]]
	[[ "$output" == *"tun type tap pi off vnet_hdr on persist on"* ]]
	[[ "$output" == *"UP"* ]]
	[ "$(in_ns cat /sys/class/net/tap0/owner)" = 65534 ]
	run tn tap add tap1 --bridge br0 --owner nobody
	[ "$status" -eq 0 ]
	[ "$(in_ns cat /sys/class/net/tap1/owner)" = 65534 ]
	run tn tap add tap2 --bridge br0
	[ "$status" -eq 0 ]
	[ "$(in_ns cat /sys/class/net/tap2/owner)" = -1 ]
	run tn tap del tap0
	[ "$status" -eq 0 ]
	run in_ns ip link show tap0
	[ "$status" -ne 0 ]
}

@test "tapnet: every command may be repeated; deleting what is gone succeeds" {
	for _ in 1 2; do
		tn bridge add br0 --addr 192.0.2.1/24
		tn tap add tap0 --bridge br0 --owner 65534
	done
	[ "$(in_ns ip -4 addr show dev br0 | grep -c 'inet ')" -eq 1 ]
	[ "$(in_ns ip -o link show master br0 | wc -l)" -eq 1 ]
	# a tap that was taken down and off its bridge is put back
	in_ns ip link set tap0 nomaster down
	tn tap add tap0 --bridge br0
	in_ns ip link show tap0 | grep -q 'master br0'
	[ "$(in_ns cat /sys/class/net/tap0/owner)" = 65534 ]
	for _ in 1 2; do
		tn tap del tap0
		tn bridge del br0
	done
	run tn tap del nosuch
	[ "$status" -eq 0 ]
	run tn bridge del nosuch
	[ "$status" -eq 0 ]
}

@test "tapnet: a tap moves to the bridge it is added to" {
	tn bridge add br0
	tn bridge add br1
	tn tap add tap0 --bridge br0
	tn tap add tap0 --bridge br1
	in_ns ip link show tap0 | grep -q 'master br1'
}

@test "tapnet: ls lists bridges and taps, tab-separated, nothing else" {
	tn bridge add br0 --addr 192.0.2.1/24
	tn bridge add br0 --addr fd00:5356::1/64
	tn tap add tap0 --bridge br0 --owner 65534
	tn tap add tap1 --bridge br0
	in_ns ip link add veth0 type veth peer name veth1
	in_ns ip tuntap add tun0 mode tun
	run tn ls
	[ "$status" -eq 0 ]
	printf '%s\n' "$output"
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]}" = "$(printf 'bridge\tbr0\tno-carrier\t-\t-\t192.0.2.1/24,fd00:5356::1/64')" ]
	[ "${lines[1]}" = "$(printf 'tap\ttap0\tno-carrier\tbr0\t65534\t-')" ]
	[ "${lines[2]}" = "$(printf 'tap\ttap1\tno-carrier\tbr0\t-\t-')" ]
	in_ns ip link set tap1 down
	run tn ls
	[ "${lines[2]}" = "$(printf 'tap\ttap1\tdown\tbr0\t-\t-')" ]
}

@test "tapnet: ls in an empty namespace prints nothing" {
	run tn ls
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "tapnet: without CAP_NET_ADMIN the kernel's refusal is passed on, status 77" {
	tn bridge add br0
	run nobody bridge add br1
	[ "$status" -eq 77 ]
	[[ "$output" == *"tapnet: br1: creating the bridge: Operation not permitted"* ]]
	run nobody tap add tap0 --bridge br0
	[ "$status" -eq 77 ]
	[[ "$output" == *"tap0:"* ]]
	[[ "$output" == *"Permission denied"* || "$output" == *"Operation not permitted"* ]]
	tn tap add tap1 --bridge br0
	run nobody tap del tap1
	[ "$status" -eq 77 ]
	[[ "$output" == *"tapnet: tap1: deleting it: Operation not permitted"* ]]
	run nobody ls
	[ "$status" -eq 0 ]
	[[ "$output" == *"tap1"* ]]
}

@test "tapnet: a missing bridge is named, status 66" {
	run tn tap add tap0 --bridge br9
	[ "$status" -eq 66 ]
	[[ "$output" == *"tapnet: br9: no such bridge"*"No such device"* ]]
	run in_ns ip link show tap0
	[ "$status" -ne 0 ]			# nothing made
}

@test "tapnet: names of another kind are refused, status 65" {
	tn bridge add br0
	in_ns ip link add veth0 type veth peer name veth1
	run tn bridge add veth0
	[ "$status" -eq 65 ]
	[[ "$output" == *"tapnet: veth0: exists and is not a bridge"* ]]
	run tn tap add veth0 --bridge br0
	[ "$status" -eq 65 ]
	[[ "$output" == *"veth0: exists and is not a tap"* ]]
	run tn tap add tap0 --bridge veth0
	[ "$status" -eq 65 ]
	[[ "$output" == *"veth0: exists and is not a bridge"* ]]
	run tn tap del br0
	[ "$status" -eq 65 ]
	run tn bridge del veth0
	[ "$status" -eq 65 ]
	in_ns ip link show veth0 > /dev/null	# still there
	in_ns ip link show br0 > /dev/null
}

@test "tapnet: the kernel's extended acknowledgement reaches the message" {
	run tn bridge add br0 --addr ff02::5/64
	[ "$status" -eq 65 ]
	[[ "$output" == *'tapnet: br0: adding ff02::5/64: ipv6: Cannot assign multicast address'* ]]
}

@test "tapnet: bad addresses, names and commands are usage errors, status 64" {
	for cidr in 192.0.2.1 192.0.2.1/33 300.0.2.1/24 fd00::1/129 x/8; do
		run tn bridge add br0 --addr "$cidr"
		[ "$status" -eq 64 ]
		[[ "$output" == *"\"$cidr\": not an address with a prefix length"* ]]
	done
	run in_ns ip link show br0
	[ "$status" -ne 0 ]			# nothing made
	run tn bridge add name-of-16-bytes
	[ "$status" -eq 64 ]
	run tn tap add tap0 --bridge br0 --addr 192.0.2.1/24
	[ "$status" -eq 64 ]
	run tn bridge frob br0
	[ "$status" -eq 64 ]
	[[ "$output" == *"usage: tapnet"* ]]
	run tn ls extra
	[ "$status" -eq 64 ]
	run tn tap add tap0 --bridge br0 --owner no-such-user-here
	[ "$status" -eq 67 ]
	run tn --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: tapnet"* ]]
}

# Holds tap $1 open as a VM would, until killed; prints "open" first.
hold_tap() {
	exec ip netns exec "$NS" python3 -c '
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x5002))
print("open", flush=True)
time.sleep(60)' "$1"
}

@test "tapnet: a tap a VM has open: add repeats quietly, ls says up, owner is busy" {
	tn bridge add br0 --addr 192.0.2.1/24
	tn tap add tap0 --bridge br0 --owner 65534
	coproc HOLD { hold_tap tap0; }
	read -r line <&"${HOLD[0]}"
	[ "$line" = open ]
	run tn tap add tap0 --bridge br0 --owner 65534
	[ "$status" -eq 0 ]
	run tn ls
	[[ "$output" == *"$(printf 'tap\ttap0\tup\tbr0\t65534\t-')"* ]]
	run tn tap add tap0 --bridge br0 --owner 0
	[ "$status" -eq 75 ]
	[[ "$output" == *"tap0: cannot attach to the tap: Device or resource busy"* ]]
}

@test "tapnet: a tap added without a bridge leaves its bridge and stays down" {
	tn bridge add br0 --addr 192.0.2.1/24
	tn tap add tap0 --bridge br0
	run in_ns ip -o link show tap0
	[[ "$output" == *"master br0"* ]]
	tn tap add tap0
	run in_ns ip -o link show tap0
	[ "$status" -eq 0 ]
	[[ "$output" != *"master"* ]]
	[[ "$output" != *"<"*"UP"*">"* ]]
	tn tap add tap1
	run in_ns ip -o link show tap1
	[ "$status" -eq 0 ]
	[[ "$output" != *"master"* ]]
}
