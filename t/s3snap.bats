#!/usr/bin/env bats
# s3snap against a real S3 server: a single-node Ceph RADOS Gateway on
# loopback (scripts/s3-test-server), started once for this file and
# stopped at its end.  Snapshot layers are the real build/snap/python3
# and build/snap/diff/hello, or small sparse ones made here where a test
# needs one it can break.

load helpers
load s3helpers

S3SNAP="$ROOT/bin/s3snap"
# Overridable to try the tests on other layers; CI uses make snap's.
BASE="${S3SNAP_TEST_BASE:-$ROOT/build/snap/python3}"
DIFF="${S3SNAP_TEST_DIFF:-$ROOT/build/snap/diff/hello}"
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# A full layer $1 of $2 MiB of sparse memory with ${3:-3000} random pages
# of data (t/fakesnap.py): 3000 pages make a memory object of two parts.
mklayer() {
	python3 "$ROOT/t/fakesnap.py" layer "$1" --mib "$2" --pages "${3:-3000}"
}

# Keys of the multipart uploads in progress under prefix $1.
uploads() {
	s3curl GET "" "prefix=${1//\//%2F}%2F&uploads=" |
	    grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g' || true
}

# Replaces object $1 with $2 bytes of random data.
clobber() {
	head -c "$2" /dev/urandom > "$TMP/junk"
	run s3curl PUT "$1" "" -T "$TMP/junk"
	[ "${lines[-1]}" = 200 ]
}

object_size() {
	curl -s -I --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
	    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	    -H "x-amz-content-sha256: $EMPTY_SHA" \
	    "$AWS_ENDPOINT_URL/$BUCKET/$1" | tr -d '\r' |
	    sed -n 's/^[Cc]ontent-[Ll]ength: //p'
}

# Stores at $1 the index of $TMP/index edited by Python statements $2
# (on idx, the index read).
edit_index() {
	python3 -c 'import json, sys
idx = json.load(open(sys.argv[1]))
exec(sys.argv[2])
print(json.dumps(idx))' "$TMP/index" "$2" > "$TMP/edited"
	run s3curl PUT "$1/s3snap-index.json" "" -T "$TMP/edited"
	[ "${lines[-1]}" = 200 ]
}

# No temporary directory of a get is left beside $1.
no_leftovers() {
	local parent base
	parent=$(dirname "$1") base=$(basename "$1")
	[ ! -e "$1" ]
	[ -z "$(find "$parent" -maxdepth 1 -name ".$base.s3snap.*")" ]
}

# A put of layer $1 to prefix $2, killed with SIGKILL once its multipart
# upload has begun.
killed_put() {
	local pid
	"$S3SNAP" --limit-rate 1M put "$1" "s3://$BUCKET/$2" 2>/dev/null &
	pid=$!
	BG_PIDS=$pid
	wait_for "[ -n \"\$(uploads '$2')\" ]"
	kill -9 "$pid"
	wait "$pid" || true
}

@test "usage errors exit 64 and say what is wrong" {
	run "$S3SNAP"
	[ "$status" -eq 64 ]
	[[ "$output" == *"no command"* ]]
	[[ "$output" == *"usage: s3snap"* ]]
	run "$S3SNAP" frob
	[ "$status" -eq 64 ]
	[[ "$output" == *'unknown command "frob"'* ]]
	run "$S3SNAP" get s3://$BUCKET/x
	[ "$status" -eq 64 ]
	[[ "$output" == *"get takes 2 operands"* ]]
	run "$S3SNAP" put "$TMP" http://$BUCKET/x
	[ "$status" -eq 64 ]
	[[ "$output" == *"expected s3://BUCKET/PREFIX"* ]]
	run "$S3SNAP" rm s3://$BUCKET
	[ "$status" -eq 64 ]
	[[ "$output" == *"name a layer"* ]]
	run "$S3SNAP" get s3://$BUCKET/a/../b "$TMP/x"
	[ "$status" -eq 64 ]
	run "$S3SNAP" --jobs 0 ls s3://$BUCKET
	[ "$status" -eq 64 ]
	[[ "$output" == *'--jobs: jobs: "0": expected a number from 1 to 64'* ]]
	run "$S3SNAP" --limit-rate 5Q ls s3://$BUCKET
	[ "$status" -eq 64 ]
	[[ "$output" == *"limit_rate"* ]]
	run env -u AWS_ACCESS_KEY_ID "$S3SNAP" ls s3://$BUCKET
	[ "$status" -eq 64 ]
	[[ "$output" == *"no credentials"* ]]
	run "$S3SNAP" --help
	[ "$status" -eq 0 ]
	[ ! -e "$TMP/x" ]
}

