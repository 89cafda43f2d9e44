#!/usr/bin/env bats
# ctrl with a snapshot store, against a real S3 server
# (scripts/s3-test-server: Ceph RGW on loopback).  The cold-boot program
# is /bin/false in every test, so an answer can only come from a restore.
# One test restores real VMs from the run's snapshots (build/snap); the
# others use layers of the real format with t/fakesnap.py as the
# restoring runner, which checks every layer it is given and runs the
# app's code on the host.

load helpers

CTRL="$ROOT/bin/ctrl"
S3SNAP="$ROOT/bin/s3snap"
FAKE="$ROOT/t/fakesnap.py"
FAKESNAPPAGER="$ROOT/t/fakesnappager.py"

setup_file() {
	export SNAP="$ROOT/build/snap"
	export S3_TEST_DIR="${S3_TEST_DIR:-$ROOT/build/s3-test-ctrl}"
	"$ROOT/scripts/s3-test-server" start >&3
	eval "$("$ROOT/scripts/s3-test-server" env)"
	export STORE="s3://snapvm-test/ctrl-$$"
	# Layers for the fake runner: a base and a diff per app on it, and a
	# second base that no diff in the store was made on.
	# Drives by content: ctrl.yaml's rootfs, each app's image.
	F="$BATS_FILE_TMPDIR/fake"
	"$FAKE" layer "$F/python3" --rootfs "$ROOT/build/rootfs.ext4"
	for app in hello markdown digest; do
		"$FAKE" layer "$F/diff/$app" --parent "$F/python3" --pages 384 \
		    --appfs "$ROOT/build/appfs/$app.ext2"
	done
	"$FAKE" layer "$F/other/python3" --seed other \
	    --rootfs "$ROOT/build/rootfs.ext4"
	export F
	# Where ctrl keeps its layers with the default CPU settings.
	export XDG_CACHE_HOME="$BATS_FILE_TMPDIR/cache"
	CPU=$(ctrl_cpu_dir)
	[ -n "$CPU" ]
	export CPU
}

teardown_file() {
	"$ROOT/scripts/s3-test-server" stop
}

setup() {
	TMP="$BATS_TEST_TMPDIR"
	export XDG_CACHE_HOME="$BATS_FILE_TMPDIR/cache"
}

