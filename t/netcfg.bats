#!/usr/bin/env bats
# The guest's network set-up, run on the host: snapvm-netcfg (built from
# rootfs/init/ by make into build/netcfg/) on an eth0 in a network
# namespace of the test's own, whose other end is a second namespace
# playing the host's bridge (10.0.0.1/24, and 198.51.100.1 reachable only
# through it as the gateway); the runtime's handling of the "net" of a
# continue message against a fake host; and vmrun's --net-addr checks,
# which come before any VM exists.  Nothing here needs /dev/kvm.
# SNAPVM_TEST_NETCFG=build/rootfs/snapvm-netcfg runs the same tests with
# the guest's static build (rootfs/mkrootfs) instead.

load helpers

NETCFG="${SNAPVM_TEST_NETCFG:-$ROOT/build/netcfg/snapvm-netcfg}"
RUNTIME="$ROOT/rootfs/runtime/snapvm_runtime.py"

setup() {
	[ -x "$NETCFG" ] || { echo "$NETCFG missing: make" >&2; return 1; }
	NS="snapvm-nc-$$-$BATS_TEST_NUMBER"
	HOST="snapvm-nch-$$-$BATS_TEST_NUMBER"
	TMP="$BATS_TEST_TMPDIR"
	ip netns add "$NS"
	ip netns add "$HOST"
	for ns in "$NS" "$HOST"; do	# no IPv6: ip's output is IPv4 alone
		ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
	done
	ip link add eth0 netns "$NS" type veth peer name peer0 netns "$HOST"
	in_host ip addr add 10.0.0.1/24 dev peer0
	in_host ip addr add 10.0.1.1/24 dev peer0
	in_host ip addr add 198.51.100.1/32 dev lo
	in_host ip link set lo up
	in_host ip link set peer0 up
}

teardown() {
	[ ! -s "$TMP/server.pid" ] || kill "$(cat "$TMP/server.pid")" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	ip netns del "$HOST" 2>/dev/null || true
}

in_ns() {
	ip netns exec "$NS" "$@"
}

in_host() {
	ip netns exec "$HOST" "$@"
}

# A TCP server on port 7000 of the host namespace that tells each client
# the address it came from; it writes its own pid (python3 may be a
# wrapper's child) for teardown, and gives up by itself after 60 s idle.
start_server() {
	in_host python3 -c '
import os, socket, sys
srv = socket.create_server(("0.0.0.0", 7000))
srv.settimeout(60)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, peer = srv.accept()
    c.sendall(peer[0].encode())
    c.close()
' "$TMP/server.pid" > /dev/null 2>&1 3>&- &
	for _ in $(seq 1 500); do [ -s "$TMP/server.pid" ] && break; sleep 0.01; done
}

# The address the host saw a connection from eth0's namespace to ADDR
# come from: ARP, the route (through the gateway for 198.51.100.1) and
# the source address, all at once.
seen_from() {
	in_ns python3 -c '
import socket, sys
with socket.create_connection((sys.argv[1], 7000), timeout=5) as s:
    print(s.recv(64).decode())
' "$1"
}

# "IFACE ADDRESS/PREFIX BROADCAST|-" per IPv4 address in the namespace.
addrs() {
	in_ns ip -o -4 addr show | awk '{ print $2, $4, ($5 == "brd" ? $6 : "-") }'
}

routes() {
	in_ns ip -4 route show | sed 's/ *$//'
}

# The link's flags and MAC, as "FLAGS MAC".
link_of() {
	in_ns ip -o link show "$1" | sed -E 's/^[0-9]+: [^:]+: <([^>]*)>.*link\/ether ([0-9a-f:]+) .*/\1 \2/'
}

