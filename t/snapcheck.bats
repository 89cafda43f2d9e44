#!/usr/bin/env bats
# What snaprestore checks in a layer before KVM is touched, on any host:
# no VM runs here.  Layers come from t/fakesnap.py (a well-formed state,
# drives recorded by content) and are then crafted as an attacker who
# controls a layer in a shared store would.  A layer that passes every
# check gets as far as opening the console, which is made to fail
# (status 73), so that nothing depends on whether /dev/kvm exists.

load helpers

SNAPRESTORE="$ROOT/bin/snaprestore"

setup() {
	TMP="$BATS_TEST_TMPDIR"
	fake_layers
	head -c 32768 /dev/urandom > "$TMP/other.img"
	# A host file whose contents anyone may know: what a crafted layer
	# would try to attach.
	printf 'root:x:0:0:root:/root:/bin/bash\n' > "$TMP/host-file"
}

# restore ARG...: snaprestore, stopped at the console if all checks pass.
restore() {
	timeout --kill-after=5 60 "$SNAPRESTORE" --console "$NOCONSOLE" "$@" \
	    < /dev/null
}

# state DIR PYTHON: runs PYTHON with secs, the state's sections as a list
# of [type, index, bytearray], then writes the state back and makes DIR a
# consistent full layer again (sizes, SHA-256, id).
state() {
	python3 - "$1" "$2" <<'PY'
import hashlib, json, struct, sys
d = sys.argv[1]
raw = open(d + "/state", "rb").read()
n = struct.unpack_from("<I", raw, 12)[0]
secs, off = [], 16
for _ in range(n):
    t, i, size, _r = struct.unpack_from("<IIII", raw, off)
    off += 16
    secs.append([t, i, bytearray(raw[off:off + size])])
    off += (size + 7) & ~7
exec(sys.argv[2])
out = b"SNAPVMST" + struct.pack("<II", 1, len(secs))
for t, i, data in secs:
    out += struct.pack("<IIII", t, i, len(data), 0) + bytes(data)
    out += b"\0" * (-len(data) % 8)
open(d + "/state", "wb").write(out)
m = json.load(open(d + "/manifest.json"))
h = hashlib.sha256(out).hexdigest()
m["files"]["state"] = {"size": len(out), "sha256": h}
m["id"] = h
json.dump(m, open(d + "/manifest.json", "w"))
PY
}

sha() {
	sha256sum < "$1" | cut -d' ' -f1
}

@test "a well-formed layer passes every check; its drives are the caller's files" {
	run restore --load-dir "$TMP/base,$TMP/diff" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img"
	at_console
	run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/other.img"
	at_console
}

@test "a version 1 layer naming a host file for a drive is refused, with how to rebuild it" {
	# The attack on version 1: the root drive's path, contents and
	# write access from the manifest, the caller naming no drive.
	manifest_edit "$TMP/base" '
import hashlib
f = sys.argv[1] + "/../host-file"
data = open(f, "rb").read()
m["version"] = 1
m["drives"] = [{"path": f, "size": len(data), "read_only": False,
                "sha256": hashlib.sha256(data).hexdigest()}]'
	run restore --load-dir "$TMP/base"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/base/manifest.json: snapshot format version 1, which named host files for its drives"*"rebuild the layer (make snap; ctrl rebuilds its own)"* ]]
	# The same in a version 2 manifest: no such field.
	manifest_edit "$TMP/base" 'm["version"] = 2'
	run restore --load-dir "$TMP/base"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/base/manifest.json: drives[0]: unknown field \"path\""* ]]
}

