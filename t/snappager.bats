#!/usr/bin/env bats
# snappager(1) without a VM: build/t/pagerclient plays the runner (guest
# memory made and handed over as snaprestore --page-server does, then
# read), on small sparse layers of t/fakesnap.py, local or in the S3 test
# server (scripts/s3-test-server, as t/s3snap.bats runs it).  What the
# client reads is compared with the memory a restore maps from the same
# layers (pagerclient --compose).

load helpers
load s3helpers

PAGER="$ROOT/bin/snappager"
CLIENT="$ROOT/build/t/pagerclient"
S3SNAP="$ROOT/bin/s3snap"

# A stack in $TMP/base, $TMP/diff of 16 MiB: the base with 2000 pages of
# data, the diff with 300 and a working set of 140 pages (t/fakesnap.py,
# snaprestore --add-workset, which needs no VM); mkstack N: a working set
# of pages 0 to N-1 instead.
mkstack() {
	python3 "$ROOT/t/fakesnap.py" layer "$TMP/base" --mib 16 --pages 2000
	python3 "$ROOT/t/fakesnap.py" layer "$TMP/diff" --parent "$TMP/base" \
	    --mib 16 --pages 300
	python3 - "$TMP/bits" "${1:-}" <<'PY'
import sys
b = bytearray(16 * 256 // 8)
ws = range(int(sys.argv[2])) if sys.argv[2] else \
    list(range(0, 40)) + list(range(1000, 1100))
for p in ws:
    b[p // 8] |= 1 << (p % 8)
open(sys.argv[1], "wb").write(b)
PY
	"$ROOT/bin/snaprestore" --load-dir "$TMP/base,$TMP/diff" \
	    --add-workset "$TMP/bits"
	WANT=$("$CLIENT" --compose "$TMP/base,$TMP/diff")
}

# Both layers put in the store under $P/base and $P/diff.
put_stack() {
	"$S3SNAP" put "$TMP/base" "s3://$BUCKET/$P/base"
	"$S3SNAP" put "$TMP/diff" "s3://$BUCKET/$P/diff"
}

# serve ARG...: snappager in the background (PAGER_PID), its stdout in
# $TMP/out and stderr in $TMP/err; DIRS, once it listens, the load-dir
# line's directories.  Fails if it exits first.
serve() {
	"$PAGER" -v --socket "$TMP/sock" "$@" >"$TMP/out" 2>"$TMP/err" &
	PAGER_PID=$!
	BG_PIDS="$BG_PIDS $PAGER_PID"
	wait_for '[ -s "$TMP/out" ] || ! kill -0 $PAGER_PID 2>/dev/null'
	DIRS=$(sed -n 's/^load-dir //p' "$TMP/out")
	[ -n "$DIRS" ] || { cat "$TMP/err" >&2; return 1; }
}

# The server's exit status, in PAGER_STATUS; its stderr in PAGER_ERR.
served() {
	PAGER_STATUS=0
	wait "$PAGER_PID" || PAGER_STATUS=$?
	PAGER_ERR=$(cat "$TMP/err")
	echo "$PAGER_ERR"
}

# nices PID: the nice value of each of its threads, a line each.
nices() {
	local f
	for f in /proc/"$1"/task/*/stat; do
		sed 's/^.*) //' "$f" 2> /dev/null | cut -d' ' -f17
	done
}

# No temporary directory of a pager is left beside $1, and $1 is absent.
no_leftovers() {
	[ ! -e "$1" ]
	[ -z "$(find "$(dirname "$1")" -maxdepth 1 -name ".$(basename "$1").pager.*")" ]
}

# page_in_chunk DIR C: a page of layer DIR's memory whose data is in
# chunk C of its object (the store's chunks: 256 KiB of the data extents
# back to back).
page_in_chunk() {
	python3 - "$1/memory" "$2" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
want, at, off = int(sys.argv[2]) * 262144, 0, 0
size = os.fstat(fd).st_size
while off < size:
    try:
        data = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    hole = os.lseek(fd, data, os.SEEK_HOLE)
    data, hole = data // 4096 * 4096, (hole + 4095) // 4096 * 4096
    if want < at + hole - data:
        print((data + want - at) // 4096)
        sys.exit(0)
    at += hole - data
    off = hole
sys.exit(1)
PY
}

# flip KEY OFFSET: the object with one byte changed at OFFSET.
flip() {
	s3fetch "$1" "$TMP/obj"
	python3 - "$TMP/obj" "$2" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0x55]))
PY
	run s3curl PUT "$1" "" -T "$TMP/obj"
	[ "${lines[-1]}" = 200 ]
}

# The stack in the store, chunk 3 of the diff's memory object (KEY) with
# a byte changed, served into $TMP/c.
serve_corrupt() {
	mkstack
	put_stack
	mkdir "$TMP/c"
	KEY=$(obj "$P/diff" "$TMP/diff" memory)
	flip "$KEY" $((3 * 262144 + 100))
	serve "s3://$BUCKET/$P/base=$TMP/c/base" "s3://$BUCKET/$P/diff=$TMP/c/diff"
}

# A forwarder that counts the bytes the store sends (t/tcpfwd.py), its
# address in FWD_URL; fwd_bytes prints the count so far.
forward() {
	python3 "$ROOT/t/tcpfwd.py" "$TMP/fwd.port" "${AWS_ENDPOINT_URL#http://}" \
	    "$TMP/fwd.bytes" &
	FWD_PID=$!
	BG_PIDS="$BG_PIDS $FWD_PID"
	wait_for '[ -s "$TMP/fwd.port" ]'
	FWD_URL="http://127.0.0.1:$(cat "$TMP/fwd.port")"
}

fwd_bytes() {
	rm -f "$TMP/fwd.bytes"
	kill -USR1 "$FWD_PID"
	wait_for '[ -s "$TMP/fwd.bytes" ]'
	cat "$TMP/fwd.bytes"
}

# stored PREFIX: the bytes of the layer's objects in the store, its index
# included (the index's extents: each object holds just those).
stored() {
	s3fetch "$1/s3snap-index.json" "$TMP/index"
	python3 -c 'import json, os, sys
x = json.load(open(sys.argv[1]))
print(os.path.getsize(sys.argv[1]) +
      sum(n for f in x["files"] for _, n in f["extents"]))' "$TMP/index"
}

# count PREFIX FIELD: a number of snappager's -v summary of the layer
# stored at PREFIX ("requests", "bytes received", "fault fetches", ...).
count() {
	grep "^snappager: s3://$BUCKET/$1: requests " "$TMP/err" |
	    grep -o "$2 [0-9]*" | head -1 | sed 's/.* //'
}

# lazy_run [OPTION...]: a full lazy run of the stack stored at $P/base
# and $P/diff, through the forwarder, into $TMP/c: every page read, the
# transfer to its end.
lazy_run() {
	mkdir "$TMP/c"
	forward
	AWS_ENDPOINT_URL=$FWD_URL serve "$@" "s3://$BUCKET/$P/base=$TMP/c/base" \
	    "s3://$BUCKET/$P/diff=$TMP/c/diff"
	run "$CLIENT" "$TMP/sock" "$DIRS" all --wait-done
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$WANT"* && "$output" == *"done"* ]]
	served
	[ "$PAGER_STATUS" -eq 0 ]
}

# What a full lazy run fetched: each layer's objects once, each memory
# chunk once, by a fault or by the transfer; nothing retried; on the
# wire, the objects and at most 1 KiB of headers per request (snappager's
# own count, and the forwarder's).
fetched_once() {
	local l want got bound total=0 sum=0 fwd
	for l in base diff; do
		want=$(stored "$P/$l")
		got=$(count "$P/$l" "bytes received")
		bound=$((want + 1024 * $(count "$P/$l" requests)))
		echo "$l: stored $want, received $got, bound $bound"
		[ "$got" -ge "$want" ]
		[ "$got" -le "$bound" ]
		[ "$(count "$P/$l" retries)" -eq 0 ]
		[ "$(count "$P/$l" "refetched by faults")" -eq 0 ]
		[ "$(count "$P/$l" "refetched by the transfer")" -eq 0 ]
		[ $(($(count "$P/$l" "fault fetches") + \
		    $(count "$P/$l" "transfer fetches"))) -eq \
		    "$(count "$P/$l" "memory chunks")" ]
		total=$((total + bound))
		sum=$((sum + got))
	done
	fwd=$(fwd_bytes)
	echo "forwarded $fwd, received $sum, bound $total"
	[ "$fwd" -eq "$sum" ]
	[ "$fwd" -le "$total" ]
}

@test "usage errors exit 64 and say what is wrong" {
	run "$PAGER" "$TMP/x"
	[ "$status" -eq 64 ]
	[[ "$output" == *"no --socket"* ]]
	[[ "$output" == *"usage: snappager"* ]]
	run "$PAGER" --socket "$TMP/sock"
	[ "$status" -eq 64 ]
	[[ "$output" == *"no layer"* ]]
	run "$PAGER" --socket "$TMP/sock" "s3://$BUCKET/x"
	[ "$status" -eq 64 ]
	[[ "$output" == *"expected s3://BUCKET/PREFIX=DIR"* ]]
	run "$PAGER" --socket "$TMP/sock" "$TMP/a,b"
	[ "$status" -eq 64 ]
	[[ "$output" == *"has no ','"* ]]
	run "$PAGER" --socket "$TMP/sock" 1 2 3 4 5 6 7 8 9
	[ "$status" -eq 64 ]
	[[ "$output" == *"9 layers: a stack has 1 to 8"* ]]
	run "$PAGER" --jobs 0 --socket "$TMP/sock" "s3://$BUCKET/x=$TMP/x"
	[ "$status" -eq 64 ]
	[[ "$output" == *'--jobs: jobs: "0": expected a number from 1 to 64'* ]]
	run "$PAGER" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: snappager"* ]]
	[ ! -e "$TMP/sock" ]
}

@test "local layers: every page as a restore maps it, working set first; DONE; exit 0" {
	mkstack
	serve "$TMP/base" "$TMP/diff"
	[ "$DIRS" = "$TMP/base,$TMP/diff" ]
	[ "$(stat -c %a "$TMP/sock")" = 600 ]
	run "$CLIENT" "$TMP/sock" "$DIRS" all --wait-done
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "ready 140" ]
	[[ "$output" == *"$WANT"* ]]
	[[ "$output" == *"done"* ]]
	served
	[ "$PAGER_STATUS" -eq 0 ]
	[[ "$PAGER_ERR" == *"working set: 140 pages put in"* ]]
	[ ! -e "$TMP/sock" ]
}

@test "a runner restoring other layers, or a local layer not its manifest's, is refused" {
	mkstack
	serve "$TMP/base" "$TMP/diff"
	run "$CLIENT" "$TMP/sock" "$TMP/base"
	echo "$output"
	[ "$status" -eq 78 ]
	[[ "$output" == *"page server: the runner restores 1 layers, this page server serves 2"* ]]
	served
	[ "$PAGER_STATUS" -eq 78 ]
	# A memory file changed after its manifest was written.
	printf 'x' | dd of="$TMP/base/memory" bs=1 seek=4096 conv=notrunc 2>/dev/null
	run "$PAGER" --socket "$TMP/sock" "$TMP/base" "$TMP/diff"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/base/memory"* ]]
	[ ! -e "$TMP/sock" ]
}

# A hostile runner: fakerunner SOCKET KIND sends a HELLO for the 16 MiB
# stack in $TMP/base,$TMP/diff, with a pipe where the userfaultfd goes
# (KIND pipe), two descriptors (twofds), or 10 bytes of junk (junk);
# prints the reply's type, status and message.
fakerunner() {
	python3 - "$1" "$2" "$(python3 -c 'import json, sys
print(" ".join(json.load(open(d + "/manifest.json"))["id"] for d in sys.argv[1:]))' \
	    "$TMP/base" "$TMP/diff")" <<'PY'
import os, socket, struct, sys
path, kind, ids = sys.argv[1], sys.argv[2], sys.argv[3].split()
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(path)
hello = b"SNAPVMPG" + struct.pack("<IIQQII", 1, 1, 0x7f0000000000, 16 << 20,
                                  4096, len(ids))
hello += b"".join(i.encode() for i in ids) + bytes(64 * (8 - len(ids)))
r, w = os.pipe()
if kind == "junk":
    socket.send_fds(s, [b"0123456789"], [r])
else:
    socket.send_fds(s, [hello], [r, w] if kind == "twofds" else [r])
reply = s.recv(4096)
_, _, typ, status, _, _ = struct.unpack_from("<8sIIIIQ", reply)
print(typ, status, reply[32:].split(b"\0")[0].decode())
PY
}

@test "a hostile runner: a HELLO that is junk, or without a userfaultfd alone, gets an ERROR 76" {
	mkstack
	for kind in pipe twofds junk; do
		serve "$TMP/base" "$TMP/diff"
		run fakerunner "$TMP/sock" "$kind"
		echo "$output"
		case $kind in
		pipe) [ "$output" = "3 76 the runner's HELLO came with a descriptor that is no userfaultfd" ] ;;
		twofds) [ "$output" = "3 76 the runner's HELLO came with 2 descriptors, not its userfaultfd alone" ] ;;
		junk) [[ "$output" == "3 76 the runner's HELLO: "* ]] ;;
		esac
		served
		[ "$PAGER_STATUS" -eq 76 ]
	done
}

@test "the socket: a stale one is replaced, a live one or a file is not" {
	mkstack
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1])' "$TMP/sock"
	serve "$TMP/base"
	run "$PAGER" --socket "$TMP/sock" "$TMP/base"
	[ "$status" -eq 73 ]
	[[ "$output" == *"$TMP/sock: in use: another page server listens there"* ]]
	run "$CLIENT" "$TMP/sock" "$TMP/base" all
	[ "$status" -eq 0 ]
	[[ "$output" == *"$("$CLIENT" --compose "$TMP/base")"* ]]
	served
	[ "$PAGER_STATUS" -eq 0 ]
	touch "$TMP/file"
	run "$PAGER" --socket "$TMP/file" "$TMP/base"
	[ "$status" -eq 73 ]
	[[ "$output" == *"$TMP/file: exists and is not a socket"* ]]
	[ -f "$TMP/file" ]
}

@test "layers only in the store, an empty cache: READY before the transfer ends; then complete locally, s3snap verify passes" {
	mkstack
	put_stack
	mkdir "$TMP/c"
	serve --limit-rate 2M "s3://$BUCKET/$P/base=$TMP/c/base" \
	    "s3://$BUCKET/$P/diff=$TMP/c/diff"
	[[ "$DIRS" == "$TMP/c/.base.pager."*",$TMP/c/.diff.pager."* ]]
	# The transfer's threads (as many as --jobs, 4) yield to the restore:
	# nice 19; the others keep the nice snappager started with.
	wait_for '[ "$(nices $PAGER_PID | grep -cx 19)" -eq 4 ]'
	nices $PAGER_PID
	[ "$(nices $PAGER_PID | grep -vx 19 | sort -u)" = "$(nice)" ]
	# A page of the working set and one the transfer has not reached.
	"$CLIENT" "$TMP/sock" "$DIRS" 1050 "$(page_in_chunk "$TMP/base" 28)" \
	    --wait-done >"$TMP/cout" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	client=$!
	wait_for 'grep -q "^touched " "$TMP/cout" && [ "$(grep -c "^touched " "$TMP/cout")" -eq 2 ]'
	[ ! -e "$TMP/c/base" ] && [ ! -e "$TMP/c/diff" ]
	grep -q "^ready 140$" "$TMP/cout"
	! grep -q "^done" "$TMP/cout"
	status=0
	wait "$client" || status=$?
	cat "$TMP/cout"
	[ "$status" -eq 0 ]
	grep -q "^done$" "$TMP/cout"
	served
	[ "$PAGER_STATUS" -eq 0 ]
	"$S3SNAP" verify "$TMP/c/base"
	"$S3SNAP" verify "$TMP/c/diff"
	[ "$("$CLIENT" --compose "$TMP/c/base,$TMP/c/diff")" = "$WANT" ]
	[ -z "$(find "$TMP/c" -maxdepth 1 -name '.*pager*')" ]
	# The next restore is local: the same server, no store at all.
	serve "$TMP/c/base" "$TMP/c/diff"
	run "$CLIENT" "$TMP/sock" "$DIRS" all
	[[ "$output" == *"$WANT"* ]]
	served
	[ "$PAGER_STATUS" -eq 0 ]
}

@test "every page read from a lazily fetched stack is what a restore maps" {
	mkstack
	put_stack
	mkdir "$TMP/c"
	serve "s3://$BUCKET/$P/base=$TMP/c/base" "s3://$BUCKET/$P/diff=$TMP/c/diff"
	run "$CLIENT" "$TMP/sock" "$DIRS" all --wait-done
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$WANT"* ]]
	served
	[ "$PAGER_STATUS" -eq 0 ]
	"$S3SNAP" verify "$TMP/c/diff"
}

@test "a full lazy run fetches each object once: each chunk by a fault or the transfer, nothing retried; the bytes are the store's (-v, and a counting forwarder)" {
	mkstack
	put_stack
	lazy_run
	fetched_once
	"$S3SNAP" verify "$TMP/c/base"
	"$S3SNAP" verify "$TMP/c/diff"
}

# Each file fetched alone over its layer's one connection: a working set
# of a few MiB held the runner back at one connection's rate.
@test "--jobs 4: the files before load-dir come in parallel requests of at most 1 MiB on 4 connections (-v), every page right" {
	mkstack 1200
	put_stack
	ws=$(stat -c %s "$TMP/diff/workset")
	[ "$ws" -gt $((4 << 20)) ]
	lazy_run --jobs 4
	grep "stored layers' files" "$TMP/err"
	line=$(grep "^snappager: stored layers' files: 4 fetched whole, " "$TMP/err")
	requests=$(echo "$line" | sed 's/.* in \([0-9]*\) requests.*/\1/')
	[ "$requests" -ge $(((ws + (1 << 20) - 1) >> 20)) ]
	[[ "$line" == *" on 4 connections, "* ]]
	fetched_once
	"$S3SNAP" verify "$TMP/c/diff"
}

@test "a corrupt chunk late in the working set: no load-dir, the object, chunk and bytes named, 65, nothing is left" {
	mkstack 1200
	put_stack
	mkdir "$TMP/c"
	KEY=$(obj "$P/diff" "$TMP/diff" workset)
	# The last chunk of the object: in the last of its 1 MiB runs.
	s3fetch "$KEY" "$TMP/obj"
	size=$(stat -c %s "$TMP/obj")
	c=$(((size - 1) / 262144))
	[ "$c" -ge 4 ] && [ $((size - c * 262144)) -gt 100 ]
	flip "$KEY" $((c * 262144 + 100))
	run "$PAGER" --jobs 4 --socket "$TMP/sock" \
	    "s3://$BUCKET/$P/base=$TMP/c/base" "s3://$BUCKET/$P/diff=$TMP/c/diff"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" != *"load-dir"* ]]
	[[ "$output" == *"s3://$BUCKET/$KEY: chunk $c, bytes $((c * 262144))-$((size - 1)): SHA-256 "*"(corrupt object)"* ]]
	[ ! -e "$TMP/sock" ]
	no_leftovers "$TMP/c/base"
	no_leftovers "$TMP/c/diff"
}

# libcurl's limit let a chunk-sized GET through at full speed: a lazy
# run's chunks, the bulk of its bytes, were not shaped at all.
@test "--limit-rate holds for a lazy run: its files, faults and chunks share the rate" {
	mkstack
	put_stack
	bytes=$(($(stored "$P/base") + $(stored "$P/diff")))
	t0=$(date +%s%N)
	lazy_run --limit-rate 4M
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "$bytes bytes in $ms ms"
	[ "$ms" -ge $((bytes * 900 / (4 << 20))) ]
	fetched_once
}

# s3snap put on a file system that reports no holes (a nested VM's 9p,
# as scripts/lazybench ran): the memory files' zeros were data, stored
# and fetched, 7 times the layers' data for hello's.
@test "layers whose zeros are data (copied without holes) are stored as the sparse ones; a lazy run fetches their data only" {
	mkstack
	"$S3SNAP" put "$TMP/base" "s3://$BUCKET/$P/sparse"
	for f in base/memory diff/memory diff/workset; do
		cp --sparse=never "$TMP/$f" "$TMP/dense"
		mv "$TMP/dense" "$TMP/$f"
	done
	[ "$(du -B1 "$TMP/base/memory" | cut -f1)" -ge $((16 << 20)) ]
	put_stack
	echo "stored: sparse $(stored "$P/sparse"), dense $(stored "$P/base")"
	[ "$(stored "$P/base")" -eq "$(stored "$P/sparse")" ]
	lazy_run
	fetched_once
	"$S3SNAP" verify "$TMP/c/base"
	[ "$(du -B1 "$TMP/c/base/memory" | cut -f1)" -lt $((16 << 20)) ]
}

@test "a corrupt chunk: the runner that touches it fails with the server's status and message; nothing is left" {
	serve_corrupt
	run "$CLIENT" "$TMP/sock" "$DIRS" "$(page_in_chunk "$TMP/diff" 3)"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"page server: s3://$BUCKET/$KEY: chunk 3, bytes 786432-1048575: not the index's SHA-256 or length (corrupt object)"* ]]
	[[ "$output" != *"touched"* ]]
	served
	[ "$PAGER_STATUS" -eq 65 ]
	no_leftovers "$TMP/c/base"
	no_leftovers "$TMP/c/diff"
}