@test "verify: a good layer passes, a tampered or missing one does not" {
	mklayer "$TMP/l" 8 500
	run "$S3SNAP" -v verify "$TMP/l"
	[ "$status" -eq 0 ]
	[[ "$output" == *"every file matches its manifest"* ]]
	run "$S3SNAP" verify "$BASE"
	[ "$status" -eq 0 ]
	printf 'x' | dd of="$TMP/l/memory" bs=1 seek=4096 conv=notrunc 2>/dev/null
	run "$S3SNAP" verify "$TMP/l"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/l/memory: SHA-256"*"(corrupted)"* ]]
	truncate -s 100 "$TMP/l/state"
	run "$S3SNAP" verify "$TMP/l"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/l/state: 100 bytes"* ]]
	echo '{' > "$TMP/l/manifest.json"
	run "$S3SNAP" verify "$TMP/l"
	[ "$status" -eq 65 ]
	run "$S3SNAP" verify "$TMP/none"
	[ "$status" -eq 66 ]
	[[ "$output" == *"$TMP/none"* ]]
}

@test "round trip of the python3 base and hello diff: identical, sparse, verified" {
	[ -f "$BASE/manifest.json" ] && [ -f "$DIFF/manifest.json" ] ||
	    { echo "build/snap missing: make snap" >&2; false; }
	# make snap records the diff's working set: it travels with it.
	[ -z "${S3SNAP_TEST_DIFF:-}" ] && [ -s "$DIFF/workset" ]
	run "$S3SNAP" -v put "$BASE" s3://$BUCKET/$P/python3
	echo "$output"
	[ "$status" -eq 0 ]
	run "$S3SNAP" -v put "$DIFF" s3://$BUCKET/$P/diff/hello
	echo "$output"
	[ "$status" -eq 0 ]
	run "$S3SNAP" ls s3://$BUCKET/$P/
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "s3://$BUCKET/$P/diff/hello" ]
	[ "${lines[1]}" = "s3://$BUCKET/$P/python3" ]
	[ "${#lines[@]}" -eq 2 ]

	mkdir "$TMP/got"
	run "$S3SNAP" -v get s3://$BUCKET/$P/python3 "$TMP/got/python3"
	echo "$output"
	[ "$status" -eq 0 ]
	run "$S3SNAP" get s3://$BUCKET/$P/diff/hello "$TMP/got/hello"
	[ "$status" -eq 0 ]
	for f in "$BASE"/* "$DIFF"/*; do
		layer=python3
		[[ "$f" == "$DIFF"/* ]] && layer=hello
		cmp "$f" "$TMP/got/$layer/$(basename "$f")"
	done
	[ "$(ls "$TMP/got/python3" | sort)" = "$(ls "$BASE" | sort)" ]
	[ "$(ls "$TMP/got/hello" | sort)" = "$(ls "$DIFF" | sort)" ]
	# Holes stay holes: no more blocks than the original (plus slack for
	# how the file system rounds).
	src=$(du -k "$BASE/memory" | cut -f1)
	got=$(du -k "$TMP/got/python3/memory" | cut -f1)
	echo "memory: $src KiB at the source, $got KiB fetched"
	[ "$got" -le $((src + src / 10 + 64)) ]
	[ "$(stat -c %s "$TMP/got/python3/memory")" = "$(stat -c %s "$BASE/memory")" ]
	run "$S3SNAP" verify "$TMP/got/python3"
	[ "$status" -eq 0 ]
	run "$S3SNAP" verify "$TMP/got/hello"
	[ "$status" -eq 0 ]
	[ -z "$(find "$TMP/got" -name '.*')" ]

	# The same layer again: nothing to do.  Another one there: refused.
	run "$S3SNAP" -v get s3://$BUCKET/$P/python3 "$TMP/got/python3"
	[ "$status" -eq 0 ]
	[[ "$output" == *"holds s3://$BUCKET/$P/python3 already"* ]]
	run "$S3SNAP" get s3://$BUCKET/$P/python3 "$TMP/got/hello"
	[ "$status" -eq 73 ]
	[[ "$output" == *"$TMP/got/hello: exists and is not this layer"* ]]
	cmp "$DIFF/memory" "$TMP/got/hello/memory"
}

@test "get: a layer that is not in the store, a missing parent directory" {
	run "$S3SNAP" get s3://$BUCKET/$P/none "$TMP/x"
	[ "$status" -eq 66 ]
	[[ "$output" == *"s3://$BUCKET/$P/none: no such layer"*"NoSuchKey"* ]]
	[ ! -e "$TMP/x" ]
	run "$S3SNAP" get s3://no-such-bucket-here/$P "$TMP/x"
	[ "$status" -eq 66 ]
	[[ "$output" == *"NoSuchBucket"* ]]
	mklayer "$TMP/l" 8 500
	run "$S3SNAP" put "$TMP/l" s3://$BUCKET/$P/l
	[ "$status" -eq 0 ]
	run "$S3SNAP" get s3://$BUCKET/$P/l "$TMP/no/such/dir"
	[ "$status" -eq 73 ]
	run "$S3SNAP" put "$TMP/none" s3://$BUCKET/$P/m
	[ "$status" -eq 66 ]
}

@test "wrong secret: exit 77, the store's reason, nothing written, no secret shown" {
	mklayer "$TMP/l" 8 500
	run "$S3SNAP" put "$TMP/l" s3://$BUCKET/$P/l
	[ "$status" -eq 0 ]
	run env AWS_SECRET_ACCESS_KEY=not-the-secret-42 "$S3SNAP" -v get \
	    s3://$BUCKET/$P/l "$TMP/got"
	[ "$status" -eq 77 ]
	[[ "$output" == *"HTTP 403 SignatureDoesNotMatch"* ]]
	[[ "$output" != *"not-the-secret-42"* ]]
	[[ "$output" != *"$AWS_SECRET_ACCESS_KEY"* ]]
	no_leftovers "$TMP/got"
	run env AWS_SECRET_ACCESS_KEY=not-the-secret-42 "$S3SNAP" put "$TMP/l" \
	    s3://$BUCKET/$P/other
	[ "$status" -eq 77 ]
	[[ "$output" == *"s3://$BUCKET/$P/other/"*"HTTP 403 SignatureDoesNotMatch"* ]]
	run env AWS_ACCESS_KEY_ID=NOSUCHKEY "$S3SNAP" ls s3://$BUCKET
	[ "$status" -eq 77 ]
	[[ "$output" == *"InvalidAccessKeyId"* ]]
	run "$S3SNAP" ls s3://$BUCKET/$P/
	[ "$output" = "s3://$BUCKET/$P/l" ]
	[ -z "$(uploads "$P/other")" ]
}

@test "an object corrupted in the store: get refuses with a checksum error, leaves nothing" {
	mklayer "$TMP/l" 64
	run "$S3SNAP" put "$TMP/l" s3://$BUCKET/$P/l
	[ "$status" -eq 0 ]
	size=$(object_size "$(obj "$P/l" "$TMP/l" memory)")
	[ "$size" -gt $((8 << 20)) ]		# more than one part
	clobber "$(obj "$P/l" "$TMP/l" memory)" "$size"
	run "$S3SNAP" get s3://$BUCKET/$P/l "$TMP/got"
	[ "$status" -eq 65 ]
	[[ "$output" == *"s3://$BUCKET/$(obj "$P/l" "$TMP/l" memory): part "*", bytes "*"(corrupt object)"* ]]
	no_leftovers "$TMP/got"
	clobber "$(obj "$P/l" "$TMP/l" memory)" 1000	# and cut short
	run "$S3SNAP" get s3://$BUCKET/$P/l "$TMP/got"
	[ "$status" -eq 65 ]
	no_leftovers "$TMP/got"
	# A manifest that no longer matches the index.
	run "$S3SNAP" put "$TMP/l" s3://$BUCKET/$P/l
	[ "$status" -eq 0 ]
	clobber "$(obj "$P/l" "$TMP/l" manifest.json)" "$(stat -c %s "$TMP/l/manifest.json")"
	run "$S3SNAP" get s3://$BUCKET/$P/l "$TMP/got"
	[ "$status" -eq 65 ]
	[[ "$output" == *"manifest.json"*"corrupt object"* ]]
	no_leftovers "$TMP/got"
	# An index that is not one.
	clobber "$P/l/s3snap-index.json" 300
	run "$S3SNAP" get s3://$BUCKET/$P/l "$TMP/got"
	[ "$status" -eq 65 ]
	[[ "$output" == *"s3snap-index.json: not a JSON object"* ]]
	no_leftovers "$TMP/got"
}

@test "interrupted puts leave no multipart upload: abort on a signal, clean stale ones" {
	mklayer "$TMP/l" 64
	# SIGTERM: s3snap aborts its own upload and dies of the signal.
	"$S3SNAP" --limit-rate 1M put "$TMP/l" s3://$BUCKET/$P/a 2>"$TMP/err" &
	pid=$!
	BG_PIDS=$pid
	wait_for '[ -n "$(uploads "$P/a")" ]'
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
	grep -q "stopped by signal 15" "$TMP/err"
	[ -z "$(uploads "$P/a")" ]
	run "$S3SNAP" ls s3://$BUCKET/$P/
	[ -z "$output" ]

	# SIGKILL leaves one behind; the next put cleans it up and completes.
	killed_put "$TMP/l" "$P/a"
	[ "$(uploads "$P/a")" = "$(obj "$P/a" "$TMP/l" memory)" ]
	run "$S3SNAP" -v put "$TMP/l" s3://$BUCKET/$P/a
	[ "$status" -eq 0 ]
	[[ "$output" == *"aborting the unfinished upload of s3://$BUCKET/$(obj "$P/a" "$TMP/l" memory)"* ]]
	[ -z "$(uploads "$P/a")" ]

	# And rm cleans one up too.
	killed_put "$TMP/l" "$P/b"
	run "$S3SNAP" rm s3://$BUCKET/$P/b
	[ "$status" -eq 0 ]
	[ -z "$(uploads "$P/b")" ]
	run "$S3SNAP" ls s3://$BUCKET/$P/
	[ "$output" = "s3://$BUCKET/$P/a" ]
}

# Issue 18: a page server fetches and checks a chunk of an object where
# a guest touches it, against the index's digest of that chunk.
@test "put writes index version 3: the SHA-256 of every 256 KiB of each object, as the store holds it" {
	python3 "$ROOT/t/fakesnap.py" layer "$TMP/b" --mib 64 --pages 3000
	python3 "$ROOT/t/fakesnap.py" layer "$TMP/l" --parent "$TMP/b" \
	    --mib 64 --pages 500
	run "$S3SNAP" put "$TMP/l" s3://$BUCKET/$P/l
	[ "$status" -eq 0 ]
	s3fetch "$P/l/s3snap-index.json" "$TMP/index"
	mkdir "$TMP/obj"
	for f in $(ls "$TMP/l"); do
		s3fetch "$(obj "$P/l" "$TMP/l" "$f")" "$TMP/obj/$f"
	done
	run python3 - "$TMP/index" "$TMP/obj" "$TMP/l" <<'PY'
import hashlib, json, os, sys
idx = json.load(open(sys.argv[1]))
assert idx["version"] == 3, idx["version"]
cs = idx["chunk_size"]
assert cs == 262144 and idx["part_size"] % cs == 0, (cs, idx["part_size"])
names = []
for f in idx["files"]:
    data = open(os.path.join(sys.argv[2], f["name"]), "rb").read()
    assert len(data) == sum(e[1] for e in f["extents"]), f["name"]
    want = [hashlib.sha256(data[i:i + cs]).hexdigest()
            for i in range(0, len(data), cs)]
    assert f["chunks"] == want, f["name"]
    # The object is the file's data extents, back to back.
    local = open(os.path.join(sys.argv[3], f["name"]), "rb").read()
    assert b"".join(local[o:o + n] for o, n in f["extents"]) == data
    names.append("%s:%d" % (f["name"], len(want)))
print(" ".join(names))
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"memory:"* && "$output" == *"pages:1"* ]]
	# memory's data (500 pages) spans more than one chunk.
	[ "$(echo "$output" | sed 's/.*memory:\([0-9]*\).*/\1/')" -gt 1 ]
}

