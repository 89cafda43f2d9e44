#!/usr/bin/env bats
# bats file_tags=kvm
# virtio-vsock, driven by the freestanding vsock.elf guest; Python plays
# the host programs on the Unix sockets of --vsock.

load helpers

setup() {
	TMP="$(mktemp -d)"
	SOCK="$TMP/v.sock"
	SERVER=
	VMPID=
}

teardown() {
	[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true
	[ -z "$VMPID" ] || kill "$VMPID" 2>/dev/null || true
	rm -rf "$TMP"
}

wait_socket() {
	for _ in $(seq 200); do
		[ -S "$1" ] && return 0
		sleep 0.02
	done
	echo "no socket at $1"
	return 1
}

# vmrun with the vsock guest in the background, its output in guest.out;
# timeout passes teardown's kill on to vmrun.
vm_bg() {
	timeout --kill-after=5 60 "$VMRUN" --kernel "$GUESTS/vsock.elf" \
	    --vsock "$SOCK" "$@" > "$TMP/guest.out" 2>&1 3>&- &
	VMPID=$!
}

# A host server listening at $1 for one guest connection.  Mode "echo"
# sends back what it reads; "pattern N" first sends N bytes of i % 251
# unasked.  At EOF it writes "MODE got BYTES" to $1.log.
host_server() {
	python3 - "$@" > "$1.log" 2>&1 3>&- <<'PY' &
import os, socket, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path + ".tmp")
s.listen(1)
os.rename(path + ".tmp", path)
c, _ = s.accept()
if mode == "pattern":
    c.sendall(bytes(i % 251 for i in range(int(sys.argv[3]))))
got = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    got += len(b)
    if mode == "echo":
        c.sendall(b)
print(mode, "got", got)
PY
	SERVER=$!
	wait_socket "$1"
}

# A host program: connects to $1 and sends line $2.  With a message $3
# it prints the line it got back, sends $3 and a newline, and prints what
# came back; without one it prints "eof" if vmrun closes the socket.  With
# a fourth argument "together" it sends the line and $3 in one write,
# before the guest has accepted.
host_client() {
	python3 - "$@" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
for _ in range(100):		# the socket file exists just before listen()
    try:
        s.connect(sys.argv[1])
        break
    except ConnectionRefusedError:
        time.sleep(0.02)
msg = sys.argv[3].encode() + b"\n" if len(sys.argv) > 3 else b""
if len(sys.argv) > 4 and sys.argv[4] == "together":
    s.sendall(sys.argv[2].encode() + b"\n" + msg)
else:
    s.sendall(sys.argv[2].encode() + b"\n")
if len(sys.argv) < 4:
    print("eof" if s.recv(16) == b"" else "data")
    sys.exit(0)
line = b""
while not line.endswith(b"\n"):
    b = s.recv(1)
    if not b:
        break
    line += b
print("line:", line.decode().strip())
if len(sys.argv) < 5:
    s.sendall(msg)
back = b""
while len(back) < len(msg):
    b = s.recv(4096)
    if not b:
        break
    back += b
print("back:", back.decode().strip())
PY
}

@test "vsock: the guest connects to a host echo server, bytes come back intact" {
	host_server "${SOCK}_1234" echo
	run vm --kernel "$GUESTS/vsock.elf" --vsock "$SOCK" --cmdline "mode=1 port=1234"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok connect to the host"* ]]
	[[ "$output" == *"3000 bytes came back"* ]]
	[[ "$output" == *"ok echo intact"* ]]
	[[ "$output" == *"ok shutdown answered by RST"* ]]
	wait "$SERVER"
	SERVER=
	[ "$(cat "${SOCK}_1234.log")" = "echo got 3000" ]
}

@test "vsock: a host CONNECT reaches the listening guest, data both ways" {
	vm_bg --cmdline "mode=2 port=5000"
	wait_socket "$SOCK"
	run host_client "$SOCK" "CONNECT 5000" "hello from the host"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "line: OK 1073741824" ]	# host ports start at 2^30
	[ "${lines[1]}" = "back: HELLO FROM THE HOST" ]
	rc=0
	wait "$VMPID" || rc=$?
	VMPID=
	cat "$TMP/guest.out"
	[ "$rc" -eq 0 ]
	grep -qx "ok request from the host" "$TMP/guest.out"
	grep -qx "ok echoed until the host shut down" "$TMP/guest.out"
}

