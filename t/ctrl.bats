#!/usr/bin/env bats
# ctrl, the dispatcher, on VMs restored from the run's snapshots
# (build/snap, made by make check; see t/snaplinux.bats).

load helpers

CTRL="$ROOT/bin/ctrl"

setup_file() {
	export SNAP="$ROOT/build/snap"
	# Without KVM only the tests tagged otherwise run: they need none.
	[ -f "$SNAP/diff/hello/manifest.json" ] || [ ! -e /dev/kvm ] ||
	    "$ROOT/scripts/mksnap" "$SNAP" 2> /dev/null
	mke2fs -q -t ext2 -L spin -d "$ROOT/t/apps/spin" "$BATS_FILE_TMPDIR/spin.ext2" 1024
	# ctrl's own layers, $OWN: the run's, where ctrl looks for them, in
	# the directory of its CPU settings (the defaults here).
	export XDG_CACHE_HOME="$BATS_FILE_TMPDIR/cache"
	export OWN="$BATS_FILE_TMPDIR/snap"
	CPU=$(ctrl_cpu_dir)
	export CPU
	if [ -f "$SNAP/diff/hello/manifest.json" ]; then
		mkdir -p "$OWN/$CPU"
		cp -r --sparse=always "$SNAP/python3" "$SNAP/diff" "$OWN/$CPU/"
	fi
}

setup() {
	TMP="$BATS_TEST_TMPDIR"
	export XDG_CACHE_HOME="$BATS_FILE_TMPDIR/cache"
	CG=
}

# config BUDGET [LISTEN]: ctrl.yaml and functions.yaml in $TMP, with
# ctrl's own layers in $OWN; spin and slowspin name the base of $SNAP.
config() {
	cat > "$TMP/ctrl.yaml" <<EOF2
kernel: $ROOT/build/vmlinux
rootfs: $ROOT/build/rootfs.ext4
appfs_dir: $ROOT/build/appfs
snapshot_dir: $OWN
vmrun: $ROOT/bin/vmrun
snaprestore: $ROOT/bin/snaprestore
functions: functions.yaml
memory_budget: $1
idle_timeout: 60
queue_limit: ${QUEUE:-1000}
${2:+listen: [\"$2\"]}
${JAIL_YAML-$NO_JAIL}
EOF2
	{
		echo "functions:"
		for app in hello markdown digest primes orders; do
			printf '  - name: %s\n    memory: 128\n    concurrency: 2\n    timeout: %s\n' "$app" "${TIMEOUT:-60000}"
		done
		printf '  - name: spin\n    appfs: %s\n    timeout: 2000\n    snapshot: [%s]\n' \
		    "$BATS_FILE_TMPDIR/spin.ext2" "$SNAP/python3"
		printf '  - name: slowspin\n    appfs: %s\n    timeout: 600000\n    snapshot: [%s]\n' \
		    "$BATS_FILE_TMPDIR/spin.ext2" "$SNAP/python3"
	} > "$TMP/functions.yaml"
}

ctrl() {
	timeout --kill-after=10 600 "$CTRL" --config "$TMP/ctrl.yaml" "$@"
}

# ctrl in the background, as a service manager runs it: signals go to ctrl
# itself (timeout(1) would take them), a watchdog bounds its life.
# ctrl_bg [FLAG...]: ctrl in the background, as $pid; in the cgroup
# $CTRL_CGROUP if set (as systemd starts a unit with Delegate=yes); through
# the command $CTRL_WRAP (words) if set, which execs ctrl.
ctrl_bg() {
	if [ -n "${CTRL_CGROUP:-}" ]; then
		# shellcheck disable=SC2086
		sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CTRL_CGROUP" \
		    ${CTRL_WRAP:-} "$CTRL" --config "$TMP/ctrl.yaml" "$@" 3>&- &
	else
		# shellcheck disable=SC2086
		${CTRL_WRAP:-} "$CTRL" --config "$TMP/ctrl.yaml" "$@" 3>&- &
	fi
	pid=$!
	( sleep 600; kill -KILL $pid 2> /dev/null ) > /dev/null 2>&1 3>&- &
	WATCHDOG=$!
	disown $WATCHDOG
}

teardown() {
	[ -z "${WATCHDOG:-}" ] || kill $WATCHDOG 2> /dev/null || true
	cgroup_v2_done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

@test "ctrl --check: the shipped configuration is valid" {
	run "$CTRL" --config "$ROOT/etc/ctrl.yaml" --check
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok, 5 functions"* ]]
}

@test "configuration errors name the file, line and field; exit 78" {
	config 512
	sed -i 's/memory: 128/memory: lots/' "$TMP/functions.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"functions.yaml:3: memory: expected a positive integer from 16 to 65536, got \"lots\""* ]]
	config 512
	echo "colour: blue" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"ctrl.yaml:"*": colour: unknown key"* ]]
	config 512
	printf 'functions:\n  - name: hello\n  - name: hello\n' > "$TMP/functions.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"name: \"hello\" is defined twice"* ]]
	# A key given twice: YAML forbids it; libyaml alone would keep the
	# first in silence.  Both lines are named, in any mapping.
	config 512
	line=$(($(wc -l < "$TMP/ctrl.yaml") + 1))
	echo "memory_budget: 1" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"ctrl.yaml:$line: memory_budget: given again (first at line 8)"* ]]
	config 512
	printf 'functions:\n  - name: hello\n    memory: 128\n    memory: 256\n' > "$TMP/functions.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"functions.yaml:4: memory: given again (first at line 3)"* ]]
	run "$CTRL" --config "$TMP/none.yaml" --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"none.yaml"* ]]
}