@test "get reads an index of version 2 (no chunks); refuses one whose chunks do not fit or whose manifest disagrees" {
	mklayer "$TMP/l" 64
	run "$S3SNAP" put "$TMP/l" s3://$BUCKET/$P/l
	[ "$status" -eq 0 ]
	s3fetch "$P/l/s3snap-index.json" "$TMP/index"
	# What an s3snap before version 3 wrote.
	edit_index "$P/l" 'idx["version"] = 2
del idx["chunk_size"]
for f in idx["files"]: del f["chunks"]'
	run "$S3SNAP" get s3://$BUCKET/$P/l "$TMP/got"
	echo "$output"
	[ "$status" -eq 0 ]
	diff -r "$TMP/l" "$TMP/got"
	# Version 3 with a chunk too few for memory's object.
	edit_index "$P/l" '[f["chunks"].pop() for f in idx["files"]
    if f["name"] == "memory"]'
	run "$S3SNAP" get s3://$BUCKET/$P/l "$TMP/got2"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"s3snap-index.json: memory: "*" chunks, its extents make "* ]]
	no_leftovers "$TMP/got2"
	# An index whose layer id is not its manifest's.
	edit_index "$P/l" 'idx["id"] = "0" * 64'
	run "$S3SNAP" get s3://$BUCKET/$P/l "$TMP/got2"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"s3://$BUCKET/$(obj "$P/l" "$TMP/l" manifest.json): id: the manifest and the index disagree (corrupt layer)"* ]]
	no_leftovers "$TMP/got2"
}