# What snappager(1) says of a transfer's failure: a VM that touches only
# checked pages goes on; the layer is never completed.
@test "a corrupt chunk the runner never touches: the runner is served; the transfer fails, nothing is left" {
	serve_corrupt
	page=$(page_in_chunk "$TMP/diff" 0)
	run "$CLIENT" "$TMP/sock" "$DIRS" "$page"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "touched $page" ]
	served
	[ "$PAGER_STATUS" -eq 65 ]
	[[ "$PAGER_ERR" == *"chunk 3, bytes 786432-1048575"* ]]
	[[ "$PAGER_ERR" == *"the transfer failed (status 65)"* ]]
	no_leftovers "$TMP/c/base"
	no_leftovers "$TMP/c/diff"
}

@test "a stored layer already in its directory is served from there; another layer there is refused" {
	mkstack
	put_stack
	mkdir "$TMP/c"
	cp -a --sparse=always "$TMP/base" "$TMP/c/base"
	serve "s3://$BUCKET/$P/base=$TMP/c/base" "s3://$BUCKET/$P/diff=$TMP/c/diff"
	[[ "$DIRS" == "$TMP/c/base,$TMP/c/.diff.pager."* ]]
	run "$CLIENT" "$TMP/sock" "$DIRS" all --wait-done
	[[ "$output" == *"$WANT"* ]]
	served
	[ "$PAGER_STATUS" -eq 0 ]
	[[ "$PAGER_ERR" == *"$TMP/c/base: holds s3://$BUCKET/$P/base already"* ]]
	run "$PAGER" --socket "$TMP/sock" "s3://$BUCKET/$P/base=$TMP/c/diff"
	[ "$status" -eq 73 ]
	[[ "$output" == *"$TMP/c/diff: exists and is not the layer s3://$BUCKET/$P/base"* ]]
	[ ! -e "$TMP/sock" ]
}