# config PREFIX [CACHE_MIB]: a ctrl whose own layers live in $TMP/snap,
# restoring with $RESTORE (default: the fake runner) and booting with
# $BOOT (default: none, /bin/false); it records working sets only with
# RECORD_WS=true (the tests of other things count uploads); CPU_YAML is
# more of ctrl.yaml (cpu_template, cpu_workarounds).  Layers missing here
# are downloaded first unless STORE_RESTORE=lazy (the tests of lazy
# restores, through t/fakesnappager.py); with LISTEN=yes it also listens on
# $TMP/ctrl.sock, for /metrics.
config() {
	cat > "$TMP/ctrl.yaml" <<EOF2
kernel: $ROOT/build/vmlinux
rootfs: $ROOT/build/rootfs.ext4
appfs_dir: $ROOT/build/appfs
snapshot_dir: $TMP/snap
vmrun: ${BOOT:-/bin/false}
snaprestore: ${RESTORE:-$FAKE}
s3snap: $S3SNAP
snapshot_store: $STORE/$1
snapshot_cache: ${2:-0}
store_restore: ${STORE_RESTORE:-download}
snappager: $FAKESNAPPAGER
${LISTEN:+listen: [\"unix:$TMP/ctrl.sock\"]}
functions: functions.yaml
memory_budget: ${BUDGET:-1024}
record_worksets: ${RECORD_WS:-false}
$NO_JAIL
${CPU_YAML:-}
EOF2
	{
		echo "functions:"
		for app in hello markdown digest; do
			printf '  - name: %s\n    memory: 128\n    timeout: 600000\n' "$app"
		done
	} > "$TMP/functions.yaml"
}

# requests APP...: one request line per app, all at once, each with the
# payload of the app's request.json.
requests() {
	python3 - "$ROOT" "$@" > "$TMP/requests" <<'PY'
import json, sys
root, apps = sys.argv[1], sys.argv[2:]
for i, app in enumerate(apps):
    req = json.load(open("%s/appfs/%s/request.json" % (root, app)))
    print(json.dumps({"id": i + 1, "function": app, "payload": req["payload"]}))
PY
}

ctrl() {
	timeout --kill-after=10 900 "$CTRL" --config "$TMP/ctrl.yaml" -v \
	    --requests "$TMP/requests" > "$TMP/out" 2> "$TMP/log"
}

# ctrl_built N: ctrl as above, its requests kept open until it has built N
# layers (a backstop of 120 s), so that it does not stop the builder.
ctrl_built() {
	{
		cat "$TMP/requests"
		for _ in $(seq 1200); do
			[ "$(events snapshot_built)" -lt "$1" ] || break
			sleep 0.1
		done
	} | timeout --kill-after=10 900 "$CTRL" --config "$TMP/ctrl.yaml" -v \
	    --requests - > "$TMP/out" 2> "$TMP/log"
}

# Every response ok and equal to its app's expected.json.
answered() {
	python3 - "$ROOT" "$TMP/out" "$TMP/requests" <<'PY'
import json, sys
root, out, req = sys.argv[1:]
want = {json.loads(l)["id"]: json.loads(l)["function"] for l in open(req)}
got = [json.loads(l) for l in open(out)]
assert sorted(g["id"] for g in got) == sorted(want), (got, want)
for g in got:
    exp = json.load(open("%s/appfs/%s/expected.json" % (root, want[g["id"]])))
    assert g["status"] == "ok" and g["response"] == exp, g
PY
}

# events NAME [MATCH]: how many log events of that name (mentioning MATCH).
events() {
	grep "\"event\":\"$1\"" "$TMP/log" | grep -c -- "${2:-}" || true
}

# put_layer FROM PREFIX LAYER: as another host would have, under its
# CPU directory.
put_layer() {
	"$S3SNAP" put "$1/$3" "$STORE/$2/${CPU_AS:-$CPU}/$3"
}

# here FROM LAYER: a layer already in this host's cache.
here() {
	mkdir -p "$(dirname "$TMP/snap/${CPU_AS:-$CPU}/$2")"
	cp -r --sparse=always "$1/$2" "$TMP/snap/${CPU_AS:-$CPU}/$2"
}

# bats test_tags=kvm
@test "a second host with an empty cache answers hello from real snapshots fetched from the store" {
	[ -f "$SNAP/diff/hello/manifest.json" ] || "$ROOT/scripts/mksnap" "$SNAP" 2> /dev/null
	put_layer "$SNAP" real python3
	put_layer "$SNAP" real diff/hello
	RESTORE="$ROOT/bin/snaprestore" config real
	requests hello
	ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events snapshot_fetched python3)" -eq 1 ]
	[ "$(events snapshot_fetched diff/hello)" -eq 1 ]
	[ "$(events vm_started '"restore":true')" -eq 1 ]
	[ "$(events vm_started '"restore":false')" -eq 0 ]
	cmp "$SNAP/diff/hello/memory" "$TMP/snap/$CPU/diff/hello/memory"
}

# lazy_real PREFIX: hello, with real snapshots only in the store under
# PREFIX, answered through one lazy restore by ctrl (JAIL: its jail line);
# nothing was downloaded; ctrl stops at the end of its input, so a
# transfer not done by then is stopped and leaves nothing, and a done one
# leaves whole layers.
lazy_real() {
	[ -f "$SNAP/diff/hello/manifest.json" ] || "$ROOT/scripts/mksnap" "$SNAP" 2> /dev/null
	put_layer "$SNAP" "$1" python3
	put_layer "$SNAP" "$1" diff/hello
	NO_JAIL=${JAIL:-$NO_JAIL} RESTORE="$ROOT/bin/snaprestore" \
	    STORE_RESTORE=lazy FAKESNAPPAGER="$ROOT/bin/snappager" config "$1"
	requests hello
	ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events vm_started '"lazy":true')" -eq 1 ]
	[ "$(events pager_started)" -eq 1 ]
	[ "$(events snapshot_fetched)" -eq 0 ]
	[ "$(events pager_failed)" -eq 0 ]
	for l in python3 diff/hello; do
		[ ! -e "$TMP/snap/$CPU/$l" ] || "$S3SNAP" verify "$TMP/snap/$CPU/$l"
	done
	[ -z "$(find "$TMP/snap" -name '.*.pager.*')" ]
}

# bats test_tags=kvm
@test "the same through a lazy restore: snappager serves the guest's memory from the store; nothing partial is left" {
	lazy_real lazy
}

# bats test_tags=kvm
@test "the same with ctrl's runners jailed (the default for root): the runner gets the page server's socket and /dev/userfaultfd in its jail" {
	# The jailed runner's user walks to its jail's root.
	chmod 755 "$TMP"
	JAIL="jail: {enabled: true, base: $TMP/jails, vmjail: $ROOT/bin/vmjail}" \
	    lazy_real jailed
	[ "$(events pager_unavailable)" -eq 0 ]
}

@test "concurrent requests for missing layers wait on one download of each" {
	put_layer "$F" once python3
	put_layer "$F" once diff/hello
	put_layer "$F" once diff/markdown
	config once
	requests hello hello markdown hello markdown
	ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events snapshot_fetch python3)" -eq 1 ]
	[ "$(events snapshot_fetch diff/hello)" -eq 1 ]
	[ "$(events snapshot_fetch diff/markdown)" -eq 1 ]
	[ "$(events snapshot_fetched)" -eq 3 ]
	grep -q '"event":"stopped".*"fetched":3,"uploaded":0' "$TMP/log"
	[ "$(events vm_started '"restore":false')" -eq 0 ]
	"$S3SNAP" verify "$TMP/snap/$CPU/diff/markdown"
}

