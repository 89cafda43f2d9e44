#!/usr/bin/env bats
# bats file_tags=kvm
# Snapshots of the freestanding guest snap.elf (t/guest/snap.c): full and
# diff round trips, and every way a snapshot is refused.
load helpers

SNAPRESTORE="$ROOT/bin/snaprestore"

setup() {
	export XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
	BASE="$BATS_TEST_TMPDIR/base"
	DIFF="$BATS_TEST_TMPDIR/diff"
}

restore() {
	timeout --kill-after=5 60 "$SNAPRESTORE" "$@"
}

make_base() {
	vm --kernel "$GUESTS/snap.elf" --mem 32 --dump-dir "$BASE"
}

make_diff() {
	make_base
	vm --load-dir "$BASE" --dump-dir "$DIFF" > /dev/null
}

@test "vmrun --dump-dir writes a full snapshot at the guest's checkpoint and exits 0" {
	run make_base
	[ "$status" -eq 0 ]
	[ -z "$output" ]	# stopped before the guest printed anything
	for f in manifest.json state memory; do [ -f "$BASE/$f" ]; done
	[ ! -e "$BASE/pages" ]
	grep -q '"kind": "full"' "$BASE/manifest.json"
	grep -q '"point": "runtime"' "$BASE/manifest.json"
	[ "$(stat -c %s "$BASE/memory")" -eq $((32 << 20)) ]
	# sparse: far less than 32 MiB on disk
	[ "$(du -k "$BASE/memory" | cut -f1)" -lt 1024 ]
	ls "$BATS_TEST_TMPDIR" | { ! grep -q tmp; }
}

@test "snaprestore resumes right after the checkpoint: memory, UART and stack intact" {
	make_base
	run restore --load-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"restores 1"* ]]
	[[ "$output" == *"ok memory after checkpoint 1"* ]]
	[[ "$output" == *"ok uart scratch register"* ]]
	[[ "$output" == *"ok uart line control"* ]]
	[[ "$output" == *"ok stack variable"* ]]
	[[ "$output" == *"ok registers r12-r15"* ]]
	[[ "$output" == *"ok area 2"* ]]
	[[ "$output" != *FAIL* ]]
}

@test "two restores of one snapshot run the same guest independently" {
	make_base
	run restore --load-dir "$BASE"
	[ "$status" -eq 0 ]
	run restore --load-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok memory after checkpoint 1"* ]]
}

@test "a diff snapshot holds only the pages written since the restore" {
	make_diff
	grep -q '"kind": "diff"' "$DIFF/manifest.json"
	grep -q "\"parent\": \"$(sed -n 's/.*"id": "\(.*\)".*/\1/p' "$BASE/manifest.json")\"" \
	    "$DIFF/manifest.json"
	pages=$(python3 -c "import sys; print(sum(bin(b).count('1') for b in open(sys.argv[1], 'rb').read()))" "$DIFF/pages")
	# 16 pages of data plus a few of stack and page tables; not thousands
	[ "$pages" -ge 16 ]
	[ "$pages" -lt 64 ]
}

@test "base plus diff restores the guest after checkpoint 2 with both layers' memory" {
	make_diff
	run restore --load-dir "$BASE,$DIFF"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok changed half of area 1"* ]]
	[[ "$output" == *"ok unchanged half of area 1"* ]]
	[[ "$output" == *"ok area 2"* ]]
	[[ "$output" != *"ok stack variable"* ]]	# resumed past checkpoint 1
	[[ "$output" != *FAIL* ]]
}

@test "a snapshot of another format version is refused, naming the file" {
	make_base
	sed -i 's/"version": [0-9]*/"version": 99/' "$BASE/manifest.json"
	run restore --load-dir "$BASE"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$BASE/manifest.json: snapshot format version 99"* ]]
}

@test "a truncated memory file is refused before the VM runs" {
	make_base
	truncate -s 1M "$BASE/memory"
	run restore --load-dir "$BASE"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$BASE/memory"*"truncated"* ]]
	[[ "$output" != *restores* ]]
}

@test "a corrupted state file is refused: checksum mismatch" {
	make_base
	printf '\x55' | dd of="$BASE/state" bs=1 seek=200 conv=notrunc 2> /dev/null
	run restore --load-dir "$BASE"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$BASE/state: SHA-256"*"corrupted"* ]]
}

@test "a diff on another base is refused" {
	make_diff
	other="$BATS_TEST_TMPDIR/other"
	vm --kernel "$GUESTS/snap.elf" --mem 32 --dump-dir "$other"
	! cmp -s "$other/state" "$BASE/state"	# its own clock and registers
	run restore --load-dir "$other,$DIFF"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$DIFF: this diff was made on layer"* ]]
	run restore --load-dir "$DIFF"
	[ "$status" -eq 65 ]
	[[ "$output" == *"cannot be the bottom layer"* ]]
}