# Issue 14, defect 7: these bytes used to be thrown away with the line.
@test "vsock: bytes written with the CONNECT line reach the guest" {
	vm_bg --cmdline "mode=2 port=5000"
	wait_socket "$SOCK"
	run host_client "$SOCK" "CONNECT 5000" "sent with the line" together
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "line: OK 1073741824" ]
	[ "${lines[1]}" = "back: SENT WITH THE LINE" ]
	rc=0
	wait "$VMPID" || rc=$?
	VMPID=
	[ "$rc" -eq 0 ]
}

@test "vsock: a CONNECT line that is not one closes the host socket" {
	vm_bg --cmdline "mode=2 port=5000"
	wait_socket "$SOCK"
	run host_client "$SOCK" "CONNECT nine"
	[ "$output" = "eof" ]
	host_client "$SOCK" "CONNECT 5000" "still there" > "$TMP/client.out"
	wait "$VMPID"
	VMPID=
	[ "$(sed -n 2p "$TMP/client.out")" = "back: STILL THERE" ]
}

@test "vsock: the device never sends beyond the guest's credit" {
	host_server "${SOCK}_1235" pattern 16384
	run vm --kernel "$GUESTS/vsock.elf" --vsock "$SOCK" \
	    --cmdline "mode=3 port=1235 buf=4096 len=16384"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"4096 bytes before the first credit update"* ]]
	[[ "$output" == *"ok device stopped at the credit"* ]]
	[[ "$output" == *"3 credit updates"* ]]
	[[ "$output" == *"ok never beyond the credit"* ]]
	[[ "$output" == *"ok all bytes intact"* ]]
	wait "$SERVER"
	SERVER=
}

@test "vsock: a credit that is not a multiple of the packet size" {
	host_server "${SOCK}_1235" pattern 5000
	run vm --kernel "$GUESTS/vsock.elf" --vsock "$SOCK" \
	    --cmdline "mode=3 port=1235 buf=1000 len=5000"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1000 bytes before the first credit update"* ]]
	[[ "$output" == *"4 credit updates"* ]]
	[[ "$output" == *"ok all bytes intact"* ]]
}

@test "vsock: RST for a port nobody listens on and for an unknown connection" {
	run vm --kernel "$GUESTS/vsock.elf" --vsock "$SOCK" --cmdline "mode=4 port=1236"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok nobody listening: RST"* ]]
	[[ "$output" == *"ok data for no connection: RST"* ]]
	[[ "$output" == *"ok every packet addressed to this guest"* ]]
}

@test "vsock: malformed packets and chains never crash vmrun" {
	run vm --kernel "$GUESTS/vsock.elf" --vsock "$SOCK" --cmdline mode=5
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c "virtio-vsock: malformed packet dropped" <<< "$output")" -eq 4 ]
	[[ "$output" == *"malformed packet dropped: source CID is not the guest's"* ]]
	[[ "$output" == *"malformed packet dropped: length beyond the packet"* ]]
	[[ "$output" == *"ok malformed packets dropped, unknown op gets RST"* ]]
	[[ "$output" == *"ok unknown type gets RST"* ]]
	[[ "$output" == *"device stopped: transmit packet without a header"* ]]
	[[ "$output" == *"device stopped: malformed transmit queue"* ]]
	[[ "$output" == *"device stopped: receive buffer smaller than a header"* ]]
	[[ "$output" == *"ok works again after another reset"* ]]
}

@test "vsock: the device follows the drives, found by scanning the slots" {
	head -c 65536 /dev/zero > "$TMP/disk.img"
	run vm --kernel "$GUESTS/vsock.elf" --drive "$TMP/disk.img" \
	    --vsock "$SOCK" --cid 77 --cmdline mode=4 -vv
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"virtio_mmio.device=4K@0xd0001000:6"* ]]
	[[ "$output" == *"guest cid 77"* ]]
	[[ "$output" == *"ok every packet addressed to this guest"* ]]
}

