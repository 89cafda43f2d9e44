#!/usr/bin/env bats
# bats file_tags=kvm
# Snapshots of the real Linux guest: one cold boot makes the language
# snapshot (scripts/mksnap), every other VM here is restored from it.

load helpers

SNAPRESTORE="$ROOT/bin/snaprestore"

# make check makes build/snap first (the run's one cold boot); run alone,
# the suite makes its own.
setup_file() {
	export XDG_CACHE_HOME="$BATS_FILE_TMPDIR/cache"
	export SNAP="$ROOT/build/snap"
	if [ ! -f "$SNAP/python3/manifest.json" ]; then
		SNAP="$BATS_FILE_TMPDIR/snap"
		"$ROOT/scripts/mksnap" "$SNAP" 2> "$BATS_FILE_TMPDIR/mksnap.log" ||
		    { cat "$BATS_FILE_TMPDIR/mksnap.log" >&3; return 1; }
	fi
	for app in entropy spin; do
		mke2fs -q -t ext2 -L "$app" -d "$ROOT/t/apps/$app" \
		    "$BATS_FILE_TMPDIR/$app.ext2" 1024
	done
}

setup() {
	TMP="$BATS_TEST_TMPDIR"
}

# Every drive is named by the caller: the root filesystem here.
restore() {
	timeout --kill-after=10 300 "$SNAPRESTORE" --rootfs "$ROOT/build/rootfs.ext4" "$@"
}

same_json() {
	python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$1" "$2"
}

field() {	# field JSON-LINE KEY: the member as JSON
	python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])[sys.argv[2]]))' "$1" "$2"
}

@test "the language snapshot: full, at the runtime checkpoint, sparse" {
	grep -q '"kind": "full"' "$SNAP/python3/manifest.json"
	grep -q '"point": "runtime"' "$SNAP/python3/manifest.json"
	[ "$(du -k "$SNAP/python3/memory" | cut -f1)" -lt $((128 * 1024 / 2)) ]
}

@test "every app's diff is a fraction of the base; hello's a small one" {
	base=$(du -k "$SNAP/python3/memory" | cut -f1)
	for d in "$SNAP"/diff/*/; do
		grep -q '"point": "app"' "$d/manifest.json"
		kib=$(du -k "$d/memory" | cut -f1)
		echo "$(basename "$d"): $kib KiB, base $base KiB"
		[ "$kib" -lt $((base / 2)) ]	# digest loads libcrypto: ~1/3
	done
	[ "$(du -k "$SNAP/diff/hello/memory" | cut -f1)" -lt $((base / 5)) ]
}

@test "every app restored from base and diff answers its request.json with its expected.json" {
	for dir in "$ROOT"/appfs/*/; do
		app=$(basename "$dir")
		out=$(tr -d '\n' < "$dir/request.json" | { cat; echo; } |
		    restore --load-dir "$SNAP/python3,$SNAP/diff/$app" \
		    --appfs "$ROOT/build/appfs/$app.ext2" --console "$TMP/$app.console")
		echo "$app: $out"
		[ "$(field "$out" status)" = '"ok"' ]
		same_json "$(field "$out" response)" "$(cat "$dir/expected.json")"
	done
}

@test "a restored VM answers ten requests in order, then exits 0 at EOF" {
	for i in $(seq 1 10); do printf '{"id":%d,"payload":[%d]}\n' "$i" "$i"; done > "$TMP/in"
	rc=0
	restore --load-dir "$SNAP/python3,$SNAP/diff/hello" -v \
	    --appfs "$ROOT/build/appfs/hello.ext2" < "$TMP/in" > "$TMP/out" \
	    2> "$TMP/err" || rc=$?
	cat "$TMP/out" "$TMP/err"
	echo "exit status $rc"
	[ "$rc" -eq 0 ]
	[ "$(wc -l < "$TMP/out")" -eq 10 ]
	for i in $(seq 1 10); do
		sed -n "${i}p" "$TMP/out" | grep -q "^{\"id\":$i,\"status\":\"ok\",\"response\":{\"echo\":\[$i\]}"
	done
}