@test "an index without chunk digests is refused: put it again" {
	mkstack
	"$S3SNAP" put "$TMP/base" "s3://$BUCKET/$P/base"
	run s3curl GET "$P/base/s3snap-index.json"
	[ "${lines[-1]}" = 200 ]
	printf '%s\n' "${lines[@]:0:${#lines[@]}-1}" | python3 -c '
import json, sys
x = json.load(sys.stdin)
x["version"] = 2
x.pop("chunk_size", None)
for f in x["files"]:
    f.pop("chunks", None)
json.dump(x, open(sys.argv[1], "w"))' "$TMP/index"
	run s3curl PUT "$P/base/s3snap-index.json" "" -T "$TMP/index"
	[ "${lines[-1]}" = 200 ]
	run "$PAGER" --socket "$TMP/sock" "s3://$BUCKET/$P/base=$TMP/b"
	[ "$status" -eq 65 ]
	[[ "$output" == *"index (version 2) has no chunk digests"*"put the layer again"* ]]
	no_leftovers "$TMP/b"
}

@test "SIGTERM: the transfer stopped, the temporary directories and the socket removed, death by the signal" {
	mkstack
	put_stack
	mkdir "$TMP/c"
	serve --limit-rate 1M "s3://$BUCKET/$P/base=$TMP/c/base"
	"$CLIENT" "$TMP/sock" "$DIRS" >"$TMP/cout" 2>&1 &
	client=$!
	BG_PIDS="$BG_PIDS $client"
	wait_for 'grep -q "^ready" "$TMP/cout"'
	kill -TERM "$PAGER_PID"
	served
	[ "$PAGER_STATUS" -eq 143 ]
	[[ "$PAGER_ERR" == *"stopped by signal 15"* ]]
	no_leftovers "$TMP/c/base"
	[ ! -e "$TMP/sock" ]
}

