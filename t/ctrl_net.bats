#!/usr/bin/env bats
# ctrl's network: section, wholly inside a network namespace each test
# makes: the bridge, the taps and the runners live there.  The runner is
# t/fakesnap.py, which checks its layers and reports the tap ctrl gave it
# (where it is, whether it is up, the address the guest would be told).

load helpers

CTRL="$ROOT/bin/ctrl"
TAPNET="$ROOT/bin/tapnet"
FAKE="$ROOT/t/fakesnap.py"

setup_file() {
	# With a network section ctrl's own layers are python3-net/ and
	# diff-net/NAME/, made with a network device, in the directory of its
	# CPU settings ($L).
	# They record ctrl.yaml's rootfs and the app images by content.
	F="$BATS_FILE_TMPDIR/fake"
	export XDG_CACHE_HOME="$BATS_FILE_TMPDIR/cache"
	L="$F/$(ctrl_cpu_dir)"
	"$FAKE" layer "$L/python3-net" --rootfs "$ROOT/build/rootfs.ext4"
	for app in hello markdown; do
		"$FAKE" layer "$L/diff-net/$app" --parent "$L/python3-net" \
		    --appfs "$ROOT/build/appfs/$app.ext2"
	done
	export F L
}

setup() {
	TMP="$BATS_TEST_TMPDIR"
	NS="snapvm-ctrlnet-$$-$BATS_TEST_NUMBER"
	ip netns add "$NS"
}

teardown() {
	[ -z "${CTRL_PID:-}" ] || kill -KILL "$CTRL_PID" 2> /dev/null || true
	ip netns del "$NS" 2> /dev/null || true
}

in_ns() {
	ip netns exec "$NS" "$@"
}

# config [ADDRESS]: hello with network, markdown without.
config() {
	cat > "$TMP/ctrl.yaml" <<EOF2
kernel: $ROOT/build/vmlinux
rootfs: $ROOT/build/rootfs.ext4
appfs_dir: $ROOT/build/appfs
snapshot_dir: $F
vmrun: /bin/false
snaprestore: $FAKE
tapnet: $TAPNET
functions: functions.yaml
listen: ["unix:$TMP/ctrl.sock"]
$NO_JAIL
network:
  bridge: sbr0
  address: ${1:-10.77.0.1/23}
  tap_prefix: t
EOF2
	cat > "$TMP/functions.yaml" <<EOF2
functions:
  - name: hello
    network: true
    timeout: 60000
  - name: markdown
    timeout: 60000
EOF2
}

# Taps of the namespace, by name, one a line.
taps() {
	in_ns "$TAPNET" ls | awk -F'\t' '$1 == "tap" { print $2 }'
}

@test "ctrl network: hello's VM on the bridge with its address, markdown's on no bridge, no tap left" {
	config
	python3 - "$ROOT" > "$TMP/requests" <<'PY'
import json, sys
for app in ("hello", "markdown"):
    req = json.load(open("%s/appfs/%s/request.json" % (sys.argv[1], app)))
    print(json.dumps({"function": app, "payload": req["payload"]}))
PY
	in_ns "$CTRL" --config "$TMP/ctrl.yaml" -v --requests "$TMP/requests" \
	    > "$TMP/out" 2> "$TMP/log" || { cat "$TMP/log"; false; }
	[ "$(grep -c '"status":"ok"' "$TMP/out")" -eq 2 ]
	grep -q 'net tap=t[0-9]* mac=02:53:56:00:00:[0-9a-f]* bridge=sbr0 up=1 addr=10.77.0.[0-9]*/23,10.77.0.1' "$TMP/log"
	grep -q 'net tap=t[0-9]* mac=02:53:56:00:00:[0-9a-f]* bridge=none up=0 addr=none' "$TMP/log"
	run in_ns ip -o -4 addr show sbr0
	[[ "$output" == *"10.77.0.1/23"* ]]
	[ -z "$(taps)" ]
}