@test "a relative path in ctrl.yaml is from the file's directory, made absolute: a jailed runner is named by its absolute path" {
	config 512
	sed -i 's|^snapshot_dir: .*|snapshot_dir: own-snap|; s|^snaprestore: .*|snaprestore: ../bin/x|' \
	    "$TMP/ctrl.yaml"
	mkdir -p "$TMP/sub"
	cd "$TMP/sub"
	run "$CTRL" --config ../ctrl.yaml --check
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"; layers in $TMP/own-snap/cpu-host"* ]]
	cd "$TMP"
	run "$CTRL" --config ctrl.yaml --check
	[[ "$output" == *"; layers in $TMP/own-snap/cpu-host"* ]]
}

@test "cpu_template and cpu_workarounds: ctrl --check loads the template, refusing a bad file by its line and a name that is neither a built-in nor an absolute path" {
	config 512
	run ctrl --check
	[ "$status" -eq 0 ]
	[[ "$output" == *"cpu: template host (host), workarounds auto"* ]]
	echo "cpu_template: x86-64-v2" >> "$TMP/ctrl.yaml"
	echo "cpu_workarounds: noxsave" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 0 ]
	[[ "$output" == *"cpu: template x86-64-v2 (x86-64-v2), workarounds noxsave (here noxsave); layers in "*"/cpu-x86-64-v2-noxsave"* ]]
	printf 'snapvm-cpu-template 1\nname fleet-1\nclear avx512f\n' > "$TMP/t"
	sed -i "s|^cpu_template: .*|cpu_template: $TMP/t|" "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 0 ]
	[[ "$output" == *"cpu: template fleet-1 ($TMP/t), workarounds noxsave"* ]]
	printf 'snapvm-cpu-template 1\nname fleet-1\nclear 7 0 ebx zz\n' > "$TMP/t"
	tl=$(grep -n '^cpu_template:' "$TMP/ctrl.yaml" | cut -d: -f1)
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"$TMP/t:3: bits: \"zz\""* ]]
	[[ "$output" == *"ctrl.yaml:$tl: cpu_template: $TMP/t: not a usable template"* ]]
	sed -i "s|^cpu_template: .*|cpu_template: $TMP/none|" "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"cpu_template: $TMP/none: not a usable template"* ]]
	for bad in x86-64-v5 t; do
		sed -i "s|^cpu_template: .*|cpu_template: $bad|" "$TMP/ctrl.yaml"
		run ctrl --check
		[ "$status" -eq 78 ]
		[[ "$output" == *"ctrl.yaml:$tl: cpu_template: \"$bad\": neither a built-in template (host, x86-64-v2, x86-64-v3, x86-64-v4) nor an absolute path"* ]]
	done
	sed -i -e "s|^cpu_template: .*|cpu_template: host|" \
	    -e "s|^cpu_workarounds: .*|cpu_workarounds: sometimes|" "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"ctrl.yaml:$((tl + 1)): cpu_workarounds: \"sometimes\": expected auto, on, noxsave or off"* ]]
}

@test "cpu_workarounds auto is settled once at start: on where /dev/kvm is not usable; the cpu event names the layers' directory" {
	[ ! -r /dev/kvm ] || [ ! -w /dev/kvm ] || skip "this host has KVM: the probe decides"
	config 512
	printf 'functions: []\n' > "$TMP/functions.yaml"
	ctrl --requests /dev/null 2> "$TMP/log"
	grep '"event":"cpu"' "$TMP/log" | jq -e --arg d "$OWN/cpu-host-on" \
	    '.template == "host" and .name == "host" and .configured == "auto" and .workarounds == "on" and .dir == $d'
	[ "$(grep -c '"event":"cpu"' "$TMP/log")" -eq 1 ]
	[ "$(cpu_dir_in "$TMP/log")" = cpu-host-on ]
	[ "$CPU" = cpu-host-on ]
	# Given, it is taken as it is.
	echo "cpu_workarounds: off" >> "$TMP/ctrl.yaml"
	ctrl --requests /dev/null 2> "$TMP/log"
	[ "$(cpu_dir_in "$TMP/log")" = cpu-host-off ]
}