@test "a memory size that does not match is refused" {
	make_base
	run restore --load-dir "$BASE" --mem 64
	[ "$status" -eq 65 ]
	[[ "$output" == *"memory size 32 MiB, --mem asks for 64"* ]]
}

@test "a snapshot that cannot be written leaves nothing behind and exits 73" {
	run vm --kernel "$GUESTS/snap.elf" --mem 32 --dump-dir "$BATS_TEST_TMPDIR/no/such/dir"
	[ "$status" -eq 73 ]
	[ ! -e "$BATS_TEST_TMPDIR/no" ]
}

@test "writing over an existing snapshot replaces it whole" {
	make_base
	old=$(cat "$BASE/manifest.json")
	make_base
	[ "$(cat "$BASE/manifest.json")" != "$old" ]
	run restore --load-dir "$BASE"
	[ "$status" -eq 0 ]
	ls "$BATS_TEST_TMPDIR" | { ! grep -q tmp; }
}

@test "snaprestore: usage errors" {
	run restore
	[ "$status" -eq 64 ]
	[[ "$output" == *"--load-dir DIR is required"* ]]
	run restore --load-dir "$BATS_TEST_TMPDIR/none"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$BATS_TEST_TMPDIR/none/manifest.json"* ]]
	run restore --load-dir x --kernel y
	[ "$status" -eq 64 ]
}

@test "snaprestore --check-only restores nothing it runs: no vCPU starts, exit 0; only with --load-dir" {
	make_base
	run restore --load-dir "$BASE" --check-only
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"restores 1"* ]]	# the guest printed nothing
	run restore --check-only
	[ "$status" -eq 64 ]
	run restore --load-dir "$BASE" --check-only --record-workset "$BATS_TEST_TMPDIR/ws"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--check-only"* ]]
}

# The CPU a layer's guest had (issue: guest CPU, part 3).

@test "a layer records its template and each vCPU's CPUID; a restored guest has exactly the CPUID it had, and its diff records the same" {
	vm --kernel "$GUESTS/snap.elf" --mem 32 --vcpus 2 --cpu-template x86-64-v2 \
	    --dump-dir "$BASE"
	grep -A2 '"cpu"' "$BASE/manifest.json" | grep -q '"template": "x86-64-v2"'
	grep -q '"version": 4' "$BASE/manifest.json"
	vm --load-dir "$BASE" --dump-dir "$DIFF" > /dev/null
	grep -A2 '"cpu"' "$DIFF/manifest.json" | grep -q '"template": "x86-64-v2"'
	"$ROOT/t/cpuid_edit.py" dump "$BASE" > "$BATS_TEST_TMPDIR/base.json"
	"$ROOT/t/cpuid_edit.py" dump "$DIFF" > "$BATS_TEST_TMPDIR/diff.json"
	python3 - "$BATS_TEST_TMPDIR/base.json" "$BATS_TEST_TMPDIR/diff.json" <<'PY'
import json, sys
base, diff = (json.load(open(f)) for f in sys.argv[1:])
assert sorted(base) == ["0", "1"], sorted(base)	# one per vCPU
leaf7 = [e for e in base["0"] if e["leaf"] == 7 and e["subleaf"] == 0]
assert leaf7 and not leaf7[0]["ebx"] >> 5 & 1, leaf7	# x86-64-v2: no AVX2
apic = [e["ebx"] >> 24 for v in "01" for e in base[v] if e["leaf"] == 1]
assert apic == [0, 1], apic
assert base == diff, "the restored guest's CPUID differs from its snapshot's"
PY
}

@test "a layer made with one CPU template is refused with another, naming both (78); with its own it restores" {
	make_base
	run restore --load-dir "$BASE" --cpu-template x86-64-v2
	echo "$output"
	[ "$status" -eq 78 ]
	[[ "$output" == *"$BASE: made with CPU template host; --cpu-template x86-64-v2 is refused"* ]]
	[[ "$output" != *"restores 1"* ]]
	run restore --load-dir "$BASE" --cpu-template host
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok memory after checkpoint 1"* ]]
}

@test "a layer whose guest had a CPU feature this host lacks is refused, naming the feature (69)" {
	make_base
	feature=$("$ROOT/t/cpuid_edit.py" add-missing "$BASE")
	echo "added $feature"
	! grep -qw "$feature" /proc/cpuinfo
	run restore --load-dir "$BASE" --check-only
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"$BASE/state: vCPU 0: this host cannot give the guest the CPU it had: 1 feature missing: $feature"* ]]
	run restore --load-dir "$BASE"
	[ "$status" -eq 69 ]
	[[ "$output" != *"restores 1"* ]]
}

@test "a diff whose CPU template is not its base's is refused" {
	make_diff
	sed -i 's/"template": "host"/"template": "x86-64-v3"/' "$DIFF/manifest.json"
	run restore --load-dir "$BASE,$DIFF"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$DIFF: CPU template x86-64-v3, but the layer below ($BASE) has host"* ]]
}