@test "a diff ctrl builds goes to the store after its base; another host fetches both" {
	here "$F" python3
	config build
	requests hello
	ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events snapshot_not_in_store diff/hello)" -eq 1 ]
	[ "$(events snapshot_built)" -eq 1 ]
	[ "$(events snapshot_uploaded)" -eq 2 ]
	grep -q '"event":"stopped".*"fetched":0,"uploaded":2' "$TMP/log"
	grep '"event":"snapshot_upload"' "$TMP/log" | head -1 | grep -q python3
	grep '"event":"snapshot_upload"' "$TMP/log" | tail -1 | grep -q diff/hello
	# A second host, empty cache: both layers come from the store.
	local first=$TMP/snap
	TMP=$TMP/host2
	mkdir -p "$TMP"
	config build
	requests hello
	ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events snapshot_fetched)" -eq 2 ]
	[ "$(events snapshot_built)" -eq 0 ]
	cmp "$first/$CPU/diff/hello/manifest.json" "$TMP/snap/$CPU/diff/hello/manifest.json"
}

@test "a store that is down: a logged warning, and the answer from layers made here" {
	here "$F" python3
	config down
	requests hello
	AWS_ENDPOINT_URL=http://127.0.0.1:9 ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events snapshot_fetch_failed '"status":69')" -eq 1 ]
	[ "$(events snapshot_built)" -eq 1 ]
	[ "$(events snapshot_upload_failed)" -ge 1 ]
	[ -f "$TMP/snap/$CPU/diff/hello/manifest.json" ]
}

@test "a store that refuses the credentials: a logged warning, the secret never" {
	put_layer "$F" creds python3
	put_layer "$F" creds diff/hello
	here "$F" python3
	config creds
	requests hello
	AWS_SECRET_ACCESS_KEY=not-the-secret ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events snapshot_fetch_failed '"status":77')" -eq 1 ]
	[ "$(events snapshot_built)" -eq 1 ]
	! grep -q not-the-secret "$TMP/log" "$TMP/out"
}

@test "a diff in the store made on another base is not used: built here instead" {
	put_layer "$F" mixed diff/hello
	here "$F/other" python3
	config mixed
	requests hello
	ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events snapshot_fetch_failed 'another base')" -eq 1 ]
	[ "$(events snapshot_built)" -eq 1 ]
	python3 - "$TMP/snap/$CPU" <<'PY'
import json, sys
m = lambda l: json.load(open("%s/%s/manifest.json" % (sys.argv[1], l)))
assert m("diff/hello")["parent"] == m("python3")["id"]
PY
}

@test "the cache keeps under its limit, least recently used layer first" {
	for l in python3 diff/hello diff/markdown diff/digest; do
		put_layer "$F" lru $l
	done
	# Base 2 MiB and diffs 1.5 MiB on disk: room for the base and two.
	BUDGET=16 config lru 6
	requests hello markdown digest
	ctrl || { cat "$TMP/log"; false; }
	answered
	# One VM at a time (the budget): the diff restored first is the
	# least recently used when the third VM needs the room.
	first=$(grep -m1 '"event":"vm_started"' "$TMP/log" |
	    sed 's/.*"function":"\([a-z]*\)".*/\1/')
	[ "$(events snapshot_evicted)" -eq 1 ]
	grep -q '"event":"stopped".*"layers_evicted":1' "$TMP/log"
	[ "$(events snapshot_evicted "diff/$first\"")" -eq 1 ]
	[ ! -e "$TMP/snap/$CPU/diff/$first" ]
	for app in hello markdown digest; do
		[ "$app" = "$first" ] || [ -f "$TMP/snap/$CPU/diff/$app/manifest.json" ]
	done
	[ "$(du -sk "$TMP/snap" | cut -f1)" -le $((6 * 1024)) ]
}

@test "ctrl's own layers of an older format are removed at start and built again" {
	here "$F" python3
	here "$F" diff/hello
	# As an earlier snapvm wrote it: version 1, a drive named by path.
	python3 - "$TMP/snap/$CPU/diff/hello/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["version"] = 1
m["drives"][0]["path"] = "/etc/hostname"
json.dump(m, open(sys.argv[1], "w"))
PY
	config outdated
	requests hello
	ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events snapshot_outdated 'diff/hello","version":1')" -eq 1 ]
	[ "$(events snapshot_outdated)" -eq 1 ]
	[ "$(events snapshot_built)" -eq 1 ]
	grep -q '"version": 3' "$TMP/snap/$CPU/diff/hello/manifest.json"
}

@test "the first request of a diff without a working set records one; ctrl adds it to the layer and puts the layer in the store again" {
	put_layer "$F" ws python3
	here "$F" python3
	here "$F" diff/hello
	RECORD_WS=true config ws
	requests hello
	ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events console 'recording a working set')" -eq 1 ]
	[ "$(events workset_recorded hello)" -eq 1 ]
	[ "$(events workset_added hello)" -eq 1 ] || { cat "$TMP/log"; false; }
	[ "$(events workset_failed)" -eq 0 ]
	[ -s "$TMP/snap/$CPU/diff/hello/workset" ]
	jq -e '.files.workset.size > 0' "$TMP/snap/$CPU/diff/hello/manifest.json"
	"$S3SNAP" verify "$TMP/snap/$CPU/diff/hello"
	# Nothing of the recording is left behind.
	[ -z "$(find "$TMP/snap/.record" -type f)" ]
	# The layer with its working set is the store's now.
	[ "$(events snapshot_uploaded diff/hello)" -eq 1 ]
	"$S3SNAP" -q get "$STORE/ws/$CPU/diff/hello" "$TMP/got"
	cmp "$TMP/got/workset" "$TMP/snap/$CPU/diff/hello/workset"
	cmp "$TMP/got/manifest.json" "$TMP/snap/$CPU/diff/hello/manifest.json"
	# The next run restores with it and records nothing.
	requests hello hello
	ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events console 'recording a working set')" -eq 0 ]
	[ "$(events workset_recorded)" -eq 0 ]
}