@test "every drive comes from the caller: one not named is refused with the flag and the layer's hash" {
	run restore --load-dir "$TMP/base,$TMP/diff" --appfs "$TMP/app.img"
	echo "$output"
	[ "$status" -eq 64 ]
	[[ "$output" == *"$TMP/diff: drive 0 is not named: give its file with --rootfs (the layer's drive has SHA-256 $(sha "$TMP/rootfs.img"), 65536 bytes)"* ]]
	run restore --load-dir "$TMP/base,$TMP/diff" --rootfs "$TMP/rootfs.img"
	[ "$status" -eq 64 ]
	[[ "$output" == *"drive 1 is not named: give its file with --appfs"* ]]
	run restore --load-dir "$TMP/base,$TMP/diff" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img" --drive "$TMP/other.img"
	[ "$status" -eq 64 ]
	[[ "$output" == *"the layer has 2 drives; --drive names drive 2"* ]]
}

@test "a drive of other contents is refused, naming the drive and both hashes; a missing one 66" {
	run restore --load-dir "$TMP/base,$TMP/diff" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/other.img"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/other.img: not drive 1 (--appfs) of $TMP/diff: the file has SHA-256 $(sha "$TMP/other.img") (32768 bytes), the layer's drive $(sha "$TMP/app.img") (32768 bytes)"* ]]
	run restore --load-dir "$TMP/base,$TMP/diff" --rootfs "$TMP/none.img" \
	    --appfs "$TMP/app.img"
	[ "$status" -eq 66 ]
	[[ "$output" == *"$TMP/none.img: cannot open drive 0 (--rootfs)"* ]]
}

@test "no drive gets more access than the caller gives, nor less than the guest had" {
	# The base as a VM whose root drive was writable leaves it.
	manifest_edit "$TMP/base" 'm["drives"][0]["read_only"] = False'
	state "$TMP/base" '
for s in secs:
    if s[0] == 0x32 and s[1] == 0:
        s[2][8] = 0'
	run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/rootfs.img: drive 0 (--rootfs) was read-write when $TMP/base was taken; it is given read-only (add ,rw to grant writes)"* ]]
	run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img,rw" \
	    --appfs "$TMP/app.img"
	at_console
	run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img,rw" \
	    --appfs "$TMP/app.img,rw"
	[ "$status" -eq 65 ]
	[[ "$output" == *"drive 1 (--appfs) was read-only"*"it is given read-write"* ]]
}

@test "a layer at the runtime point takes any app drive, but only one the caller names" {
	run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img"
	echo "$output"
	[ "$status" -eq 64 ]
	[[ "$output" == *"$TMP/base: drive 1 is not named: give an app image with --appfs"* ]]
	run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/host-file"
	at_console
}

@test "a layer's network device needs a tap from --net: the tap it names is never opened" {
	# The device of a machine that had a network device on tap "victim0".
	state "$TMP/base" '
secs.append([0x31, 3, bytearray(160)])
secs.append([0x34, 0, bytearray(struct.pack("<IH6B", 1, 1, 2, 0x53, 0, 0, 0, 3))])
secs.append([0x35, 0, bytearray(b"victim0".ljust(16, b"\0"))])'
	run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img"
	echo "$output"
	[ "$status" -eq 64 ]
	[[ "$output" == *"$TMP/base: the snapshot has a network device: name its tap with --net (it was taken on \"victim0\")"* ]]
	run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img" --net tap9
	at_console
}

@test "a diff recording other drives than the layer it was made on is refused" {
	manifest_edit "$TMP/diff" 'm["drives"][0]["sha256"] = "0" * 64'
	run restore --load-dir "$TMP/base,$TMP/diff" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/diff: drive 0 is not the one of $TMP/base, the layer it was made on"* ]]
}