# Issue 17: a put deleted the index first and aborted every upload under
# the prefix, so a reader during a put found no layer, and two hosts
# putting their own builds of one layer could leave one's index over the
# other's objects.
@test "a put over a layer: readers get the old layer until the new index is in; two puts at once leave one whole layer" {
	python3 "$ROOT/t/fakesnap.py" layer "$TMP/a" --mib 64 --pages 3000 --seed 1
	python3 "$ROOT/t/fakesnap.py" layer "$TMP/b" --mib 64 --pages 3000 --seed 2
	run "$S3SNAP" put "$TMP/a" s3://$BUCKET/$P/l
	[ "$status" -eq 0 ]
	# While b goes up, slowly, a is what a get finds.
	"$S3SNAP" --limit-rate 2M put "$TMP/b" s3://$BUCKET/$P/l 2>"$TMP/err" &
	pid=$!
	BG_PIDS=$pid
	wait_for '[ -n "$(uploads "$P/l")" ]'
	run "$S3SNAP" get s3://$BUCKET/$P/l "$TMP/mid"
	echo "$output"
	[ "$status" -eq 0 ]
	cmp "$TMP/a/memory" "$TMP/mid/memory"
	wait "$pid"
	run "$S3SNAP" get s3://$BUCKET/$P/l "$TMP/after"
	[ "$status" -eq 0 ]
	cmp "$TMP/b/memory" "$TMP/after/memory"
	# a's objects went once b's index was in.
	run s3curl GET "" "list-type=2&prefix=$(obj "$P/l" "$TMP/a" "" | sed 's|/|%2F|g')"
	[[ "$output" != *"<Key>"* ]]

	# Two puts at once, one held up half-way while the other runs from
	# start to end: the last index names its own whole layer.
	"$S3SNAP" --limit-rate 2M put "$TMP/a" s3://$BUCKET/$P/two 2>"$TMP/err" &
	pid=$!
	BG_PIDS=$pid
	wait_for '[ -n "$(uploads "$P/two")" ]'
	kill -STOP "$pid"
	run "$S3SNAP" put "$TMP/b" s3://$BUCKET/$P/two
	echo "$output"
	[ "$status" -eq 0 ]
	kill -CONT "$pid"
	wait "$pid" || { cat "$TMP/err"; false; }
	run "$S3SNAP" get s3://$BUCKET/$P/two "$TMP/two"
	echo "$output"
	[ "$status" -eq 0 ]
	for f in manifest.json state memory; do
		cmp "$TMP/a/$f" "$TMP/two/$f"
	done
	# rm takes every upload's objects with it.
	run "$S3SNAP" rm s3://$BUCKET/$P/two
	[ "$status" -eq 0 ]
	run s3curl GET "" "list-type=2&prefix=$P%2Ftwo%2F"
	[[ "$output" != *"<Key>"* ]]
}

