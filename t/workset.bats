#!/usr/bin/env bats
# Working sets (snapvm-snapshot(5), workset) without a VM: added to a
# layer from a page bitmap by snaprestore --add-workset, checked and read
# in by a restore, refused when corrupt or made on another stack.  Layers
# come from t/fakesnap.py; a restore that passes every check stops at
# opening the console (status 73), after the working set was read in.
# t/snaplinux.bats records one from a real guest.

load helpers

SNAPRESTORE="$ROOT/bin/snaprestore"

setup() {
	TMP="$BATS_TEST_TMPDIR"
	fake_layers
}

# bits FILE PAGE...: a page bitmap of the fake layers' 16 MiB with PAGEs set.
bits() {
	python3 - "$@" <<'PY'
import sys
b = bytearray(16 * 256 // 8)
for p in sys.argv[2:]:
    b[int(p) // 8] |= 1 << (int(p) % 8)
open(sys.argv[1], "wb").write(b)
PY
}

# Pages 0-2 and 5 (one run: gaps of up to 4 pages are read with it), 100,
# and some of the diff's own pages (its bitmap's first set bits).
diff_pages() {
	python3 - "$TMP/diff/pages" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
print(*[i for i in range(len(b) * 8) if b[i // 8] >> (i % 8) & 1][:3])
PY
}

add() {
	run "$SNAPRESTORE" -v --load-dir "$STACK" --add-workset "$TMP/bits"
	echo "$output"
	[ "$status" -eq 0 ]
}

# reseal DIR: the workset's size and SHA-256 in the manifest again, as an
# attacker who can write the layer would leave them.
reseal() {
	manifest_edit "$1" '
import hashlib, os
w = sys.argv[1] + "/workset"
m["files"]["workset"] = {"size": os.path.getsize(w),
    "sha256": hashlib.sha256(open(w, "rb").read()).hexdigest()}'
}

@test "--add-workset lays out the chosen pages with the contents the layers give them" {
	bits "$TMP/bits" 0 1 2 5 100 $(diff_pages) 4095
	ino=$(stat -c %i "$TMP/diff/memory")
	add
	[[ "$output" == *"$TMP/diff: working set of"*"runs added"* ]]
	# The layer was replaced in one step: the same files (linked), a
	# version 3 manifest naming the new one; nothing left beside it.
	[ "$(stat -c %i "$TMP/diff/memory")" = "$ino" ]
	[ "$(ls "$TMP" | grep -c 'diff.tmp')" -eq 0 ]
	python3 - "$TMP/base" "$TMP/diff" $(diff_pages) <<'PY'
import hashlib, json, struct, sys
base, diff = sys.argv[1:3]
m = json.load(open(diff + "/manifest.json"))
w = open(diff + "/workset", "rb").read()
assert m["version"] == 3, m["version"]
assert m["files"]["workset"] == {"size": len(w),
    "sha256": hashlib.sha256(w).hexdigest()}, m["files"]
magic, ver, nl, nr, res, npages, off = struct.unpack_from("<8sIIIIQQ", w)
assert (magic, ver, nl, res) == (b"SNAPVMWS", 1, 2, 0), (magic, ver, nl)
ids = [w[64 + 64 * i:64 + 64 * i + 32].hex() for i in range(nl)]
mems = [w[96 + 64 * i:96 + 64 * i + 32].hex() for i in range(nl)]
layers = [json.load(open(d + "/manifest.json")) for d in (base, diff)]
assert ids == [l["id"] for l in layers], ids
assert mems == [l["files"]["memory"]["sha256"] for l in layers], mems
runs = [struct.unpack_from("<QQ", w, 64 + 64 * nl + 16 * i) for i in range(nr)]
pages = [p for f, c in runs for p in range(f, f + c)]
want = set([0, 1, 2, 5, 100, 4095] + [int(p) for p in sys.argv[3:]])
assert want <= set(pages) and pages == sorted(pages), (runs, want)
assert (0, 6) in runs, runs		# 3 and 4 read with their neighbours
assert npages == len(pages) and off % 4096 == 0 and len(w) == off + 4096 * npages
dbits = open(diff + "/pages", "rb").read()
mem = {d: open(d + "/memory", "rb").read() for d in (base, diff)}
for i, p in enumerate(pages):
    src = diff if dbits[p // 8] >> (p % 8) & 1 else base
    got = w[off + 4096 * i:off + 4096 * (i + 1)]
    assert got == mem[src][4096 * p:4096 * (p + 1)], (p, src)
PY
}

@test "a restore reads a layer's working set in and goes on; the layer without one still restores" {
	run fake_restore
	at_console
	bits "$TMP/bits" 0 1 2 5 100 $(diff_pages)
	add
	run fake_restore --timings
	at_console
	# Adding one again replaces it.
	bits "$TMP/bits" 7
	add
	[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"]["workset"]["size"])' "$TMP/diff/manifest.json")" -eq 8192 ]
	run fake_restore
	at_console
}

@test "a corrupted or truncated working set is refused, naming the file" {
	bits "$TMP/bits" 0 1 2 100
	add
	cp "$TMP/diff/workset" "$TMP/good"
	printf 'X' | dd of="$TMP/diff/workset" bs=1 seek=5000 conv=notrunc 2> /dev/null
	run fake_restore
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/diff/workset: SHA-256 "*"does not match the manifest's"*"(corrupted)"* ]]
	head -c 8192 "$TMP/good" > "$TMP/diff/workset"
	run fake_restore
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/diff/workset: 8192 bytes, the manifest says"* ]]
}

@test "a working set resealed by whoever can write the layer is still checked field by field" {
	bits "$TMP/bits" 0 1 2 100
	add
	cp "$TMP/diff/workset" "$TMP/good"
	# Each case: an offset, bytes XORed in there, what the message names.
	while IFS=' ' read -r off mask want; do
		python3 - "$TMP/good" "$TMP/diff/workset" "$off" "$mask" <<'PY'
import sys
w = bytearray(open(sys.argv[1], "rb").read())
off, mask = int(sys.argv[3]), bytes.fromhex(sys.argv[4])
for i, b in enumerate(mask):
    w[off + i] ^= b
open(sys.argv[2], "wb").write(w)
PY
		reseal "$TMP/diff"
		run fake_restore
		echo "$off: $output"
		[ "$status" -eq 65 ]
		[[ "$output" == *"$TMP/diff/workset: $want"* ]]
	done <<'EOF'
0 01 not a working set
8 03 working set version 2
12 0b field nlayers: 9, 1 to 8
16 02 field nruns: 0
24 ffffffffffffff7f field npages
32 0030 field data_off: 8192, the tables end at 4096
40 01 reserved header bytes are not zero
64 ff made on layer
96 ff made on layer
192 0010 run 0 (page 4096, 3 pages)
200 00010000 run 1 (page 100, 1 pages)
216 01 run 1 (page 100, 0 pages)
216 03 the runs hold 5 pages, field npages says 4
224 01 the padding before the pages is not zero
EOF
}

@test "a working set made on another stack is refused as stale" {
	bits "$TMP/bits" 0 1 2 100
	add
	# The same diff on a base rebuilt with other memory: the diff's
	# parent id (the base's state) still matches, its memory does not.
	python3 - "$TMP/base" <<'PY'
import hashlib, json, sys
d = sys.argv[1]
with open(d + "/memory", "r+b") as f:
    f.seek(4096 * 9)
    f.write(b"rebuilt")
m = json.load(open(d + "/manifest.json"))
m["files"]["memory"]["sha256"] = hashlib.sha256(open(d + "/memory", "rb").read()).hexdigest()
json.dump(m, open(d + "/manifest.json", "w"))
PY
	run fake_restore
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/diff/workset: made on layer "*"as layer 0, the stack has"*"(stale working set)"* ]]
	# One layer fewer: a working set of the diff's stack on the base alone.
	cp "$TMP/diff/workset" "$TMP/base/workset"
	reseal "$TMP/base"
	manifest_edit "$TMP/base" 'm["version"] = 3'
	run timeout 60 "$SNAPRESTORE" --console "$NOCONSOLE" --load-dir "$TMP/base" \
	    --rootfs "$TMP/rootfs.img" --appfs "$TMP/app.img" < /dev/null
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/base/workset: made on a stack of 2 layers, restored on 1 (stale working set)"* ]]
}

@test "a version 2 manifest cannot name a working set; version 3 may omit it" {
	bits "$TMP/bits" 3
	add
	manifest_edit "$TMP/diff" 'm["version"] = 2'
	run fake_restore
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/diff/manifest.json: files: \"workset\" appears in format version 3 and later"* ]]
	manifest_edit "$TMP/diff" 'm["version"] = 3; del m["files"]["workset"]'
	rm "$TMP/diff/workset"
	run fake_restore
	at_console
	manifest_edit "$TMP/diff" 'm["files"]["workset"] = {"size": 4096, "sha256": "0" * 64}'
	run fake_restore
	[ "$status" -eq 65 ]
	[[ "$output" == *"files.workset.size: 4096 bytes is not the size of a working set"* ]]
}

@test "--add-workset refuses a bitmap of the wrong size, an empty one, a bad stack, and leaves the layer as it was" {
	cp "$TMP/diff/manifest.json" "$TMP/before"
	head -c 100 /dev/zero > "$TMP/bits"
	run "$SNAPRESTORE" --load-dir "$STACK" --add-workset "$TMP/bits"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/bits: 100 bytes, a page bitmap of this memory has 512"* ]]
	bits "$TMP/bits"
	run "$SNAPRESTORE" --load-dir "$STACK" --add-workset "$TMP/bits"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/bits: no page is set"* ]]
	bits "$TMP/bits" 1
	run "$SNAPRESTORE" --load-dir "$TMP/diff" --add-workset "$TMP/bits"
	[ "$status" -eq 65 ]
	[[ "$output" == *"a diff snapshot cannot be the bottom layer"* ]]
	printf 'X' | dd of="$TMP/diff/memory" bs=1 seek=100 conv=notrunc 2> /dev/null
	run "$SNAPRESTORE" --load-dir "$STACK" --add-workset "$TMP/bits"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/diff/memory: SHA-256"*"(corrupted)"* ]]
	cmp "$TMP/before" "$TMP/diff/manifest.json"
	[ ! -e "$TMP/diff/workset" ]
	[ "$(ls "$TMP" | grep -c 'diff.tmp')" -eq 0 ]
	run "$SNAPRESTORE" --add-workset "$TMP/bits"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--load-dir DIR is required"* ]]
	run "$ROOT/bin/vmrun" --kernel /dev/null --add-workset "$TMP/bits"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--add-workset is about snapshot layers: it needs --load-dir"* ]]
}