@test "a recording runner's page bitmap that is a symbolic link is not followed: no working set, a logged failure" {
	here "$F" python3
	here "$F" diff/hello
	RECORD_WS=true config wsbad
	requests hello
	FAKESNAP_WORKSET=symlink ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events workset_failed hello)" -eq 1 ]
	[ "$(events workset_added)" -eq 0 ]
	[ ! -e "$TMP/snap/$CPU/diff/hello/workset" ]
	"$S3SNAP" verify "$TMP/snap/$CPU/diff/hello"
	# Not tried again in this run: a second request records nothing.
	requests hello hello
	FAKESNAP_WORKSET=symlink ctrl || { cat "$TMP/log"; false; }
	[ "$(events console 'recording a working set')" -eq 1 ]
}

@test "ctrl's own layers go in the directory of its CPU settings, here and in the store; its builder and runners get those settings" {
	BOOT=$FAKE config cpu
	requests hello
	FAKESNAP_ARGV_LOG=$TMP/argv ctrl_built 2 || { cat "$TMP/log"; false; }
	answered
	# The next run restores.
	FAKESNAP_ARGV_LOG=$TMP/argv ctrl || { cat "$TMP/log"; false; }
	answered
	# The host template's directory: with a fingerprint of the CPU where
	# there is KVM.
	[[ "$CPU" == cpu-host?(.+([0-9a-f]))-@(on|noxsave|off) ]]
	[ "$(cpu_dir_in "$TMP/log")" = "$CPU" ]
	[ "$(events vm_started '"restore":true')" -eq 1 ]
	[ "$(ls "$TMP/snap")" = "$CPU" ]
	[ "$(ls "$TMP/snap/$CPU")" = "$(printf 'diff\npython3')" ]
	"$S3SNAP" verify "$TMP/snap/$CPU/python3"
	"$S3SNAP" verify "$TMP/snap/$CPU/diff/hello"
	[ "$("$S3SNAP" ls "$STORE/cpu")" = "$(printf '%s\n%s' \
	    "$STORE/cpu/$CPU/diff/hello" "$STORE/cpu/$CPU/python3")" ]
	# Each runner, booting, building or restoring: the template and the
	# workarounds ctrl settled on.
	python3 - "$TMP/argv" "${CPU##*-}" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def flag(a, f):
    return a[a.index(f) + 1] if f in a else None
for a in runs:
    assert flag(a, "--cpu-template") == "host", a
    assert flag(a, "--cpu-workarounds") == sys.argv[2], a
builds = [a for a in runs if "--dump-dir" in a]
assert len(builds) == 2 and "--kernel" in builds[0] and \
    "--load-dir" in builds[1], builds
assert any("--load-dir" in a and "--dump-dir" not in a for a in runs), runs
PY
}

@test "another cpu_template or cpu_workarounds over the same snapshot_dir and store: new layers are built, the others' never restored" {
	BOOT=$FAKE config change
	requests hello
	ctrl_built 2 || { cat "$TMP/log"; false; }
	printf 'snapvm-cpu-template 1\nname fleet-1\nclear avx512f\n' > "$TMP/fleet"
	# The two settings of workarounds that auto did not pick here.
	set -- $(printf '%s\n' on noxsave off | grep -vx "${CPU##*-}")
	local dirs=$CPU
	for yaml in "cpu_template: x86-64-v2" "cpu_template: $TMP/fleet" \
	    "cpu_workarounds: $1" "cpu_workarounds: $2"; do
		CPU_YAML=$yaml BOOT=$FAKE config change
		requests hello
		rm -f "$TMP/argv"
		FAKESNAP_ARGV_LOG=$TMP/argv ctrl_built 2 || { cat "$TMP/log"; false; }
		answered
		dir=$(cpu_dir_in "$TMP/log")
		echo "$yaml: $dir"
		[[ " $dirs " != *" $dir "* ]]
		dirs="$dirs $dir"
		[ "$(events snapshot_fetched)" -eq 0 ]
		[ "$(events snapshot_not_in_store "$dir/python3")" -eq 1 ]
		[ "$(events snapshot_built)" -eq 2 ]
		[ "$(events snapshot_uploaded "$dir/")" -eq 2 ]
		FAKESNAP_ARGV_LOG=$TMP/argv ctrl || { cat "$TMP/log"; false; }
		answered
		[ "$(events vm_started '"restore":true')" -eq 1 ]
		# Only layers of this CPU were given to a runner.
		! grep -v "$TMP/snap/$dir/" "$TMP/argv" | grep -q -- --load-dir
		grep -q -- "\"--load-dir\", \"$TMP/snap/$dir/python3,$TMP/snap/$dir/diff/hello\"" "$TMP/argv"
	done
	# Every one's layers are still there, for a ctrl with its settings.
	[ "$(ls "$TMP/snap" | sort)" = "$(printf '%s\n' $dirs | sort)" ]
	[[ " $dirs " == *" cpu-x86-64-v2-${CPU##*-} cpu-fleet-1-${CPU##*-} "* ]]
}