@test "two restores of one snapshot get different random numbers and the current time" {
	for n in 1 2; do
		echo '{"payload":null}' | restore --load-dir "$SNAP/python3" \
		    --appfs "$BATS_FILE_TMPDIR/entropy.ext2" > "$TMP/out$n"
		cat "$TMP/out$n"
	done
	a=$(cat "$TMP/out1"); b=$(cat "$TMP/out2")
	[ "$(field "$a" status)" = '"ok"' ]
	python3 - "$a" "$b" <<'PY'
import json, sys, time
a, b = (json.loads(x)["response"] for x in sys.argv[1:3])
assert a["urandom"] != b["urandom"], "os.urandom repeated"
assert a["random"] != b["random"], "random.random repeated"
for r in (a, b):
    assert abs(r["time"] - time.time()) < 120, "guest clock is %.0f s off" % (r["time"] - time.time())
PY
}

@test "a diff is refused with another app drive than it was made with" {
	run restore --load-dir "$SNAP/python3,$SNAP/diff/hello" \
	    --appfs "$ROOT/build/appfs/primes.ext2" < /dev/null
	echo "$output"
	[ "$status" -eq 65 ]
	want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["drives"][1]["sha256"])' "$SNAP/diff/hello/manifest.json")
	got=$(sha256sum < "$ROOT/build/appfs/primes.ext2" | cut -d' ' -f1)
	[[ "$output" == *"primes.ext2: not drive 1 (--appfs) of $SNAP/diff/hello: the file has SHA-256 $got"*", the layer's drive $want"* ]]
}