@test "a jail section that would not confine is refused by ctrl --check, naming the key" {
	JAIL_YAML= config 512
	mkdir -p "$TMP/jails"
	printf 'jail:\n  uid: 0\n  base: %s\n' "$TMP/jails" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"ctrl.yaml:"*": uid: 0: the runners take uids and gids 0 to 256, which must not include 0 (root)"* ]]
	JAIL_YAML= config 512
	printf 'jail:\n  uid: 40000\n  base: %s\n' "$TMP/ctrl.yaml" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *": base: $TMP/ctrl.yaml: not a directory"* ]]
	JAIL_YAML= config 512
	printf 'jail:\n  uid: 40000\n  base: %s\n  cgroup: %s\n' "$TMP/jails" "$TMP/jails" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *": cgroup: $TMP/jails: not a cgroup v2 directory"* ]]
	JAIL_YAML= config 512
	printf 'jail:\n  uid: 40000\n  base: %s\n  enabled: maybe\n' "$TMP/jails" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *": enabled:"* ]]
	JAIL_YAML= config 512
	printf 'jail:\n  uid: 40000\n  base: %s\n' "$TMP/jails" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 0 ]
}

# A v2 hierarchy without the controllers the jail's limits need (a v1/v2
# hybrid host's) is refused naming the missing one; one with them passes.
@test "a jail's cgroup parent must offer memory, pids and cpu" {
	cg=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$cg" ]
	JAIL_YAML= config 512
	mkdir -p "$TMP/jails"
	printf 'jail:\n  uid: 40000\n  base: %s\n  cgroup: %s\n' "$TMP/jails" "$cg" >> "$TMP/ctrl.yaml"
	run ctrl --check
	echo "$output"
	if grep -qw memory "$cg/cgroup.controllers" && grep -qw pids "$cg/cgroup.controllers" &&
	    grep -qw cpu "$cg/cgroup.controllers"; then
		[ "$status" -eq 0 ]
	else
		[ "$status" -eq 78 ]
		[[ "$output" == *": cgroup: $cg: no "*" controller (cgroup.controllers: \""*"runners need memory, pids and cpu, delegated to ctrl (Delegate=yes)"* ]]
	fi
}

@test "as root, ctrl jails its runners by default; enabled: false turns it off; --check makes no directory" {
	[ "$(id -u)" -eq 0 ]
	JAIL_YAML= config 512
	run ctrl --check
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "jail: on: uids and gids 2000000000-2000000256, base /srv/snapvm/jail, cgroup none" ]
	config 512
	run ctrl --check
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "jail: off: runners run as ctrl's own user" ]
	# A base that does not exist yet is made when ctrl starts, not by
	# --check; a uid range of its own.
	JAIL_YAML=$(printf 'jail:\n  base: %s\n  uid: 50000' "$TMP/new/jails") config 512
	run ctrl --check
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "jail: on: uids and gids 50000-50256, base $TMP/new/jails, cgroup none" ]
	[ ! -e "$TMP/new" ]
}

# "delegated": ctrl's own cgroup, as systemd's Delegate=yes gives it.
@test "cgroup: delegated is ctrl's own cgroup, checked like any other" {
	mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$mnt" ]
	own=$mnt$(sed -n 's/^0:://p' /proc/self/cgroup)
	own=${own%/}
	JAIL_YAML=$(printf 'jail:\n  cgroup: delegated\n  base: %s' "$TMP") config 512
	run ctrl --check
	echo "$output"
	if grep -qw memory "$own/cgroup.controllers" && grep -qw pids "$own/cgroup.controllers" &&
	    grep -qw cpu "$own/cgroup.controllers"; then
		[ "$status" -eq 0 ]
		[ "${lines[1]}" = "jail: on: uids and gids 2000000000-2000000256, base $TMP, cgroup $own (delegated)" ]
	else
		[ "$status" -eq 78 ]
		[[ "$output" == *": cgroup: $own: no "*" controller"* ]]
	fi
}