@test "ctrl's own layers at the places of before CPU directories are removed at start; the ones functions.yaml names stay" {
	for l in python3 diff/hello diff/digest diff-net/markdown python3-net; do
		mkdir -p "$(dirname "$TMP/snap/$l")"
		cp -r --sparse=always "$F/${l/-net/}" "$TMP/snap/$l"
	done
	here "$F" python3
	config legacy
	printf '  - name: own\n    appfs: %s\n    snapshot: [%s, %s]\n' \
	    "$ROOT/build/appfs/digest.ext2" "$TMP/snap/python3" \
	    "$TMP/snap/diff/digest" >> "$TMP/functions.yaml"
	: > "$TMP/requests"
	ctrl || { cat "$TMP/log"; false; }
	cat "$TMP/log"
	[ "$(events snapshot_legacy)" -eq 3 ]
	for l in diff/hello diff-net/markdown python3-net; do
		[ "$(events snapshot_legacy "\"$TMP/snap/$l\"")" -eq 1 ]
		[ ! -e "$TMP/snap/$l" ]
	done
	[ ! -e "$TMP/snap/diff-net" ]
	"$S3SNAP" verify "$TMP/snap/python3"
	"$S3SNAP" verify "$TMP/snap/diff/digest"
	"$S3SNAP" verify "$TMP/snap/$CPU/python3"
	[ "$(events snapshot_outdated)" -eq 0 ]
}

# lazy_requests SPEC...: request lines, ids from 1: SPEC is APP, APP:hold
# (its payload has "hold": true: t/fakesnap.py holds it until
# $FAKESNAP_HOLD exists) or APP@MS (it comes MS after ctrl starts).
lazy_requests() {
	python3 - "$ROOT" "$@" > "$TMP/requests" <<'PY'
import json, sys
root, specs = sys.argv[1], sys.argv[2:]
for i, spec in enumerate(specs):
    app, _, at = spec.partition("@")
    app, _, hold = app.partition(":")
    req = json.load(open("%s/appfs/%s/request.json" % (root, app)))
    line = {"id": i + 1, "function": app, "payload": req["payload"]}
    if hold:
        line["payload"] = dict(req["payload"], hold=True)
    if at:
        line["time"] = int(at)
    print(json.dumps(line))
PY
}

# lazy_answered ID...: those requests answered correctly (hello echoes its
# payload, the others answer their expected.json).
lazy_answered() {
	python3 - "$ROOT" "$TMP/out" "$TMP/requests" "$@" <<'PY'
import json, sys
root, out, reqs, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
want = {str(json.loads(l)["id"]): json.loads(l) for l in open(reqs)}
got = {str(json.loads(l)["id"]): json.loads(l) for l in open(out)}
for i in ids:
    r, g = want[i], got[i]
    exp = {"echo": r["payload"]} if r["function"] == "hello" else \
        json.load(open("%s/appfs/%s/expected.json" % (root, r["function"])))
    assert g["status"] == "ok" and g["response"] == exp, (r, g)
PY
}

# The runners' command lines ($TMP/argv): restores, with or without a
# page server.
restores() {
	python3 - "$TMP/argv" "$1" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if "--load-dir" in l]
print(sum(("--page-server" in a) == (sys.argv[2] == "lazy") for a in runs))
PY
}