# eth0_is ADDR/P BROADCAST NET/P GATEWAY MAC: eth0 has exactly these, is
# up, lo too, and it works: the host sees connections to its side of the
# link and, through the gateway, to 198.51.100.1 come from ADDR, and has
# learnt MAC for it.
eth0_is() {
	local ip=${1%/*}

	[ "$(addrs)" = "lo 127.0.0.1/8 -
eth0 $1 $2" ]
	[ "$(routes)" = "default via $4 dev eth0
$3 dev eth0 proto kernel scope link src $ip" ]
	[ "$(link_of eth0)" = "BROADCAST,MULTICAST,UP,LOWER_UP $5" ]
	[[ "$(in_ns ip -o link show lo)" == *"<LOOPBACK,UP,LOWER_UP>"* ]]
	[ -s "$TMP/server.pid" ] || start_server
	[ "$(seen_from "$4")" = "$ip" ]
	[ "$(seen_from 198.51.100.1)" = "$ip" ]
	[[ "$(in_host ip neigh show "$ip")" == *"lladdr $5"* ]]
}

@test "snapvm-netcfg: address, prefix, broadcast, default route, MAC, up: exactly" {
	run in_ns "$NETCFG" eth0 10.0.0.5/24,10.0.0.1 02:53:00:00:00:05
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	eth0_is 10.0.0.5/24 10.0.0.255 10.0.0.0/24 10.0.0.1 02:53:00:00:00:05
}

@test "snapvm-netcfg: a clone's address and MAC replace the snapshot's; every old address goes" {
	in_ns "$NETCFG" eth0 10.0.0.5/24,10.0.0.1 02:53:00:00:00:05
	in_ns ip addr add 192.168.7.7/16 dev eth0
	in_ns ip addr add 10.0.0.77/24 dev eth0		# a secondary
	run in_ns "$NETCFG" eth0 10.0.1.9/24,10.0.1.1 02:53:00:00:00:06
	echo "$output"
	[ "$status" -eq 0 ]
	eth0_is 10.0.1.9/24 10.0.1.255 10.0.1.0/24 10.0.1.1 02:53:00:00:00:06
}

@test "snapvm-netcfg: the same settings again change nothing; no MAC keeps the MAC" {
	in_ns "$NETCFG" eth0 10.0.0.5/24,10.0.0.1 02:53:00:00:00:05
	before="$(addrs; routes; link_of eth0)"
	run in_ns "$NETCFG" eth0 10.0.0.5/24,10.0.0.1 02:53:00:00:00:05
	[ "$status" -eq 0 ]
	[ "$(addrs; routes; link_of eth0)" = "$before" ]
	run in_ns "$NETCFG" eth0 10.0.0.5/24,10.0.0.1
	[ "$status" -eq 0 ]
	[ "$(addrs; routes; link_of eth0)" = "$before" ]
}

@test "snapvm-netcfg: the one default route is the gateway's; without one there is none" {
	ip link add other0 netns "$NS" type veth peer name peer1 netns "$HOST"
	in_ns ip addr add 172.16.0.2/24 dev other0
	in_ns ip link set other0 up
	in_host ip link set peer1 up
	in_ns ip route add default via 172.16.0.1 dev other0
	run in_ns "$NETCFG" eth0 10.0.0.5/24,10.0.0.1
	[ "$status" -eq 0 ]
	[ "$(routes | grep '^default')" = "default via 10.0.0.1 dev eth0" ]
	run in_ns "$NETCFG" eth0 10.0.0.6/24
	[ "$status" -eq 0 ]
	[ -z "$(routes | grep '^default')" ]
	[ "$(addrs | grep eth0)" = "eth0 10.0.0.6/24 10.0.0.255" ]
	# /32 and /31 are host routes and point-to-point links, not errors
	run in_ns "$NETCFG" eth0 10.0.0.7/32
	[ "$status" -eq 0 ]
	[ "$(addrs | grep eth0)" = "eth0 10.0.0.7/32 -" ]
	run in_ns "$NETCFG" eth0 10.0.0.0/31,10.0.0.1
	[ "$status" -eq 0 ]
	[ "$(addrs | grep eth0)" = "eth0 10.0.0.0/31 -" ]
	[ "$(routes | grep '^default')" = "default via 10.0.0.1 dev eth0" ]
}

@test "snapvm-netcfg: bad values are refused by name, status 65, nothing changed" {
	in_ns "$NETCFG" eth0 10.0.0.5/24,10.0.0.1 02:53:00:00:00:05
	before="$(addrs; routes; link_of eth0)"
	run in_ns "$NETCFG" eth0 10.0.0.5/33
	[ "$status" -eq 65 ]
	[ "$output" = 'snapvm-netcfg: "10.0.0.5/33": the prefix length must be 1 to 32' ]
	run in_ns "$NETCFG" eth0 10.0.0.256/24
	[ "$status" -eq 65 ]
	[ "$output" = 'snapvm-netcfg: "10.0.0.256/24": the address is not A.B.C.D, four numbers 0 to 255' ]
	run in_ns "$NETCFG" eth0 10.0.0.5/24junk
	[ "$status" -eq 65 ]
	[ "$output" = 'snapvm-netcfg: "10.0.0.5/24junk": not of the form A.B.C.D/PREFIX[,GATEWAY]' ]
	run in_ns "$NETCFG" eth0 10.0.0.5/24,10.0.9.1
	[ "$status" -eq 65 ]
	[ "$output" = "snapvm-netcfg: \"10.0.0.5/24,10.0.9.1\": the gateway is not inside the address's network" ]
	run in_ns "$NETCFG" eth0 10.0.0.5/24 03:00:00:00:00:01
	[ "$status" -eq 65 ]
	[ "$output" = 'snapvm-netcfg: "03:00:00:00:00:01": a multicast MAC address' ]
	run in_ns "$NETCFG" eth0 10.0.0.5/24 02:53:00:00:05
	[ "$status" -eq 65 ]
	[[ "$output" == 'snapvm-netcfg: "02:53:00:00:05": not a MAC address'* ]]
	run in_ns "$NETCFG" eth0:1 10.0.0.5/24
	[ "$status" -eq 65 ]
	[ "$output" = 'snapvm-netcfg: "eth0:1": not an interface name' ]
	run in_ns "$NETCFG" name-of-16-bytes 10.0.0.5/24
	[ "$status" -eq 65 ]
	[ "$(addrs; routes; link_of eth0)" = "$before" ]
}

@test "snapvm-netcfg: usage 64, no such interface 66, not permitted 77" {
	run in_ns "$NETCFG" eth0
	[ "$status" -eq 64 ]
	[[ "$output" == "usage: snapvm-netcfg IFACE ADDR/PREFIX[,GATEWAY] [MAC]" ]]
	run in_ns "$NETCFG" eth0 10.0.0.5/24 02:53:00:00:00:05 extra
	[ "$status" -eq 64 ]
	run in_ns "$NETCFG" eth9 10.0.0.5/24
	[ "$status" -eq 66 ]
	[ "$output" = "snapvm-netcfg: eth9: no such interface" ]
	run in_ns "$NETCFG" eth9 10.0.0.5/24 02:53:00:00:00:05
	[ "$status" -eq 66 ]
	[ "$output" = "snapvm-netcfg: eth9: no such interface" ]
	run in_ns setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$NETCFG" eth0 10.0.0.5/24
	echo "$output"
	[ "$status" -eq 77 ]
	[ "$output" = "snapvm-netcfg: eth0: setting the address 10.0.0.5: Operation not permitted" ]
	[ -z "$(addrs | grep eth0)" ]
}

# fake_host SOCKET NET...: plays the runner for one runtime connection,
# answering each checkpoint with a continue that carries NET (JSON; "-"
# for none), then waits for hello and hangs up.  Prints each frame.
fake_host() {
	python3 - "$@" <<'PY'
import json, socket, struct, sys, time
path, nets = sys.argv[1], sys.argv[2:]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
srv.settimeout(60)
c, _ = srv.accept()
c.settimeout(60)

def recv():
    head = c.recv(4, socket.MSG_WAITALL)
    (n,) = struct.unpack(">I", head)
    frame = json.loads(c.recv(n, socket.MSG_WAITALL))
    print(json.dumps(frame, sort_keys=True), flush=True)
    return frame

for net in nets:
    assert recv()["type"] == "checkpoint"
    msg = {"type": "continue", "seed": "00" * 32, "time_ns": time.time_ns()}
    if net != "-":
        msg["net"] = json.loads(net)
    body = json.dumps(msg).encode()
    c.sendall(struct.pack(">I", len(body)) + body)
assert recv()["type"] == "hello"
c.close()
PY
}

# runtime NETCFG-PROGRAM NET...: the runtime, in the namespace, against
# fake_host; its frames in $TMP/host.out, its log in $TMP/runtime.err.
runtime() {
	local prog=$1 sock="$TMP/rt.sock"
	shift
	rm -f "$sock"
	fake_host "$sock" "$@" > "$TMP/host.out" &
	for _ in $(seq 1 500); do [ -S "$sock" ] && break; sleep 0.01; done
	in_ns env SNAPVM_CONNECT="unix:$sock" SNAPVM_APP_DIR="$ROOT/appfs/hello" \
	    SNAPVM_NETCFG="$prog" python3 "$RUNTIME" 2> "$TMP/runtime.err"
	wait $!
}

# A snapvm-netcfg that writes down how it was called.
recording_netcfg() {
	printf '#!/bin/sh\necho "$*" >> "%s/calls"\nexec "%s" "$@"\n' \
	    "$TMP" "$NETCFG" > "$TMP/netcfg"
	chmod +x "$TMP/netcfg"
}

NET_A='{"addr": "10.0.0.5/24", "gw": "10.0.0.1", "mac": "02:53:00:00:00:05"}'
NET_B='{"addr": "10.0.1.9/24", "gw": null, "mac": "02:53:00:00:00:06"}'

@test "runtime: a continue's \"net\" configures eth0; the same again runs nothing" {
	recording_netcfg
	run runtime "$TMP/netcfg" "$NET_A" "$NET_A"
	cat "$TMP/runtime.err"
	[ "$status" -eq 0 ]
	grep -q '"type": "hello"' "$TMP/host.out"
	[ "$(cat "$TMP/calls")" = "eth0 10.0.0.5/24,10.0.0.1 02:53:00:00:00:05" ]
	[ "$(addrs | grep eth0)" = "eth0 10.0.0.5/24 10.0.0.255" ]
	[ "$(link_of eth0)" = "BROADCAST,MULTICAST,UP,LOWER_UP 02:53:00:00:00:05" ]
	[ "$(routes | grep '^default')" = "default via 10.0.0.1 dev eth0" ]
	run grep network "$TMP/runtime.err"
	[ "$status" -eq 1 ]
}

@test "runtime: another \"net\" at the next continue replaces the first; no gateway, no route" {
	recording_netcfg
	run runtime "$TMP/netcfg" "$NET_A" "$NET_B"
	cat "$TMP/runtime.err"
	[ "$status" -eq 0 ]
	[ "$(cat "$TMP/calls")" = "eth0 10.0.0.5/24,10.0.0.1 02:53:00:00:00:05
eth0 10.0.1.9/24 02:53:00:00:00:06" ]
	[ "$(addrs | grep eth0)" = "eth0 10.0.1.9/24 10.0.1.255" ]
	[ "$(link_of eth0)" = "BROADCAST,MULTICAST,UP,LOWER_UP 02:53:00:00:00:06" ]
	[ -z "$(routes | grep '^default')" ]
	start_server
	[ "$(seen_from 10.0.1.1)" = 10.0.1.9 ]
}

@test "runtime: a failing snapvm-netcfg or a malformed \"net\" is logged, and it serves on" {
	ip netns exec "$NS" ip link del eth0
	run runtime "$NETCFG" "$NET_A" '{"addr": 5}'
	cat "$TMP/runtime.err"
	[ "$status" -eq 0 ]
	grep -q '"type": "hello"' "$TMP/host.out"
	grep -q "snapvm-netcfg: eth0: no such interface" "$TMP/runtime.err"
	grep -q "snapvm runtime: network: $NETCFG eth0 10.0.0.5/24,10.0.0.1 02:53:00:00:00:05 exited with status 66; going on without it" "$TMP/runtime.err"
	grep -q "snapvm runtime: network: ignored a malformed \"net\": {'addr': 5}" "$TMP/runtime.err"
	run runtime "$TMP/no-such-program" "$NET_A" -
	[ "$status" -eq 0 ]
	grep -q '"type": "hello"' "$TMP/host.out"
	grep -q "snapvm runtime: network: $TMP/no-such-program: .*No such file" "$TMP/runtime.err"
}

@test "runtime: without SNAPVM_NETCFG a runtime on the host runs nothing" {
	run runtime "" "$NET_A" "$NET_A"
	[ "$status" -eq 0 ]
	grep -q '"type": "hello"' "$TMP/host.out"
	[ -z "$(addrs | grep eth0)" ]
}

@test "vmrun, snaprestore: --net-addr is checked before any VM: 64 by value; no runtime, a warning" {
	for bad in 10.0.0.5/33 10.0.0.256/24 10.0.0.5 10.0.0.5/24,10.0.1.1 \
	    127.0.0.1/8 10.0.0.255/24 "10.0.0.5/24,"; do
		run "$VMRUN" --kernel "$GUESTS/exit.elf" --net tap0 --net-addr "$bad"
		[ "$status" -eq 64 ]
		[[ "${lines[0]}" == "vmrun: --net-addr: \"$bad\": "* ]]
	done
	run "$VMRUN" --kernel "$GUESTS/exit.elf" --net-addr 10.0.0.5/24
	[ "$status" -eq 64 ]
	[ "${lines[0]}" = "vmrun: --net-addr needs --net: the address is for the guest's network device" ]
	run "$ROOT/bin/snaprestore" --load-dir /nonexistent --net-addr 10.0.0.5/24
	[ "$status" -eq 64 ]
	[[ "${lines[0]}" == "snaprestore: --net-addr needs --net"* ]]
	run "$ROOT/bin/snaprestore" --load-dir /nonexistent --net tap0 \
	    --net-addr 10.0.0.5/0
	[ "$status" -eq 64 ]
	[ "${lines[0]}" = 'snaprestore: --net-addr: "10.0.0.5/0": the prefix length must be 1 to 32' ]
	# a snapshot without vsock has no runtime to tell: said before the VM
	python3 "$ROOT/t/fakesnap.py" layer "$TMP/snap" > /dev/null
	python3 -c 'import json, sys
p = sys.argv[1] + "/manifest.json"
m = json.load(open(p))
m["vsock_cid"] = None
json.dump(m, open(p, "w"))' "$TMP/snap"
	run "$ROOT/bin/snaprestore" --load-dir "$TMP/snap" --net tap0 \
	    --net-addr 10.0.0.5/24
	[ "${lines[0]}" = "snaprestore: --net-addr: the snapshot has no runtime to tell; the guest keeps the address it had" ]
}