@test "working set: make snap records one per app; a restore reads it in, answers exactly as without it, and records the same pages again" {
	# make snap's: pages from the layers, and far fewer than the guest's.
	for app in hello primes; do
		[ -s "$SNAP/diff/$app/workset" ]
		grep -q '"workset"' "$SNAP/diff/$app/manifest.json"
	done
	[ "$(stat -c %s "$SNAP/diff/hello/workset")" -lt $((64 << 20)) ]
	# A copy of hello's diff without it, to compare with.
	cp -r "$SNAP/diff/hello" "$TMP/plain"
	python3 - "$TMP/plain" <<'PY'
import json, os, sys
p = sys.argv[1] + "/manifest.json"
m = json.load(open(p))
del m["files"]["workset"]
json.dump(m, open(p, "w"))
os.unlink(sys.argv[1] + "/workset")
PY
	req="$ROOT/appfs/hello/request.json"
	restore --load-dir "$SNAP/python3,$SNAP/diff/hello" --timings \
	    --appfs "$ROOT/build/appfs/hello.ext2" < "$req" > "$TMP/with" 2> "$TMP/err"
	restore --load-dir "$SNAP/python3,$TMP/plain" \
	    --appfs "$ROOT/build/appfs/hello.ext2" < "$req" > "$TMP/without"
	cat "$TMP/with" "$TMP/without" "$TMP/err"
	python3 - "$TMP/with" "$TMP/without" "$(grep '^{"timings":' "$TMP/err")" <<'PY'
import json, sys
a, b = (json.loads(open(f).readline()) for f in sys.argv[1:3])
assert a["status"] == "ok" and a["response"] == b["response"], (a, b)
names = [p["phase"] for p in json.loads(sys.argv[3])["timings"]]
assert names.index("workset_read") == names.index("memory_mapped") + 1, names
PY
	# Recorded again (a record reads no working set in: it is of the
	# pages touched), the request needs the pages it needed before.
	restore --load-dir "$SNAP/python3,$SNAP/diff/hello" \
	    --appfs "$ROOT/build/appfs/hello.ext2" --record-workset "$TMP/again" \
	    < "$req" > /dev/null
	python3 - "$TMP/again" "$SNAP/diff/hello/workset" <<'PY'
import struct, sys
bits = open(sys.argv[1], "rb").read()
assert len(bits) == 128 * 256 // 8, len(bits)
touched = {i for i in range(len(bits) * 8) if bits[i // 8] >> (i % 8) & 1}
w = open(sys.argv[2], "rb").read()
nl, nr = struct.unpack_from("<II", w, 12)
runs = [struct.unpack_from("<QQ", w, 64 + 64 * nl + 16 * i) for i in range(nr)]
pages = {p for f, c in runs for p in range(f, f + c)}
print("recorded %d pages, working set %d, in both %d" %
      (len(touched), len(pages), len(touched & pages)))
assert len(touched - pages) < len(touched) / 10, "pages not recorded before"
assert len(pages) < 2 * len(touched), "a working set of pages never touched"
PY
}

@test "a handler that never returns: Timeout error, the VM is stopped, exit 75" {
	printf '%s\n' '{"id":1,"payload":null}' '{"id":2,"payload":null}' > "$TMP/in"
	run restore --load-dir "$SNAP/python3" --timeout 3000 \
	    --appfs "$BATS_FILE_TMPDIR/spin.ext2" < "$TMP/in"
	echo "$output"
	[ "$status" -eq 75 ]
	[[ "$output" == *'{"id":1,"status":"error","error":{"type":"Timeout","message":"the function did not answer within 3000 ms; the VM was stopped"}'* ]]
}

@test "--timings: one JSON line on stderr after the first answer, every phase of the restore in order, with page faults; each answer's exits and interrupts" {
	printf '{"id":1,"payload":[1]}\n{"id":2,"payload":[2]}\n' > "$TMP/in"
	restore --load-dir "$SNAP/python3,$SNAP/diff/hello" --timings \
	    --appfs "$ROOT/build/appfs/hello.ext2" < "$TMP/in" > "$TMP/out" 2> "$TMP/err"
	cat "$TMP/out" "$TMP/err"
	[ "$(wc -l < "$TMP/out")" -eq 2 ]
	grep -q '^{"id":2,"status":"ok","response":{"echo":\[2\]}' "$TMP/out"
	[ "$(grep -c '^{"timings":' "$TMP/err")" -eq 1 ]
	# Each answer says what its request cost the VMM.
	python3 - "$TMP/out" <<'PY'
import json, sys
irq = 0
for line in open(sys.argv[1]):
    vm = json.loads(line)["vm"]
    assert set(vm) == {"io_exits", "mmio_exits", "intr_exits",
                       "other_exits", "interrupts"}, vm
    assert all(isinstance(v, int) and v >= 0 for v in vm.values()), vm
    irq += vm["interrupts"]
# The first request wakes an idle guest; with notification suppression
# (EVENT_IDX) a later answer may need no interrupt of its own.
assert irq >= 1, irq
PY
	python3 - "$(grep '^{"timings":' "$TMP/err")" <<'PY'
import json, sys
t = json.loads(sys.argv[1])["timings"]
names = [p["phase"] for p in t]
assert names == ["layers_checked", "memory_mapped", "workset_read",
                 "state_loaded", "first_run", "runtime_connected", "runtime_ready",
                 "first_request", "first_response"], names
ms = [p["ms"] for p in t]
assert ms == sorted(ms) and ms[0] >= 0, ms
for p in t:
    if p["phase"] != "first_run":
        assert p["minflt"] > 0 and p["majflt"] >= 0, p
last = t[-1]
assert last["minflt"] >= t[0]["minflt"], t
PY
	# Without the flag, nothing of it.
	restore --load-dir "$SNAP/python3,$SNAP/diff/hello" \
	    --appfs "$ROOT/build/appfs/hello.ext2" < "$TMP/in" > "$TMP/out2" 2> "$TMP/err2"
	! grep -q timings "$TMP/err2"
	! grep -q '"vm":' "$TMP/out2"
}