@test "a function whose layers are only in the store is restored lazily: its runner gets the page server's socket and load-dir, and the layers end up here whole" {
	put_layer "$F" lazy python3
	put_layer "$F" lazy diff/hello
	STORE_RESTORE=lazy config lazy
	requests hello hello hello
	FAKESNAP_ARGV_LOG=$TMP/argv FAKESNAPPAGER_LOG=$TMP/pager ctrl ||
	    { cat "$TMP/log"; false; }
	answered
	[ "$(events pager_started)" -eq 1 ]
	[ "$(events pager_ready)" -eq 1 ]
	[ "$(events pager_done '"status":0')" -eq 1 ]
	# One VM restored lazily; the others, if the first was still busy,
	# from the layers once here.
	[ "$(events vm_started '"restore":true,"lazy":true')" -eq 1 ]
	[ "$(events vm_started '"restore":true,"lazy":false')" -eq \
	    $(($(events vm_started) - 1)) ]
	[ "$(events snapshot_fetch)" -eq 0 ]
	[ "$(events snapshot_fetched)" -eq 2 ]
	grep -q '"event":"stopped".*"fetched":2,.*"lazy_restores":1' "$TMP/log"
	python3 - "$TMP/argv" "$TMP/pager" "$TMP/snap/$CPU" "$STORE/lazy/$CPU" <<'PY'
import json, os, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
pagers = [json.loads(l) for l in open(sys.argv[2])]
snap, store = sys.argv[3], sys.argv[4]
lazy = [a for a in runs if "--page-server" in a]
assert len(lazy) == 1 and len(pagers) == 1, (runs, pagers)
a, p = lazy[0], pagers[0]
flag = lambda argv, f: argv[argv.index(f) + 1]
# The runner connects where the page server listens ...
assert flag(a, "--page-server") == flag(p, "--socket"), (a, p)
# ... and loads what it said: hidden directories beside the layers.
base, diff = flag(a, "--load-dir").split(",")
assert os.path.dirname(base) == snap and \
    os.path.basename(base).startswith(".python3.pager."), base
assert os.path.dirname(diff) == snap + "/diff" and \
    os.path.basename(diff).startswith(".hello.pager."), diff
assert "--record-workset" not in a, a
# The page server was given the store's layers and where they go.
assert p[-2:] == ["%s/python3=%s/python3" % (store, snap),
                  "%s/diff/hello=%s/diff/hello" % (store, snap)], p
PY
	"$S3SNAP" verify "$TMP/snap/$CPU/python3"
	"$S3SNAP" verify "$TMP/snap/$CPU/diff/hello"
	[ -z "$(find "$TMP/snap" -name '.*.pager.*')" ]
	[ -z "$(find "$TMP/snap/.pager" -mindepth 1)" ]
	# The next run restores from them, here.
	rm "$TMP/argv"
	FAKESNAP_ARGV_LOG=$TMP/argv ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events pager_started)" -eq 0 ]
	[ "$(restores lazy)" -eq 0 ]
	[ "$(restores local)" -ge 1 ]
}

@test "while a page server brings a function's layers, its other requests wait; once they are here, new VMs restore from them as usual" {
	put_layer "$F" wait python3
	put_layer "$F" wait diff/hello
	STORE_RESTORE=lazy config wait
	lazy_requests hello:hold hello
	(
		for _ in $(seq 600); do
			[ "$(events pager_ready)" -eq 0 ] || break
			sleep 0.1
		done
		sleep 1
		events vm_started > "$TMP/vms"
		touch "$TMP/transfer"
		for _ in $(seq 600); do
			[ ! -s "$TMP/out" ] || break
			sleep 0.1
		done
		touch "$TMP/go"
	) 3>&- &
	FAKESNAPPAGER_HOLD=$TMP/transfer FAKESNAP_HOLD=$TMP/go \
	    FAKESNAP_ARGV_LOG=$TMP/argv ctrl || { cat "$TMP/log"; false; }
	wait
	lazy_answered 1 2
	# One VM while the layers were on their way; the second request was
	# answered first, by a VM restored from them once they were here.
	[ "$(cat "$TMP/vms")" -eq 1 ]
	[ "$(head -1 "$TMP/out" | jq .id)" -eq 2 ]
	[ "$(restores lazy)" -eq 1 ]
	[ "$(restores local)" -eq 1 ]
	grep -q -- "\"--load-dir\", \"$TMP/snap/$CPU/python3,$TMP/snap/$CPU/diff/hello\"" "$TMP/argv"
}

@test "a page server that fails while its VM runs: that request fails with its status, the failure is logged and counted, other functions are served, and the function's next request downloads the layers" {
	put_layer "$F" pgfail diff/hello
	here "$F" python3
	here "$F" diff/markdown
	STORE_RESTORE=lazy LISTEN=yes config pgfail
	lazy_requests hello:hold markdown hello@4000
	{
		cat "$TMP/requests"
		for _ in $(seq 1200); do
			[ "$(cat "$TMP/out" 2> /dev/null | wc -l)" -lt 3 ] || break
			sleep 0.1
		done
		curl -s --unix-socket "$TMP/ctrl.sock" http://ctrl/metrics > "$TMP/metrics"
	} | FAKESNAPPAGER_FAIL=69 FAKESNAP_HOLD=$TMP/never FAKESNAP_ARGV_LOG=$TMP/argv \
	    timeout --kill-after=10 900 "$CTRL" --config "$TMP/ctrl.yaml" -v \
	    --requests - > "$TMP/out" 2> "$TMP/log" || { cat "$TMP/log"; false; }
	lazy_answered 2 3
	jq -s -e 'map(select(.id == 1))[0] | .status == "error" and
	    .error.type == "RunnerFailed" and
	    (.error.message | test("status 69.*(unreachable|failing)"))' "$TMP/out"
	[ "$(events pager_failed '"status":69,"outcome":"unreachable"')" -eq 1 ]
	[ "$(events console 'page server: the store failed')" -eq 1 ]
	grep -qx 'snapvm_lazy_restores_total{outcome="unreachable"} 1' "$TMP/metrics"
	grep -qx 'snapvm_lazy_restores_total{outcome="ok"} 0' "$TMP/metrics"
	grep -qx 'snapvm_requests_total{function="hello",outcome="runner_failed"} 1' "$TMP/metrics"
	grep -qx 'snapvm_requests_total{function="markdown",outcome="ok"} 1' "$TMP/metrics"
	# The partial layer was never used: the third request waited for a
	# download of it, and a restore from what that put in place.
	[ "$(events snapshot_fetch diff/hello)" -eq 1 ]
	[ "$(restores lazy)" -eq 1 ]
	[ "$(restores local)" -eq 2 ]
	[ -z "$(find "$TMP/snap" -name '.*.pager.*')" ]
	"$S3SNAP" verify "$TMP/snap/$CPU/diff/hello"
}