# bats test_tags=kvm
@test "with KVM, the host template's layers are in a directory that carries the CPU's fingerprint, the same on every run; a named template's carries none" {
	[[ "$CPU" == cpu-host.+([0-9a-f])-@(on|noxsave|off) ]]
	fp=${CPU#cpu-host.}
	[ "${fp:8:1}" = - ]	# 8 hex digits
	[ "$(ctrl_cpu_dir)" = "$CPU" ]
	config 512
	echo "cpu_template: x86-64-v2" >> "$TMP/ctrl.yaml"
	run ctrl --check
	line=$(grep '^cpu: ' <<< "$output")
	[[ "$line" == *"; layers in $OWN/cpu-x86-64-v2-"@(on|noxsave|off) ]]
}

# bats test_tags=kvm
@test "the bundled request file: every line answered correctly, exactly once" {
	# Two of the ten wait for memory behind primes, slow under TCG: the
	# deadline is a backstop, long enough for a loaded machine.
	TIMEOUT=600000 config 1024
	ctrl --requests "$ROOT/appfs/requests.jsonl" > "$TMP/out"
	cat "$TMP/out"
	[ "$(wc -l < "$TMP/out")" -eq "$(wc -l < "$ROOT/appfs/requests.jsonl")" ]
	python3 - "$ROOT" "$TMP/out" <<'PY'
import json, sys
root, out = sys.argv[1], sys.argv[2]
got = [json.loads(l) for l in open(out)]
want = [json.loads(l) for l in open(root + "/appfs/requests.jsonl")]
assert sorted(g["id"] for g in got) == sorted(w["id"] for w in want)
for g in got:
    exp = json.load(open("%s/appfs/%s/expected.json" % (root, g["function"])))
    assert g["status"] == "ok" and g["response"] == exp, g
PY
}

# bats test_tags=kvm
@test "a small budget forces evictions: all answered, accounting back to zero" {
	# Thirty requests at once through two VMs: a deadline long enough
	# that none expires on a loaded machine.
	TIMEOUT=600000 config 256
	python3 -c '
import json
apps = ["hello", "markdown", "digest", "primes", "orders"]
for i in range(30):
    a = apps[(i * 7) % 5]
    print(json.dumps({"id": i, "function": a, "payload": json.load(open("'"$ROOT"'/appfs/%s/request.json" % a)).get("payload")}))
' > "$TMP/in"
	ctrl -v --requests "$TMP/in" > "$TMP/out" 2> "$TMP/log"
	[ "$(wc -l < "$TMP/out")" -eq 30 ]
	[ "$(grep -c '"status":"ok"' "$TMP/out")" -eq 30 ]
	python3 -c 'import json,sys; ids=sorted(json.loads(l)["id"] for l in open(sys.argv[1])); assert ids == list(range(30)), ids' "$TMP/out"
	grep -q '"why":"evicted"' "$TMP/log"
	grep -q '"event":"stopped","used_mib":0,"queued":0' "$TMP/log"
}

# bats test_tags=kvm
@test "a full queue refuses with OverCapacity at once; the rest are served" {
	QUEUE=2 config 128
	for i in 1 2 3 4 5 6; do
		echo "{\"id\":$i,\"function\":\"hello\",\"payload\":$i}"
	done > "$TMP/in"
	ctrl --requests "$TMP/in" > "$TMP/out"
	cat "$TMP/out"
	[ "$(wc -l < "$TMP/out")" -eq 6 ]
	ok=$(grep -c '"status":"ok"' "$TMP/out")
	full=$(grep -c '"type":"OverCapacity","message":"the request queue is full"' "$TMP/out")
	[ "$ok" -ge 2 ]
	[ "$full" -ge 1 ]
	[ $((ok + full)) -eq 6 ]
}

@test "oversized lines and payloads are refused before any VM starts" {
	config 256
	python3 -c '
import json
print(json.dumps({"id": 1, "function": "hello", "payload": "x" * (5 << 20)}))
print(json.dumps({"id": 2, "function": "hello", "payload": "/" * ((4 << 20) - 40)}))
print(json.dumps({"id": 3, "function": "nope"}))
' > "$TMP/in"
	ctrl -v --requests "$TMP/in" > "$TMP/out" 2> "$TMP/log"
	[ "$(wc -l < "$TMP/out")" -eq 3 ]
	grep -q '{"id":null,"function":null,"status":"error","error":{"type":"BadRequest","message":"the line is longer than 4 MiB + 64 KiB"}' "$TMP/out"
	grep -q '{"id":2,"function":"hello","status":"error","error":{"type":"BadRequest","message":"the payload is larger than 4 MiB - 64 bytes"}' "$TMP/out"
	grep -q '{"id":3,.*"type":"NotFound"' "$TMP/out"
	! grep -q vm_started "$TMP/log"
}

@test "a runner program that cannot be started fails its request, once" {
	config 256
	# A restore, or where there are no layers (no KVM) a cold boot.
	sed -i -e "s|^snaprestore: .*|snaprestore: $TMP/no-such-runner|" \
	    -e "s|^vmrun: .*|vmrun: $TMP/no-such-runner|" "$TMP/ctrl.yaml"
	echo '{"id":1,"function":"hello","payload":1}' > "$TMP/in"
	run ctrl --requests "$TMP/in"
	[ "$status" -eq 0 ]
	echo "$output"
	grep -c runner_spawn_failed <<< "$output" | grep -qx 1
	[[ "$output" == *'{"id":1,"function":"hello","status":"error","error":{"type":"RunnerFailed","message":"the runner could not be started; ctrl'"'"'s log says why"}'* ]]
	[[ "$output" == *"\"runner\":\"$TMP/no-such-runner\",\"error\":\"No such file or directory\""* ]]
}

# bats test_tags=kvm
@test "malformed lines and unknown functions get one error line each" {
	config 512
	printf '%s\n' 'not json' '{"id":1,"function":"nope"}' '{"id":2,"function":"hello","extra":1}' \
	    '{"id":3,"function":"hello","payload":[3]}' > "$TMP/in"
	ctrl --requests "$TMP/in" > "$TMP/out"
	cat "$TMP/out"
	[ "$(wc -l < "$TMP/out")" -eq 4 ]
	grep -q '"status":"error","error":{"type":"BadRequest","message":"not a JSON object"}' "$TMP/out"
	grep -q '{"id":1,"function":null,"status":"error","error":{"type":"NotFound"' "$TMP/out"
	grep -q '{"id":2,.*"BadRequest","message":"unknown field \\"extra\\""' "$TMP/out"
	grep -q '{"id":3,"function":"hello","status":"ok","response":{"echo":\[3\]}' "$TMP/out"
}

# bats test_tags=kvm
@test "a function that times out: Timeout error, the runner is replaced" {
	config 512
	printf '%s\n' '{"id":1,"function":"spin"}' '{"id":2,"function":"hello","payload":2}' > "$TMP/in"
	ctrl -v --requests "$TMP/in" > "$TMP/out" 2> "$TMP/log"
	cat "$TMP/out"
	grep -q '{"id":1,"function":"spin","status":"error","error":{"type":"Timeout"' "$TMP/out"
	grep -q '{"id":2,"function":"hello","status":"ok"' "$TMP/out"
	grep -q '"event":"stopped","used_mib":0' "$TMP/log"
}

# bats test_tags=kvm
@test "a runner killed with SIGKILL mid-request: that request fails, the next is served" {
	config 512
	{
		echo '{"id":1,"function":"slowspin"}'
		echo '{"id":2,"function":"hello","payload":2,"time":8000}'
	} > "$TMP/in"
	ctrl -v --requests "$TMP/in" > "$TMP/out" 2> "$TMP/log" &
	pid=$!
	for _ in $(seq 1 100); do
		runner=$(pgrep -f "snaprestore.*spin.ext2" || true)
		[ -n "$runner" ] && break
		sleep 0.1
	done
	[ -n "$runner" ]
	sleep 3
	kill -KILL $runner
	wait $pid
	cat "$TMP/out"
	grep -q '{"id":1,"function":"slowspin","status":"error","error":{"type":"RunnerFailed","message":"the runner was killed by signal 9 during the request"}' "$TMP/out"
	grep -q '{"id":2,"function":"hello","status":"ok"' "$TMP/out"
	grep -q '"event":"stopped","used_mib":0' "$TMP/log"
	! pgrep -f "snaprestore.*spin.ext2"
}

# bats test_tags=kvm
@test "HTTP: concurrent invocations, errors by status code, functions, metrics" {
	port=$(free_port)
	config 512 "127.0.0.1:$port"
	ctrl_bg 2> "$TMP/log"
	url="http://127.0.0.1:$port"
	for _ in $(seq 1 50); do curl -sf "$url/healthz" > /dev/null && break; sleep 0.1; done
	for i in $(seq 1 8); do
		curl -s -X POST --data "{\"n\":$i}" "$url/v1/functions/hello/invoke" > "$TMP/r$i" &
	done
	wait $(jobs -p | grep -v "^$pid$") 2> /dev/null || true
	for i in $(seq 1 8); do
		[ "$(cat "$TMP/r$i")" = "{\"echo\":{\"n\":$i}}" ]
	done
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data 'x' "$url/v1/functions/hello/invoke")" = 400 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '{}' "$url/v1/functions/nope/invoke")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/functions/hello/invoke")" = 405 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/nowhere")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/v1/functions/spin/invoke")" = 504 ]
	curl -s "$url/v1/functions" | grep -q '"name":"hello"'
	curl -s "$url/metrics" > "$TMP/metrics"
	grep -q '^snapvm_requests_total{function="hello",outcome="ok"} 8$' "$TMP/metrics"
	grep -q '^snapvm_requests_total{function="hello",outcome="bad_request"} 1$' "$TMP/metrics"
	grep -q '^snapvm_requests_total{function="spin",outcome="timeout"} 1$' "$TMP/metrics"
	grep -q '^snapvm_request_duration_seconds_count{function="hello",start="warm"}' "$TMP/metrics"
	grep -q '^snapvm_memory_budget_bytes 536870912$' "$TMP/metrics"
	grep -q '^snapvm_requests_unknown_function_total 1$' "$TMP/metrics"
	kill -TERM $pid
	wait $pid
}