@test "snaprestore --page-server on snappager: the runner checks the temporary directories' files and gets READY" {
	fake_layers			# layers with drives, as snaprestore wants
	{ printf '\007'; head -c 511 /dev/zero; } > "$TMP/bits"	# pages 0-2
	"$ROOT/bin/snaprestore" --load-dir "$STACK" --add-workset "$TMP/bits"
	"$S3SNAP" put "$TMP/base" "s3://$BUCKET/$P/base"
	"$S3SNAP" put "$TMP/diff" "s3://$BUCKET/$P/diff"
	mkdir "$TMP/c"
	serve "s3://$BUCKET/$P/base=$TMP/c/base" "s3://$BUCKET/$P/diff=$TMP/c/diff"
	STACK=$DIRS
	run fake_restore --page-server "$TMP/sock"
	at_console
	served
	[ "$PAGER_STATUS" -eq 0 ]
	[[ "$PAGER_ERR" == *"working set: 3 pages put in"* ]]
	"$S3SNAP" verify "$TMP/c/diff"
}

# Last: it kills the store and starts a new, empty one.
@test "the store stopped in the middle: the runner's fault fails with 69, nothing is left" {
	mkstack
	put_stack
	mkdir "$TMP/c"
	serve --limit-rate 1M "s3://$BUCKET/$P/base=$TMP/c/base" \
	    "s3://$BUCKET/$P/diff=$TMP/c/diff"
	rgw=$(cat "$S3_TEST_DIR/run/client.rgw.pid")
	kill -9 "$rgw"
	wait_for "! kill -0 $rgw 2> /dev/null"	# gone, its socket closed
	run "$CLIENT" "$TMP/sock" "$DIRS" 1050 "$(page_in_chunk "$TMP/base" 28)"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"page server: s3://$BUCKET/$P/base/"*"/memory: chunk 28, "*"the store did not answer"* ]]
	[[ "$output" == *"touched 1050"* ]]
	served
	[ "$PAGER_STATUS" -eq 69 ]
	no_leftovers "$TMP/c/base"
	no_leftovers "$TMP/c/diff"
	"$SERVER" start 3>&- >&2
}