@test "a page server that exits before it says where its layers are, or says anything else: logged and counted, and the layers are downloaded instead" {
	put_layer "$F" pgbad python3
	put_layer "$F" pgbad diff/hello
	STORE_RESTORE=lazy config pgbad
	requests hello
	for env in FAKESNAPPAGER_EXIT=69 FAKESNAPPAGER_EXIT=66 \
	    "FAKESNAPPAGER_LINE=load-dir /etc,/tmp" FAKESNAPPAGER_LINE=ready; do
		rm -rf "$TMP/snap" "$TMP/argv"
		( export "$env"; FAKESNAP_ARGV_LOG=$TMP/argv ctrl ) ||
		    { cat "$TMP/log"; false; }
		echo "$env"
		answered
		[ "$(events pager_started)" -eq 1 ]
		[ "$(events snapshot_fetched)" -eq 2 ]
		[ "$(restores lazy)" -eq 0 ]
		[ "$(restores local)" -eq 1 ]
		case $env in
		*EXIT=69) [ "$(events pager_failed '"status":69')" -eq 1 ] ;;
		*EXIT=66) [ "$(events pager_not_in_store '"status":66')" -eq 1 ] ;;
		*/etc*) [ "$(events pager_failed 'names /etc, which is neither')" -eq 1 ] ;;
		*) [ "$(events pager_failed 'not load-dir')" -eq 1 ] ;;
		esac
		[ -z "$(find "$TMP/snap" -name '.*.pager.*')" ]
	done
}

@test "ctrl --check says how layers missing here come from the store; store_restore is lazy or download" {
	config check
	run "$CTRL" --config "$TMP/ctrl.yaml" --check
	[ "$status" -eq 0 ]
	[[ "$output" == *"store: $STORE/check; layers missing here are downloaded first (store_restore: download)"* ]]
	sed -i '/^store_restore:/d' "$TMP/ctrl.yaml"
	run "$CTRL" --config "$TMP/ctrl.yaml" --check
	[ "$status" -eq 0 ]
	[[ "$output" == *"store: $STORE/check; layers missing here are restored lazily through $FAKESNAPPAGER"* ]]
	sed -i '/^snapshot_store:/d' "$TMP/ctrl.yaml"
	run "$CTRL" --config "$TMP/ctrl.yaml" --check
	[[ "$output" == *"store: none"* ]]
	STORE_RESTORE=sometimes config check
	run "$CTRL" --config "$TMP/ctrl.yaml" --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"ctrl.yaml:"*": store_restore: \"sometimes\": expected lazy or download"* ]]
}

@test "a lazily restored runner that goes on after its page server failed is ended by ctrl, and its request failed" {
	put_layer "$F" pgkill python3
	put_layer "$F" pgkill diff/hello
	STORE_RESTORE=lazy config pgkill
	lazy_requests hello:hold
	FAKESNAP_PAGER=ignore FAKESNAPPAGER_FAIL=65 FAKESNAP_HOLD=$TMP/never ctrl ||
	    { cat "$TMP/log"; false; }
	jq -e '.id == 1 and .error.type == "RunnerFailed" and
	    (.error.message | test("^the lazy restore failed: its page server exited with status 65 \\(a corrupt"))' "$TMP/out"
	[ "$(events pager_failed '"status":65,"outcome":"corrupt"')" -eq 1 ]
	[ "$(events runner_failed 'the lazy restore failed')" -eq 1 ]
	[ -z "$(find "$TMP/snap" -name '.*.pager.*')" ]
	[ ! -e "$TMP/snap/$CPU/diff/hello" ]
}

@test "ctrl stopping: a page server still bringing layers is stopped once its VM is gone; nothing of its transfer is left" {
	put_layer "$F" pgstop python3
	put_layer "$F" pgstop diff/hello
	STORE_RESTORE=lazy config pgstop
	requests hello
	FAKESNAPPAGER_HOLD=$TMP/never ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events vm_started '"lazy":true')" -eq 1 ]
	[ "$(events pager_stopped 'draining')" -eq 1 ]
	[ "$(events pager_failed)" -eq 0 ]
	[ -z "$(find "$TMP/snap" -name '.*.pager.*')" ]
	[ ! -e "$TMP/snap/$CPU/python3" ]
	[ ! -e "$TMP/snap/$CPU/diff/hello" ]
	[ -z "$(find "$TMP/snap/.pager" -mindepth 1)" ]
}