@test "ls and rm: layers by prefix, removal index first, missing layers" {
	mklayer "$TMP/l" 8 500
	python3 "$ROOT/t/fakesnap.py" layer "$TMP/d" --parent "$TMP/l" --mib 8
	for name in x y; do
		run "$S3SNAP" put "$TMP/l" s3://$BUCKET/$P/$name
		[ "$status" -eq 0 ]
	done
	run "$S3SNAP" put "$TMP/d" s3://$BUCKET/$P/deeper/z
	[ "$status" -eq 0 ]
	run "$S3SNAP" get s3://$BUCKET/$P/deeper/z "$TMP/z"
	[ "$status" -eq 0 ]
	cmp "$TMP/d/pages" "$TMP/z/pages"
	cmp "$TMP/d/memory" "$TMP/z/memory"
	run "$S3SNAP" ls s3://$BUCKET/$P
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 's3://%s/%s\n' $BUCKET $P/deeper/z $BUCKET $P/x \
	    $BUCKET $P/y)" ]
	run "$S3SNAP" rm s3://$BUCKET/$P/deeper
	[ "$status" -eq 66 ]
	[[ "$output" == *"s3://$BUCKET/$P/deeper: no such layer"* ]]
	run "$S3SNAP" -v rm s3://$BUCKET/$P/x
	[ "$status" -eq 0 ]
	[[ "$output" == *"removed 4 objects"* ]]
	run "$S3SNAP" ls s3://$BUCKET/$P/
	[ "$output" = "$(printf 's3://%s/%s\n' $BUCKET $P/deeper/z $BUCKET $P/y)" ]
	run s3curl GET "" "list-type=2&prefix=$P%2Fx%2F"
	[[ "$output" != *"<Key>"* ]]
	run "$S3SNAP" rm s3://$BUCKET/$P/x
	[ "$status" -eq 66 ]
	run "$S3SNAP" get s3://$BUCKET/$P/x "$TMP/got"
	[ "$status" -eq 66 ]
	run "$S3SNAP" ls s3://$BUCKET/$P/nothing-here
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run "$S3SNAP" -v rm s3://$BUCKET/$P/deeper/z	# a diff has pages too
	[ "$status" -eq 0 ]
	[[ "$output" == *"removed 5 objects"* ]]
}

