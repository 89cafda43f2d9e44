#!/usr/bin/env bats
# bats file_tags=kvm
# virtio-mmio and virtio-blk, driven by the freestanding vblk.elf guest.

load helpers

setup() {
	TMP="$(mktemp -d)"
	python3 -c "
b = bytearray(65536); b[0:24] = b'snapvm disk sector zero\0'
open('$TMP/disk.img', 'wb').write(b)"
}

teardown() {
	rm -rf "$TMP"
}

@test "virtio-blk: read, write, flush, get-id on a writable drive" {
	run vm --kernel "$GUESTS/vblk.elf" --drive "$TMP/disk.img,rw"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"sector 0: snapvm disk sector zero"* ]]
	[ "$(dd if="$TMP/disk.img" bs=512 skip=2 count=1 2>/dev/null | head -c 16)" = "written by guest" ]
}

@test "virtio-blk: a read-only drive refuses writes and is not changed" {
	before=$(sha256sum < "$TMP/disk.img")
	run vm --kernel "$GUESTS/vblk.elf" --drive "$TMP/disk.img" --cmdline ro=1
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok write refused"* ]]
	[ "$(sha256sum < "$TMP/disk.img")" = "$before" ]
}

@test "virtio-blk: --rootfs is the first drive and read-only by default" {
	run vm --kernel "$GUESTS/vblk.elf" --rootfs "$TMP/disk.img" --cmdline ro=1
	[ "$status" -eq 0 ]
	run vm --kernel "$GUESTS/vblk.elf" --rootfs "$TMP/disk.img,rw" \
	    --drive "$ROOT/README.md"
	[ "$status" -eq 0 ]
}

@test "virtio-blk: loops and wild buffers stop the device, not vmrun" {
	run vm --kernel "$GUESTS/vblk.elf" --drive "$TMP/disk.img,rw"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok descriptor loop stops the device"* ]]
	[[ "$output" == *"ok read after reset"* ]]
	[[ "$output" == *"ok buffer outside RAM stops the device"* ]]
	[[ "$output" == *"device stopped: malformed request queue"* ]]
}

# Waits until file $1 has a line matching $2 or process $3 is gone; $4
# seconds is a backstop for a stuck VM, not a measure.
wait_line() {
	local end=$((SECONDS + $4))
	while [ "$SECONDS" -lt "$end" ]; do
		grep -q "$2" "$1" 2> /dev/null && return 0
		kill -0 "$3" 2> /dev/null || return 1
		sleep 0.2
	done
	return 1
}

@test "virtio-blk: a guest that makes a ring loop cannot hold the device; SIGTERM stops the VM" {
	"$VMRUN" --kernel "$GUESTS/vblk.elf" --drive "$TMP/disk.img,rw" \
	    --cmdline spin=1 --console "$TMP/console" 2> "$TMP/err" &
	pid=$!
	wait_line "$TMP/console" "^ring loop made" "$pid" 900 || true
	wait_line "$TMP/console" "^halting" "$pid" 120 || true
	kill -TERM "$pid"
	rc=0
	end=$((SECONDS + 60))
	while kill -0 "$pid" 2> /dev/null && [ "$SECONDS" -lt "$end" ]; do
		sleep 0.2
	done
	kill -KILL "$pid" 2> /dev/null && echo "vmrun did not stop on SIGTERM"
	wait "$pid" || rc=$?
	cat "$TMP/console"
	uniq -c "$TMP/err" | tail -n 20
	[ "$rc" -eq 143 ]
	grep -q "^ok NEEDS_RESET stays until a reset" "$TMP/console"
	grep -q "^ok the device stays stopped" "$TMP/console"
	# said once, not once per attempt
	[ "$(grep -c "device stopped: request without header or status" "$TMP/err")" -eq 1 ]
}

@test "virtio-blk: missing or unusable drive files are refused by name" {
	run "$VMRUN" --kernel "$GUESTS/vblk.elf" --drive /nonexistent/disk.img
	[ "$status" -eq 66 ]
	[[ "$output" == *"/nonexistent/disk.img: No such file or directory"* ]]
	run "$VMRUN" --kernel "$GUESTS/vblk.elf" --rootfs "$TMP"
	[ "$status" -eq 66 ]
	[[ "$output" == *"$TMP: not a regular file"* ]]
}

@test "virtio-blk: no drive, no device at the first MMIO slot" {
	run vm --kernel "$GUESTS/vblk.elf"
	[ "$status" -eq 100 ]
}

@test "the kernel command line names every virtio-mmio device" {
	run vm --kernel "$GUESTS/exit.elf" --rootfs "$TMP/disk.img" \
	    --drive "$TMP/disk.img" -vv
	[ "$status" -eq 0 ]
	[[ "$output" == *"virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6"* ]]
	[[ "$output" == *"root=/dev/vda ro"* ]]
}
