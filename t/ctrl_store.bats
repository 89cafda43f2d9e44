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
# more of ctrl.yaml (cpu_template, cpu_workarounds).
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