# What /proc says of each runner ctrl (pid $1) runs through vmjail: "UID
# NONEWPRIVS CAPEFF CGROUP SECCOMP ROOTDEV PID" per line; ROOTDEV is the
# device of the runner's root (its jail's tmpfs, in a mount namespace of
# its own: no path from here names it).
jailed_runners() {
	local k r
	for k in $(pgrep -P "$1" -x vmjail); do
		r=$(pgrep -P "$k")
		printf '%s %s %s %s %s %s %s\n' \
		    "$(awk '/^Uid:/ { print $2 }' /proc/$r/status)" \
		    "$(awk '/^NoNewPrivs:/ { print $2 }' /proc/$r/status)" \
		    "$(awk '/^CapEff:/ { print $2 }' /proc/$r/status)" \
		    "$(sed -n 's/^0:://p' /proc/$r/cgroup)" \
		    "$(awk '/^Seccomp:/ { print $2 }' /proc/$r/status)" \
		    "$(stat -L -c %d /proc/$r/root/)" "$r"
	done
}

# invoke FUNCTION BODY: the answer's body, its HTTP status in $code.
invoke() {
	code=$(curl -s -o "$TMP/answer" -w '%{http_code}' -X POST --data "$2" \
	    "$url/v1/functions/$1/invoke")
	cat "$TMP/answer"
}