@test "configuration: file, environment and flags, in that order" {
	mklayer "$TMP/l" 8 500
	run "$S3SNAP" put "$TMP/l" s3://$BUCKET/$P/l
	[ "$status" -eq 0 ]
	cat > "$TMP/s3.yaml" <<EOF
endpoint: $AWS_ENDPOINT_URL
region: $AWS_REGION
access_key_id: $AWS_ACCESS_KEY_ID
secret_access_key: $AWS_SECRET_ACCESS_KEY
addressing_style: path
jobs: 2
EOF
	chmod 600 "$TMP/s3.yaml"
	run env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	    -u AWS_ENDPOINT_URL "$S3SNAP" --config "$TMP/s3.yaml" \
	    get s3://$BUCKET/$P/l "$TMP/got"
	[ "$status" -eq 0 ]
	cmp "$TMP/l/memory" "$TMP/got/memory"
	# The environment beats the file, flags beat the environment.
	run env AWS_ENDPOINT_URL=http://127.0.0.1:1 "$S3SNAP" \
	    --config "$TMP/s3.yaml" ls s3://$BUCKET/$P/
	[ "$status" -eq 69 ]
	[[ "$output" == *"Couldn't connect"*"(3 attempts)"* ]]
	run env AWS_ENDPOINT_URL=http://127.0.0.1:1 "$S3SNAP" \
	    --config "$TMP/s3.yaml" --endpoint "$AWS_ENDPOINT_URL" \
	    ls s3://$BUCKET/$P/
	[ "$status" -eq 0 ]
	[ "$output" = "s3://$BUCKET/$P/l" ]
	run env S3SNAP_CONFIG="$TMP/s3.yaml" S3SNAP_JOBS=99 "$S3SNAP" ls \
	    s3://$BUCKET/$P/
	[ "$status" -eq 64 ]
	[[ "$output" == *'S3SNAP_JOBS: jobs: "99"'* ]]
	echo "colour: blue" >> "$TMP/s3.yaml"
	run "$S3SNAP" --config "$TMP/s3.yaml" ls s3://$BUCKET/$P/
	[ "$status" -eq 64 ]
	[[ "$output" == *"$TMP/s3.yaml:7: colour: unknown key"* ]]
	[[ "$output" != *"$AWS_SECRET_ACCESS_KEY"* ]]
	# A key given twice is refused too, naming both lines.
	sed -i '$d' "$TMP/s3.yaml"
	sed -n 1p "$TMP/s3.yaml" >> "$TMP/s3.yaml"
	run "$S3SNAP" --config "$TMP/s3.yaml" ls s3://$BUCKET/$P/
	[ "$status" -eq 64 ]
	[[ "$output" == *"$TMP/s3.yaml:7: "*": given again (first at line 1)"* ]]
}