@test "vsock: without --vsock the guest finds no vsock device" {
	run vm --kernel "$GUESTS/vsock.elf" --cmdline mode=4
	[ "$status" -eq 100 ]
	[[ "$output" == *"no virtio-vsock device"* ]]
}

# Every fd open at exit must be one vmrun inherited.
valgrind_clean() {
	[[ "$1" == *"All heap blocks were freed"* ]] || return 1
	leaked=$(grep -A1 'Open file descriptor' <<< "$1" |
	    grep -vE 'Open file descriptor|inherited from parent|^--$' || true)
	[ -z "$leaked" ]
}

# Without the seccomp filters, which valgrind cannot run (t/vmrun.bats).
@test "vsock: valgrind: no errors, leaks or fds left by connections and resets" {
	host_server "${SOCK}_1234" echo
	run valgrind --leak-check=full --show-leak-kinds=all \
	    --errors-for-leak-kinds=all --track-fds=yes --error-exitcode=99 \
	    "$VMRUN" --no-seccomp --kernel "$GUESTS/vsock.elf" --vsock "$SOCK" --cmdline mode=1
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok echo intact"* ]]
	valgrind_clean "$output"
	run valgrind --leak-check=full --show-leak-kinds=all \
	    --errors-for-leak-kinds=all --track-fds=yes --error-exitcode=99 \
	    "$VMRUN" --no-seccomp --kernel "$GUESTS/vsock.elf" --vsock "$SOCK" --cmdline mode=5
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok works again after another reset"* ]]
	valgrind_clean "$output"
}

# Issue 14, defect 4: Linux close() right after a large write sends
# SHUTDOWN(SEND|RCV) while the device still holds bytes for the host; it
# used to free them (228 544 of 256 000 arrived).  The host program takes
# nothing until the guest has closed: the guest's second connection, made
# after close(), tells it so, and carries the count back to the guest.
@test "vsock: a Linux guest's close() after 256000 bytes: every byte arrives" {
	[ -f "$ROOT/build/vmlinux" ] || { echo "build/vmlinux missing: make kernel"; return 1; }
	[ -f "$ROOT/build/rootfs.ext4" ] || { echo "build/rootfs.ext4 missing: make rootfs"; return 1; }
	python3 - "$SOCK" > "$TMP/host.log" 2>&1 3>&- <<'PY' &
import os, socket, sys
def listen(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path + ".tmp")
    s.listen(1)
    os.rename(path + ".tmp", path)
    return s
data_l, done_l = listen(sys.argv[1] + "_1300"), listen(sys.argv[1] + "_1301")
data, _ = data_l.accept()
done, _ = done_l.accept()		# the guest has closed the first one
got = b""
while True:
    b = data.recv(65536)
    if not b:
        break
    got += b
intact = got == bytes(i % 251 for i in range(256000))
msg = "host got %d bytes, %s" % (len(got), "intact" if intact else "not intact")
print(msg)
done.sendall(msg.encode())
done.close()
PY
	SERVER=$!
	wait_socket "${SOCK}_1301"
	run timeout --kill-after=10 900 "$VMRUN" --kernel "$ROOT/build/vmlinux" \
	    --rootfs "$ROOT/build/rootfs.ext4" --mem 256 --vsock "$SOCK" \
	    --console "$TMP/console" --append "snapvm.run=\"python3 -c 'import socket; s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM); s.connect((2, 1300)); s.sendall(bytes(i % 251 for i in range(256000))); s.close(); t = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM); t.connect((2, 1301)); print(t.recv(100).decode())'\""
	echo "$output"
	cat "$TMP/console"
	cat "$TMP/host.log"
	[ "$status" -eq 0 ]
	wait "$SERVER"
	SERVER=
	[ "$(cat "$TMP/host.log")" = "host got 256000 bytes, intact" ]
	tr -d '\r' < "$TMP/console" | grep -qx "host got 256000 bytes, intact"
}