# bats test_tags=kvm
@test "under the unit's SystemCallFilter=, as systemd applies it, ctrl and its jailed runners serve hello, restored and cold, and drain" {
	port=$(free_port)
	JAIL_YAML= config 1024 "127.0.0.1:$port"
	printf '  - name: hellocold\n    appfs: %s\n    snapshots: false\n    memory: 128\n' \
	    "$ROOT/build/appfs/hello.ext2" >> "$TMP/functions.yaml"
	cgroup_v2 "$TMP/cg"
	mkdir -m 755 "$TMP/jails"
	printf 'jail:\n  uid: 40100\n  base: %s\n  cgroup: delegated\n  vmjail: %s\n' \
	    "$TMP/jails" "$ROOT/bin/vmjail" >> "$TMP/ctrl.yaml"
	unit_syscalls "$TMP/calls"
	CTRL_WRAP="$ROOT/build/t/jail/sysfilter $TMP/calls" CTRL_CGROUP=$CG/snapvm \
	    ctrl_bg 2> "$TMP/log"
	url="http://127.0.0.1:$port"
	for _ in $(seq 1 100); do curl -sf "$url/healthz" > /dev/null && break; sleep 0.1; done
	# ctrl itself is under the filter, and so is all it starts.
	[ "$(awk '/^Seccomp:/ { print $2 }' /proc/$pid/status)" = 2 ]
	[ "$(invoke hello '{"n":1}')" = '{"echo":{"n":1}}' ]
	[ "$(invoke hellocold '{"n":2}')" = '{"echo":{"n":2}}' ]
	[ "$(invoke hello '{"n":3}')" = '{"echo":{"n":3}}' ]
	kill -TERM $pid
	wait $pid
	cat "$TMP/log"
	! grep -q 'SIGSYS\|seccomp_killed\|runner_failed' "$TMP/log"
	[ "$(ls "$TMP/jails" | wc -l)" -eq 0 ]
}