@test "gets at once: into different directories, and into the same one" {
	mklayer "$TMP/l" 64
	run "$S3SNAP" put "$TMP/l" s3://$BUCKET/$P/l
	[ "$status" -eq 0 ]
	"$S3SNAP" get s3://$BUCKET/$P/l "$TMP/a" & a=$!
	"$S3SNAP" get s3://$BUCKET/$P/l "$TMP/b" & b=$!
	wait $a
	wait $b
	cmp "$TMP/l/memory" "$TMP/a/memory"
	cmp "$TMP/l/memory" "$TMP/b/memory"
	# The slower of two gets into one directory finds the layer there.
	"$S3SNAP" get s3://$BUCKET/$P/l "$TMP/c" & a=$!
	"$S3SNAP" get s3://$BUCKET/$P/l "$TMP/c" & b=$!
	wait $a
	wait $b
	cmp "$TMP/l/memory" "$TMP/c/memory"
	no_leftovers "$TMP/nothing"	# no .nothing.s3snap.*, and none of c:
	[ -z "$(find "$TMP" -maxdepth 1 -name '.*s3snap*')" ]
}

# limit_rate was each job's share, kept by libcurl, which let a part's
# GET go at twice its share and left idle jobs' shares unused: a layer of
# one-part objects came at half the rate.
# That the rate is the whole transfer's, not each connection's: the unit
# test of s3pool (a bound above on time would fail on a loaded machine).
@test "--limit-rate holds a put and a get of one-part objects to the rate" {
	mklayer "$TMP/l" 64 1500
	bytes=$(du -s -B1 "$TMP/l" | cut -f1)
	least=$((bytes * 900 / (2 << 20)))
	for how in put get; do
		t0=$(date +%s%N)
		if [ $how = put ]; then
			"$S3SNAP" --limit-rate 2M put "$TMP/l" "s3://$BUCKET/$P/l"
		else
			"$S3SNAP" --limit-rate 2M get "s3://$BUCKET/$P/l" "$TMP/got"
		fi
		ms=$((($(date +%s%N) - t0) / 1000000))
		echo "$how: $bytes bytes in $ms ms, at least $least expected"
		[ "$ms" -ge "$least" ]
	done
	cmp "$TMP/l/memory" "$TMP/got/memory"
}

# Last: it kills the server and starts a new, empty one.
@test "server killed mid-download: exit 69, no destination, no temporary directory" {
	mklayer "$TMP/l" 64
	run "$S3SNAP" put "$TMP/l" s3://$BUCKET/$P/l
	[ "$status" -eq 0 ]
	mkdir "$TMP/dst"
	"$S3SNAP" --limit-rate 1M get s3://$BUCKET/$P/l "$TMP/dst/l" \
	    2>"$TMP/err" &
	pid=$!
	BG_PIDS=$pid
	wait_for '[ -n "$(find "$TMP/dst" -name ".l.s3snap.*")" ]'
	sleep 1
	kill -9 "$(cat "$S3_TEST_DIR/run/client.rgw.pid")"
	status=0
	wait "$pid" || status=$?
	cat "$TMP/err"
	[ "$status" -eq 69 ]
	grep -q "GET s3://$BUCKET/$P/l/.*attempts)" "$TMP/err"
	no_leftovers "$TMP/dst/l"
	[ -z "$(ls -A "$TMP/dst")" ]
	"$SERVER" start 3>&- >&2
}