@test "numbers no machine has, and unknown fields, are refused naming the field" {
	cp -r "$TMP/base" "$TMP/orig"
	try() {		# try PYTHON MESSAGE
		rm -rf "$TMP/base"
		cp -r "$TMP/orig" "$TMP/base"
		manifest_edit "$TMP/base" "$1"
		run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img" \
		    --appfs "$TMP/app.img"
		echo "$output"
		[ "$status" -eq 65 ]
		[[ "$output" == *"$TMP/base/manifest.json: $2"* ]]
	}
	try 'm["vcpus"] = 0' 'field "vcpus": 0 is out of range (1 to 8)'
	try 'm["vcpus"] = 4096' 'field "vcpus": 4096 is out of range'
	try 'm["mem_mib"] = 65537' 'field "mem_mib": 65537 is out of range'
	try 'm["mem_mib"] = 65536' 'files.memory.size: 16777216 bytes, 68719476736 for 65536 MiB'
	try 'm["vsock_cid"] = 2' 'field "vsock_cid": 2 is out of range'
	try 'm["point"] = "/etc/passwd"' 'field "point": neither "runtime" nor "app"'
	try 'm["kernel"] = "/boot/vmlinuz"' 'unknown field "kernel"'
	try 'm["files"]["state"]["size"] = 1 << 40' 'files.state.size'
}

@test "a state file's sections are checked before KVM: counts, sizes, duplicates" {
	cp -r "$TMP/base" "$TMP/orig"
	try() {		# try PYTHON MESSAGE
		rm -rf "$TMP/base"
		cp -r "$TMP/orig" "$TMP/base"
		state "$TMP/base" "$1"
		run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img" \
		    --appfs "$TMP/app.img"
		echo "$output"
		[ "$status" -eq 65 ]
		[[ "$output" == *"$TMP/base/state: $2"* ]]
	}
	msrs='[s for s in secs if s[0] == 0x14][0]'
	try "$msrs[2] += bytes(16 * 300)" 'section 0x14 (MSRs) 0: field nmsrs: 303, expected 1 to 256'
	try "$msrs[2] += bytes(8)" 'section 0x14 (MSRs) 0: field size: 56 bytes is not a whole number'
	try "$msrs[2][16:20] = $msrs[2][0:4]" 'section 0x14 (MSRs) 0: field index: MSR 0x10 twice'
	try 'secs.append([0x15, 0, bytearray(1024)])' 'section 21 (LAPIC 0): a second section of this type and index'
	try 'secs.append([0x15, 1, bytearray(1024)])' 'section 0x15 (LAPIC) 1: field index: a vCPU the machine lacks'
	try 'secs.append([0x77, 0, bytearray(8)])' 'section 21: field type: unknown type 0x77'
	try '[s for s in secs if s[0] == 0x15][0][2] += bytes(8)' 'section 0x15 (LAPIC) 0: field size: 1032 bytes, expected 1024'
	try '[s for s in secs if s[0] == 0x22][0][2][8:16] = bytes(8)' 'section 0x22 (IOAPIC) 0: field base_address: 0x0'
	try '[s for s in secs if s[0] == 0x23][0][2][0:4] = b"\xff\xff\xff\xff"' 'section 0x23 (PIT) 0: field count: channel 0'
	try 'secs[:] = [s for s in secs if s[0] != 0x32]' 'no section 0x32 (virtio-blk) 0'
	try '[s for s in secs if s[0] == 0x33][0][2][0] = 9' 'section 0x33 (virtio-vsock) 0: field guest_cid: 9, the manifest says 3'
}

@test "a FIFO or a symbolic link in a layer is refused, never waited on or followed" {
	cp -r "$TMP/base" "$TMP/orig"
	rm "$TMP/base/manifest.json"
	mkfifo "$TMP/base/manifest.json"
	run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/base/manifest.json: not a regular file"* ]]
	rm -rf "$TMP/base"
	cp -r "$TMP/orig" "$TMP/base"
	mv "$TMP/base/memory" "$TMP/memory"
	ln -s "$TMP/memory" "$TMP/base/memory"
	run restore --load-dir "$TMP/base" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/base/memory: a symbolic link; a layer's files are its own"* ]]
}

@test "each file of a layer is opened once: what is hashed is what is used" {
	run opens "$TMP/base" "$TMP/diff" -- "$SNAPRESTORE" --console "$NOCONSOLE" \
	    --load-dir "$TMP/base,$TMP/diff" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img"
	echo "$output"
	for f in diff/state diff/pages diff/memory base/state base/memory; do
		grep -qx "$TMP/$f 1" <<< "$output"
	done
}