# bats test_tags=kvm
@test "jailed runners serve hello, restored and cold: each its own uid, cgroup, root and seccomp filter, all gone after, also after SIGKILL and SIGSYS" {
	port=$(free_port)
	JAIL_YAML= config 1024 "127.0.0.1:$port"
	printf '  - name: hellocold\n    appfs: %s\n    snapshots: false\n    memory: 128\n' \
	    "$ROOT/build/appfs/hello.ext2" >> "$TMP/functions.yaml"
	# The restoring runner with the test hook: what it may open, and a
	# call no seccomp list allows.
	sed -i "s|^snaprestore: .*|snaprestore: $ROOT/build/t/hooks/snaprestore|" "$TMP/ctrl.yaml"
	cgroup_v2 "$TMP/cg"
	mkdir -m 755 "$TMP/jails"
	printf 'jail:\n  uid: 40100\n  base: %s\n  cgroup: delegated\n  vmjail: %s\n' \
	    "$TMP/jails" "$ROOT/bin/vmjail" >> "$TMP/ctrl.yaml"
	CTRL_CGROUP=$CG/snapvm ctrl_bg 2> "$TMP/log"
	url="http://127.0.0.1:$port"
	for _ in $(seq 1 100); do curl -sf "$url/healthz" > /dev/null && break; sleep 0.1; done
	# ctrl moved itself out of the way of its runners' cgroups.
	[ "$(sed -n 's/^0:://p' /proc/$pid/cgroup)" = /snapvm/ctrl ]
	[ "$(invoke hello '{"n":1}')" = '{"echo":{"n":1}}' ]
	[ "$(invoke hellocold '{"n":2}')" = '{"echo":{"n":2}}' ]
	jailed_runners $pid | tee "$TMP/runners"
	[ "$(wc -l < "$TMP/runners")" -eq 2 ]
	# Each: an unprivileged uid of the range, no_new_privs, no capability,
	# a cgroup of its own under the delegated one, with its limit, a
	# seccomp filter, and its own directory for root.
	[ "$(awk '$1 >= 40100 && $1 < 40356 && $2 == 1 && $3 ~ /^0+$/ && $5 == 2' "$TMP/runners" | wc -l)" -eq 2 ]
	[ "$(cut -d' ' -f1 "$TMP/runners" | sort -u | wc -l)" -eq 2 ]
	[ "$(cut -d' ' -f4 "$TMP/runners" | sort -u | wc -l)" -eq 2 ]
	[ "$(cut -d' ' -f6 "$TMP/runners" | sort -u | wc -l)" -eq 2 ]
	for cg in $(cut -d' ' -f4 "$TMP/runners"); do
		[[ "$cg" == /snapvm/vm* ]]
		[ "$(cat "$CG$cg/memory.max")" = $(((128 + 64) << 20)) ]
	done
	# Each root holds the devices and the files bound in, nothing else of
	# the host's.
	for r in $(cut -d' ' -f7 "$TMP/runners"); do
		[ -c "/proc/$r/root/dev/kvm" ]
		[ -f "/proc/$r/root$ROOT/build/rootfs.ext4" ]
		[ ! -e "/proc/$r/root$ROOT/README.md" ]
		[ ! -e "/proc/$r/root/etc/passwd" ]
	done
	[ "$(ls "$TMP/jails" | wc -l)" -eq 2 ]
	# A host file that was not bound in does not exist for the runner;
	# one that was (its root filesystem) opens.
	invoke hello "{\"snapvm_test\":\"open\",\"path\":\"$ROOT/README.md\"}" |
	    grep -qF "open $ROOT/README.md: No such file or directory"
	invoke hello "{\"snapvm_test\":\"open\",\"path\":\"$ROOT/build/rootfs.ext4\"}" |
	    grep -qF "open $ROOT/build/rootfs.ext4: opened"
	# A runner killed from outside: its jail goes with it, and the next
	# request gets a new one.
	keeper=$(pgrep -P $pid -x vmjail | head -1)
	kill -KILL "$(pgrep -P "$keeper")"
	for _ in $(seq 300); do		# a backstop, not a measurement
		[ "$(ls "$TMP/jails" | wc -l)" -eq 1 ] && break
		sleep 0.1
	done
	[ "$(ls "$TMP/jails" | wc -l)" -eq 1 ]
	[ "$(ls -d "$CG"/snapvm/vm* | wc -l)" -eq 1 ]
	[ "$(invoke hello '{"n":3}')" = '{"echo":{"n":3}}' ]
	[ "$(invoke hellocold '{"n":4}')" = '{"echo":{"n":4}}' ]
	# A call outside the filter's list kills the runner with SIGSYS: the
	# request fails, the kill is logged and counted, the rest go on.
	invoke hello '{"snapvm_test":"sigsys"}' > "$TMP/r"	# not in a pipe: $code
	cat "$TMP/r"
	[ "$code" = 500 ]
	grep -q 'seccomp filter forbids (SIGSYS)' "$TMP/r"
	grep '"event":"runner_seccomp_killed"' "$TMP/log" | grep -q '"function":"hello"'
	curl -s "$url/metrics" | grep -qx 'snapvm_runner_seccomp_kills_total{function="hello"} 1'
	[ "$(invoke hellocold '{"n":5}')" = '{"echo":{"n":5}}' ]
	[ "$(invoke hello '{"n":6}')" = '{"echo":{"n":6}}' ]
	curl -s "$url/metrics" | tee "$TMP/metrics" | grep '^snapvm_vm_memory_current_bytes'
	[ "$(sed -n 's/^snapvm_vm_memory_current_bytes{function="hello"} //p' "$TMP/metrics")" -gt $((1 << 20)) ]
	# A VM pushed past its memory.max (here by lowering it below what
	# its guest already uses): reported as such, not as a crash.
	for d in "$CG"/snapvm/vm*; do
		echo 1M > "$d/memory.max"
	done
	for _ in $(seq 300); do		# a backstop, not a measurement
		[ "$(grep -c '"event":"runner_oom_killed"' "$TMP/log")" -eq 2 ] && break
		sleep 0.1
	done
	grep '"event":"runner_oom_killed"' "$TMP/log" | grep -q '"function":"hello"'
	grep '"event":"runner_oom_killed"' "$TMP/log" | grep -q '"function":"hellocold"'
	curl -s "$url/metrics" | grep -qx 'snapvm_runner_oom_kills_total{function="hello"} 1'
	[ "$(invoke hello '{"n":7}')" = '{"echo":{"n":7}}' ]
	kill -TERM $pid
	wait $pid
	[ -z "$(ls -A "$TMP/jails")" ]
	[ -z "$(ls -d "$CG"/snapvm/vm* 2> /dev/null)" ]
}

