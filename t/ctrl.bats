#!/usr/bin/env bats
# ctrl, the dispatcher, on VMs restored from the run's snapshots
# (build/snap, made by make check; see t/snaplinux.bats).

load helpers

CTRL="$ROOT/bin/ctrl"

setup_file() {
	export SNAP="$ROOT/build/snap"
	[ -f "$SNAP/diff/hello/manifest.json" ] || "$ROOT/scripts/mksnap" "$SNAP" 2> /dev/null
	mke2fs -q -t ext2 -L spin -d "$ROOT/t/apps/spin" "$BATS_FILE_TMPDIR/spin.ext2" 1024
}

setup() {
	TMP="$BATS_TEST_TMPDIR"
	export XDG_CACHE_HOME="$BATS_FILE_TMPDIR/cache"
	CG=
}

# config BUDGET [LISTEN]: ctrl.yaml and functions.yaml in $TMP
config() {
	cat > "$TMP/ctrl.yaml" <<EOF2
kernel: $ROOT/build/vmlinux
rootfs: $ROOT/build/rootfs.ext4
appfs_dir: $ROOT/build/appfs
snapshot_dir: $SNAP
vmrun: $ROOT/bin/vmrun
snaprestore: $ROOT/bin/snaprestore
functions: functions.yaml
memory_budget: $1
idle_timeout: 60
queue_limit: ${QUEUE:-1000}
${2:+listen: [\"$2\"]}
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
ctrl_bg() {
	"$CTRL" --config "$TMP/ctrl.yaml" "$@" 3>&- &
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
	run "$CTRL" --config "$TMP/none.yaml" --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"none.yaml"* ]]
}

@test "a jail section that would not confine is refused by ctrl --check, naming the key" {
	config 512
	mkdir -p "$TMP/jails"
	printf 'jail:\n  uid: 0\n  base: %s\n' "$TMP/jails" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"ctrl.yaml:"*": uid: 0: the runners take uids and gids 0 to 256, which must not include 0 (root)"* ]]
	config 512
	printf 'jail:\n  uid: 40000\n  base: %s\n' "$TMP/ctrl.yaml" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *": base: $TMP/ctrl.yaml: not a directory"* ]]
	config 512
	printf 'jail:\n  uid: 40000\n  base: %s\n  cgroup: %s\n' "$TMP/jails" "$TMP/jails" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *": cgroup: $TMP/jails: not a cgroup v2 directory"* ]]
	config 512
	printf 'jail:\n  uid: 40000\n  base: %s\n  enabled: maybe\n' "$TMP/jails" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 78 ]
	[[ "$output" == *": enabled:"* ]]
	config 512
	printf 'jail:\n  uid: 40000\n  base: %s\n' "$TMP/jails" >> "$TMP/ctrl.yaml"
	run ctrl --check
	[ "$status" -eq 0 ]
}

# A v2 hierarchy without the controllers the jail's limits need (a v1/v2
# hybrid host's) is refused naming the missing one; one with them passes.
@test "a jail's cgroup parent must offer memory, pids and cpu" {
	cg=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$cg" ]
	config 512
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
	sed -i "s|^snaprestore: .*|snaprestore: $TMP/no-such-runner|" "$TMP/ctrl.yaml"
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
# NONEWPRIVS CAPEFF CGROUP" per line.
jailed_runners() {
	local k r
	for k in $(pgrep -P "$1" -x vmjail); do
		r=$(pgrep -P "$k")
		printf '%s %s %s %s\n' \
		    "$(awk '/^Uid:/ { print $2 }' /proc/$r/status)" \
		    "$(awk '/^NoNewPrivs:/ { print $2 }' /proc/$r/status)" \
		    "$(awk '/^CapEff:/ { print $2 }' /proc/$r/status)" \
		    "$(sed -n 's/^0:://p' /proc/$r/cgroup)"
	done
}

# bats test_tags=kvm
@test "jailed runners serve hello, restored and cold: each its own uid, cgroup and root, all gone after, also after SIGKILL" {
	port=$(free_port)
	config 1024 "127.0.0.1:$port"
	printf '  - name: hellocold\n    appfs: %s\n    snapshots: false\n    memory: 128\n' \
	    "$ROOT/build/appfs/hello.ext2" >> "$TMP/functions.yaml"
	cgroup_v2 "$TMP/cg"
	mkdir -m 755 "$TMP/jails"
	printf 'jail:\n  uid: 40100\n  base: %s\n  cgroup: %s\n  vmjail: %s\n' \
	    "$TMP/jails" "$CG/snapvm" "$ROOT/bin/vmjail" >> "$TMP/ctrl.yaml"
	ctrl_bg 2> "$TMP/log"
	url="http://127.0.0.1:$port"
	for _ in $(seq 1 100); do curl -sf "$url/healthz" > /dev/null && break; sleep 0.1; done
	[ "$(curl -s -X POST --data '{"n":1}' "$url/v1/functions/hello/invoke")" = '{"echo":{"n":1}}' ]
	[ "$(curl -s -X POST --data '{"n":2}' "$url/v1/functions/hellocold/invoke")" = '{"echo":{"n":2}}' ]
	jailed_runners $pid | tee "$TMP/runners"
	[ "$(wc -l < "$TMP/runners")" -eq 2 ]
	# Each: an unprivileged uid of the range, no_new_privs, no capability,
	# a cgroup of its own under the delegated parent, with its limit.
	[ "$(awk '$1 >= 40100 && $1 < 40356 && $2 == 1 && $3 ~ /^0+$/' "$TMP/runners" | wc -l)" -eq 2 ]
	[ "$(cut -d' ' -f1 "$TMP/runners" | sort -u | wc -l)" -eq 2 ]
	[ "$(cut -d' ' -f4 "$TMP/runners" | sort -u | wc -l)" -eq 2 ]
	for cg in $(cut -d' ' -f4 "$TMP/runners"); do
		[[ "$cg" == /snapvm/vm* ]]
		[ "$(cat "$CG$cg/memory.max")" = $(((128 + 64) << 20)) ]
	done
	[ "$(ls "$TMP/jails" | wc -l)" -eq 2 ]
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
	[ "$(curl -s -X POST --data '{"n":3}' "$url/v1/functions/hello/invoke")" = '{"echo":{"n":3}}' ]
	[ "$(curl -s -X POST --data '{"n":4}' "$url/v1/functions/hellocold/invoke")" = '{"echo":{"n":4}}' ]
	kill -TERM $pid
	wait $pid
	[ -z "$(ls -A "$TMP/jails")" ]
	[ -z "$(ls -d "$CG"/snapvm/vm* 2> /dev/null)" ]
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