@test "ctrl network: two VMs of one function at once get their own tap, MAC and address" {
	config
	python3 -c 'import json; [print(json.dumps({"function": "hello", "payload": {"spin": 1}})) for _ in range(4)]' > "$TMP/requests"
	in_ns "$CTRL" --config "$TMP/ctrl.yaml" -v --requests "$TMP/requests" \
	    > "$TMP/out" 2> "$TMP/log" || { cat "$TMP/log"; false; }
	[ "$(grep -c '"status":"ok"' "$TMP/out")" -eq 4 ]
	grep -o 'net tap=[^ ]* mac=[^ ]* bridge=sbr0 up=1 addr=[^ ]*' "$TMP/log" | sort -u > "$TMP/nets"
	cat "$TMP/nets"
	n=$(wc -l < "$TMP/nets")
	[ "$n" -ge 2 ]
	[ "$(cut -d' ' -f2 "$TMP/nets" | sort -u | wc -l)" -eq "$n" ]
	[ "$(cut -d' ' -f3 "$TMP/nets" | sort -u | wc -l)" -eq "$n" ]
	[ "$(cut -d' ' -f6 "$TMP/nets" | sort -u | wc -l)" -eq "$n" ]
}

@test "ctrl network: a runner killed with SIGKILL takes its tap with it" {
	config
	# Not through in_ns: $! must be ctrl itself (ip netns exec execs it).
	ip netns exec "$NS" "$CTRL" --config "$TMP/ctrl.yaml" -v > "$TMP/out" \
	    2> "$TMP/log" 3>&- &
	CTRL_PID=$!
	for _ in $(seq 100); do [ -S "$TMP/ctrl.sock" ] && break; sleep 0.1; done
	curl -sf --unix-socket "$TMP/ctrl.sock" -X POST --data '{"a": 1}' \
	    http://localhost/v1/functions/hello/invoke
	[ "$(taps)" = t0 ]
	kill -KILL "$(pgrep -f "fakesnap.py --load-dir $L/python3-net,$L/diff-net/hello")"
	for _ in $(seq 100); do [ -z "$(taps)" ] && break; sleep 0.1; done
	[ -z "$(taps)" ]
	grep -q '"event":"vm_exited".*"status":137' "$TMP/log"
	# The slot is free again, and so is its tap.
	curl -sf --unix-socket "$TMP/ctrl.sock" -X POST --data '{"a": 2}' \
	    http://localhost/v1/functions/hello/invoke
	[ "$(taps)" = t0 ]
	kill -TERM "$CTRL_PID"
	wait "$CTRL_PID" || { cat "$TMP/log"; false; }
	CTRL_PID=
	[ -z "$(taps)" ]
}

@test "ctrl network: taps a dead ctrl left are removed at start, others kept" {
	config
	in_ns "$TAPNET" bridge add sbr0
	in_ns "$TAPNET" tap add t7 --bridge sbr0
	in_ns "$TAPNET" tap add tb
	in_ns "$TAPNET" tap add t7x
	in_ns "$TAPNET" tap add other0
	: > "$TMP/requests"
	in_ns "$CTRL" --config "$TMP/ctrl.yaml" --requests "$TMP/requests" \
	    > "$TMP/out" 2> "$TMP/log" || { cat "$TMP/log"; false; }
	[ "$(taps | sort | tr '\n' ' ')" = "other0 t7x " ]
}

@test "ctrl network: configuration errors name the field; a bridge tapnet cannot make stops the start" {
	config 10.77.0.1/24
	run "$CTRL" --config "$TMP/ctrl.yaml" --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"address: \"10.77.0.1/24\": the subnet must hold"* ]]
	config 10.77.0.300/23
	run "$CTRL" --config "$TMP/ctrl.yaml" --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"address: \"10.77.0.300/23\": expected A.B.C.D/PREFIX"* ]]
	config
	sed -i 's/tap_prefix: t/tap_prefix: Tap-/' "$TMP/ctrl.yaml"
	run "$CTRL" --config "$TMP/ctrl.yaml" --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"tap_prefix: \"Tap-\""* ]]
	config
	sed -i '/^network:/,$d' "$TMP/ctrl.yaml"
	run "$CTRL" --config "$TMP/ctrl.yaml" --check
	[ "$status" -eq 78 ]
	[[ "$output" == *"functions.yaml:"*"network: true, but ctrl.yaml has no network section"* ]]
	config
	sed -i "s|^tapnet: .*|tapnet: $ROOT/t/fakesnap.py|" "$TMP/ctrl.yaml"
	: > "$TMP/requests"
	run in_ns "$CTRL" --config "$TMP/ctrl.yaml" --requests "$TMP/requests"
	[ "$status" -eq 69 ]
	[[ "$output" == *'"event":"network_failed","bridge":"sbr0","status":'* ]]
}