@test "a page server that cannot be started: lazy restores are off for the run, logged once, and the layers are downloaded" {
	put_layer "$F" pgnone python3
	put_layer "$F" pgnone diff/hello
	put_layer "$F" pgnone diff/markdown
	FAKESNAPPAGER=$TMP/no-such-snappager STORE_RESTORE=lazy config pgnone
	requests hello markdown
	ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events pager_unavailable 'snappager cannot be started')" -eq 1 ]
	[ "$(events pager_started)" -eq 0 ]
	[ "$(events snapshot_fetched)" -eq 3 ]
}

@test "a lazily restored runner that fails before it connects: its request fails, its page server is stopped, and the function's layers are downloaded" {
	put_layer "$F" pgearly python3
	put_layer "$F" pgearly diff/hello
	STORE_RESTORE=lazy config pgearly
	lazy_requests hello hello@3000
	FAKESNAP_PAGER=fail FAKESNAP_ARGV_LOG=$TMP/argv ctrl ||
	    { cat "$TMP/log"; false; }
	jq -s -e 'map(select(.id == 1))[0] | .error.type == "RunnerFailed"' \
	    "$TMP/out"
	lazy_answered 2
	[ "$(events pager_stopped 'its VM ended before it connected')" -eq 1 ]
	[ "$(events pager_failed)" -eq 0 ]
	[ "$(events snapshot_fetch)" -eq 2 ]
	[ "$(restores lazy)" -eq 1 ]
	[ "$(restores local)" -eq 1 ]
	[ -z "$(find "$TMP/snap" -name '.*.pager.*')" ]
	[ -z "$(find "$TMP/snap/.pager" -mindepth 1)" ]
}

# With the real page server (branch pager: bin/snappager, and
# build/t/pagerclient, which hands it guest memory as snaprestore
# --page-server does, without a VM): the fake runner's memory comes from
# the store through userfaultfd.
real_pager() {
	[ -x "$ROOT/bin/snappager" ] && [ -x "$ROOT/build/t/pagerclient" ] ||
	    skip "no bin/snappager or build/t/pagerclient here"
	export FAKESNAPPAGER="$ROOT/bin/snappager"
	export FAKESNAP_PAGERCLIENT="$ROOT/build/t/pagerclient"
}

@test "snappager: a function whose layers are only in the store answers through a lazy restore, on the memory the layers make; the layers are then here, whole" {
	real_pager
	put_layer "$F" real-pager python3
	put_layer "$F" real-pager diff/hello
	STORE_RESTORE=lazy config real-pager
	requests hello
	FAKESNAP_ARGV_LOG=$TMP/argv ctrl || { cat "$TMP/log"; false; }
	answered
	[ "$(events vm_started '"lazy":true')" -eq 1 ]
	[ "$(events pager_done '"status":0')" -eq 1 ]
	want=$("$FAKESNAP_PAGERCLIENT" --compose "$F/python3,$F/diff/hello")
	[ "$(events console "fakesnap: memory $want")" -eq 1 ]
	"$S3SNAP" verify "$TMP/snap/$CPU/python3"
	"$S3SNAP" verify "$TMP/snap/$CPU/diff/hello"
	[ -z "$(find "$TMP/snap" -name '.*.pager.*')" ]
}

@test "snappager: a corrupt chunk in the store fails the lazily restored VM that touches it and its request, clearly; the function is then served from layers made here" {
	real_pager
	put_layer "$F" real-bad python3
	put_layer "$F" real-bad diff/hello
	here "$F" python3
	# A byte of the diff's memory object changed, in its first chunk.
	key="real-bad/$CPU/diff/hello"
	key="${STORE#s3://snapvm-test/}/$key/$(sha256sum < "$F/diff/hello/manifest.json" | cut -c1-64)/memory"
	s3="--aws-sigv4 aws:amz:$AWS_REGION:s3 --user $AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY -H x-amz-content-sha256:UNSIGNED-PAYLOAD"
	# shellcheck disable=SC2086
	curl -sf -o "$TMP/obj" $s3 "$AWS_ENDPOINT_URL/snapvm-test/$key"
	printf '\377' | dd of="$TMP/obj" bs=1 seek=100 conv=notrunc 2> /dev/null
	# shellcheck disable=SC2086
	curl -sf -X PUT -T "$TMP/obj" $s3 "$AWS_ENDPOINT_URL/snapvm-test/$key"
	STORE_RESTORE=lazy config real-bad
	lazy_requests hello hello@4000
	FAKESNAP_ARGV_LOG=$TMP/argv ctrl || { cat "$TMP/log"; false; }
	jq -s -e 'map(select(.id == 1))[0] | .error.type == "RunnerFailed" and
	    (.error.message | test("status 65"))' "$TMP/out"
	[ "$(events pager_failed '"status":65,"outcome":"corrupt"')" -eq 1 ]
	[ "$(events console 'page server: s3://.*/memory: chunk 0, bytes 0-262143: not the index.s SHA-256 or length (corrupt object)')" -eq 1 ]
	# The next request: a download, which finds the object corrupt too,
	# then a diff built here.
	lazy_answered 2
	[ "$(events snapshot_fetch_failed '"status":65')" -eq 1 ]
	[ "$(events snapshot_built hello)" -eq 1 ]
	[ "$(restores lazy)" -eq 1 ]
	[ -z "$(find "$TMP/snap" -name '.*.pager.*')" ]
}