# bats test_tags=kvm
@test "a jailed first restore of a diff without a working set records one, which ctrl adds to the layer; the next ctrl restores with it" {
	local snap="$TMP/snap"
	mkdir -p "$snap/$CPU/diff"
	cp -r --sparse=always "$SNAP/python3" "$snap/$CPU/python3"
	cp -r --sparse=always "$SNAP/diff/hello" "$snap/$CPU/diff/hello"
	rm "$snap/$CPU/diff/hello/workset"
	manifest_edit "$snap/$CPU/diff/hello" 'del m["files"]["workset"]'
	port=$(free_port)
	url="http://127.0.0.1:$port"
	OWN=$snap JAIL_YAML= config 1024 "127.0.0.1:$port"
	# hello only: the others' diffs would keep the builder's place busy.
	printf 'functions:\n  - name: hello\n    memory: 128\n' > "$TMP/functions.yaml"
	cgroup_v2 "$TMP/cg"
	mkdir -m 755 "$TMP/jails"
	printf 'jail:\n  uid: 40100\n  base: %s\n  cgroup: delegated\n  vmjail: %s\n' \
	    "$TMP/jails" "$ROOT/bin/vmjail" >> "$TMP/ctrl.yaml"
	CTRL_CGROUP=$CG/snapvm ctrl_bg -v 2> "$TMP/log1"
	for _ in $(seq 1 100); do curl -sf "$url/healthz" > /dev/null && break; sleep 0.1; done
	[ "$(invoke hello '{"n":1}')" = '{"echo":{"n":1}}' ]
	# ctrl adds it once the answer is out.
	for _ in $(seq 3000); do	# a backstop, not a measurement
		grep -q '"event":"workset_\(added\|failed\)"' "$TMP/log1" && break
		sleep 0.1
	done
	[ "$(invoke hello '{"n":2}')" = '{"echo":{"n":2}}' ]
	kill -TERM $pid
	wait $pid
	cat "$TMP/log1"
	! grep -q 'SIGSYS\|seccomp_killed\|runner_failed\|workset_failed' "$TMP/log1"
	grep -q '"event":"workset_recorded","function":"hello"' "$TMP/log1"
	grep -q '"event":"workset_added","function":"hello"' "$TMP/log1"
	[ -s "$snap/$CPU/diff/hello/workset" ]
	jq -e '.files.workset.size > 0' "$snap/$CPU/diff/hello/manifest.json"
	[ -z "$(find "$snap/.record" -type f)" ]
	# A second ctrl (unjailed: the first one's cgroups stay) finds it
	# there: its restore reads it, and nothing is recorded.  The first
	# one's watchdog goes first: bats would wait for it.
	kill "$WATCHDOG"
	OWN=$snap config 1024 "127.0.0.1:$port"
	printf 'functions:\n  - name: hello\n    memory: 128\n' > "$TMP/functions.yaml"
	ctrl_bg -v 2> "$TMP/log2"
	for _ in $(seq 1 100); do curl -sf "$url/healthz" > /dev/null && break; sleep 0.1; done
	[ "$(invoke hello '{"n":3}')" = '{"echo":{"n":3}}' ]
	kill -TERM $pid
	wait $pid
	cat "$TMP/log2"
	grep -q '"event":"vm_started","function":"hello".*"restore":true' "$TMP/log2"
	! grep -q '"event":"workset_recorded"' "$TMP/log2"
}

# bats test_tags=kvm
@test "SIGTERM drains: the request in flight is answered, then ctrl exits 0" {
	port=$(free_port)
	config 512 "127.0.0.1:$port"
	ctrl_bg -v 2> "$TMP/log"
	for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
	curl -s -X POST --data '{"sleep": 2}' \
	    "http://127.0.0.1:$port/v1/functions/slowspin/invoke" > "$TMP/r" &
	client=$!
	# SIGTERM once a VM has the request: it sleeps 2 s in the handler.
	busy='^snapvm_vms{function="slowspin",state="busy"} 1$'
	for _ in $(seq 1 600); do
		curl -s "http://127.0.0.1:$port/metrics" | grep -q "$busy" && break
		sleep 0.1
	done
	kill -TERM $pid
	# Draining: a new request is refused, the one in flight answered.
	[ "$(curl -s -o "$TMP/late" -w '%{http_code}' -X POST --data 1 \
	    "http://127.0.0.1:$port/v1/functions/hello/invoke")" = 503 ]
	grep -q '"type":"ShuttingDown"' "$TMP/late"
	wait $client
	wait $pid
	cat "$TMP/r"
	grep -q '"slept":2' "$TMP/r"
	grep -q '"event":"draining"' "$TMP/log"
	grep -q '"event":"stopped","used_mib":0' "$TMP/log"
}

# bats test_tags=kvm
@test "SIGHUP reloads functions.yaml: unchanged functions keep their warm VMs" {
	port=$(free_port)
	config 1024 "127.0.0.1:$port"
	ctrl_bg -v 2> "$TMP/log"
	url="http://127.0.0.1:$port"
	for _ in $(seq 1 50); do curl -sf "$url/healthz" > /dev/null && break; sleep 0.1; done
	curl -s -X POST --data '1' "$url/v1/functions/hello/invoke" > /dev/null
	curl -s -X POST --data '1' "$url/v1/functions/orders/invoke" > /dev/null
	sed -i '/name: orders/,+3 s/timeout: 60000/timeout: 50000/' "$TMP/functions.yaml"
	kill -HUP $pid
	sleep 0.5
	curl -s "$url/v1/functions" > "$TMP/f"
	cat "$TMP/f"
	python3 - "$TMP/f" <<'PY'
import json, sys
f = {x["name"]: x for x in json.load(open(sys.argv[1]))}
assert f["hello"]["vms_idle"] == 1, f["hello"]
assert f["orders"]["timeout_ms"] == 50000 and f["orders"]["vms_idle"] == 0, f["orders"]
PY
	grep -q '"why":"function changed"' "$TMP/log"
	kill -TERM $pid
	wait $pid
}