# Issue 20: 429 and 400 RequestTimeout were final.  A store of our own
# that answers them before it answers well.
@test "429 Too Many Requests and 400 RequestTimeout are retried like a 5xx" {
	python3 - "$TMP/port" "$TMP/seen" <<'PY' &
import http.server, os, sys
answers = [(429, b"<Error><Code>SlowDown</Code><Message>slow</Message></Error>"),
           (400, b"<Error><Code>RequestTimeout</Code><Message>slow</Message></Error>"),
           (200, b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>")]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(sys.argv[2], "a") as f:
            f.write("%d\n" % status)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
	server=$!
	for _ in $(seq 50); do [ -f "$TMP/port" ] && break; sleep 0.1; done
	run env AWS_ENDPOINT_URL="http://127.0.0.1:$(cat "$TMP/port")" \
	    S3SNAP_RETRIES=3 "$S3SNAP" -v ls s3://$BUCKET/x/
	kill $server
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(tr '\n' ' ' < "$TMP/seen")" = "429 400 200 " ]
	[[ "$output" == *"HTTP 429, retrying"* ]]
	[[ "$output" == *"HTTP 400, retrying"* ]]
}

# Issue 20: with ~/.aws/credentials and AWS_PROFILE, s3snap said "no
# credentials".
@test "the AWS CLI's shared files: the profile's keys, region and s3 block; the environment beats them; -v says where each came from" {
	mkdir "$TMP/aws"
	cat > "$TMP/aws/credentials" <<EOF2
[default]
aws_access_key_id = not-this-one
aws_secret_access_key = nor-this

[snapvm]
# the test store's
aws_access_key_id = $AWS_ACCESS_KEY_ID
aws_secret_access_key = $AWS_SECRET_ACCESS_KEY
EOF2
	cat > "$TMP/aws/config" <<EOF2
[default]
region = eu-north-1

[profile snapvm]
region = $AWS_REGION
output = json
s3 =
    addressing_style = path
    endpoint_url = $AWS_ENDPOINT_URL
EOF2
	mklayer "$TMP/l" 64
	aws() {
		env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
		    -u AWS_ENDPOINT_URL -u AWS_REGION AWS_PROFILE=snapvm \
		    AWS_SHARED_CREDENTIALS_FILE="$TMP/aws/credentials" \
		    AWS_CONFIG_FILE="$TMP/aws/config" "$@"
	}
	run aws "$S3SNAP" -v put "$TMP/l" s3://$BUCKET/$P/l
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"access_key_id: $TMP/aws/credentials:7"* ]]
	[[ "$output" == *"region: $TMP/aws/config:5"* ]]
	[[ "$output" == *"endpoint: $TMP/aws/config:9"* ]]
	[[ "$output" == *"addressing_style: $TMP/aws/config:8"* ]]
	[[ "$output" == *"jobs: the default"* ]]
	[[ "$output" != *"$AWS_SECRET_ACCESS_KEY"* ]]
	# The default profile without AWS_PROFILE: its keys are refused.
	run env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	    AWS_SHARED_CREDENTIALS_FILE="$TMP/aws/credentials" \
	    "$S3SNAP" -v ls s3://$BUCKET/$P/
	echo "$output"
	[ "$status" -eq 77 ]
	# The environment beats the files; AWS_ENDPOINT_URL_S3 beats
	# AWS_ENDPOINT_URL.
	run aws env AWS_ACCESS_KEY_ID=from-env "$S3SNAP" -v ls s3://$BUCKET/$P/
	[ "$status" -eq 77 ]
	[[ "$output" == *"access_key_id: AWS_ACCESS_KEY_ID"* ]]
	run aws env AWS_ENDPOINT_URL=http://127.0.0.1:1 \
	    AWS_ENDPOINT_URL_S3="$AWS_ENDPOINT_URL" "$S3SNAP" -v ls s3://$BUCKET/$P/
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c "^s3://")" -eq 1 ]
	[[ "$output" == *"endpoint: AWS_ENDPOINT_URL_S3"* ]]
	# A malformed line of the profile is named by file and line.
	printf 'region\n' >> "$TMP/aws/config"
	run aws "$S3SNAP" ls s3://$BUCKET/$P/
	[ "$status" -eq 64 ]
	[[ "$output" == *"$TMP/aws/config:10: expected KEY = VALUE"* ]]
}
