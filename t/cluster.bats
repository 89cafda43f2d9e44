#!/usr/bin/env bats
# Several hosts behind HAProxy (issue 17): scripts/cluster puts each ctrl
# in a network namespace of its own on one bridge, HAProxy with the
# shipped etc/haproxy.cfg in front, and the S3 test server behind.  The
# hosts restore with t/fakesnap.py, so no VM starts; it records every
# request it runs in exec.log (by the payload's rid) and holds a request
# whose payload says "hold" until the test creates $CLUSTER_DIR/release.
#
# Nothing here passes or fails on time.  Where a test needs HAProxy to
# keep sending to a host that fails (the window before its health checks
# notice), it pauses the checks of that host on HAProxy's admin socket
# ("disable health") instead of racing them, and lets them run again
# afterwards; waits are for events, with deadlines only as backstops.

load helpers

CLUSTER="$ROOT/scripts/cluster"
TRACE="$ROOT/t/clustertrace.py"
S3SNAP="$ROOT/bin/s3snap"

setup() {
	TMP="$BATS_TEST_TMPDIR"
	# A cluster of its own: a cluster started by hand (build/cluster,
	# 10.231.0.0/24, snapvmc*) is left alone.
	export CLUSTER_DIR="$ROOT/build/cluster-test"
	export CLUSTER_NET=10.231.1 CLUSTER_NAME=snapvmt
}

teardown() {
	local f
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -d "$CLUSTER_DIR" ]; then
		for f in "$CLUSTER_DIR"/lb/haproxy.log "$CLUSTER_DIR"/host*/ctrl.log; do
			echo "--- the end of $f"
			tail -n 25 "$f" | cut -c 1-300
		done
	fi
	"$CLUSTER" stop
}

# start OPTION...: a cluster, its settings in the environment, and $CPU,
# the directory of the hosts' CPU settings that their layers go in, here
# and in the store (ctrl(1)), as the first host's ctrl logged it.
start() {
	"$CLUSTER" start "$@" 3>&-
	eval "$("$CLUSTER" env)"
	CPU=$(cpu_dir_in "$CLUSTER_DIR/host1/ctrl.log")
	[ -n "$CPU" ]
}

# until SECONDS CMD...: CMD again until it succeeds; a backstop of
# SECONDS, never a measure.
until_ok() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "still not so after the backstop: $*" >&2
			return 1
		fi
		sleep 0.1
	done
}

# trace OUT ARG...: t/clustertrace.py through the balancer, its lines in
# OUT; once HAProxy has logged each answered request.
trace() {
	local out=$1
	shift
	"$TRACE" "$CLUSTER_URL" "$@" > "$out"
	until_ok 30 lb_logged $(answered "$out")
}

# answered OUT: the request ids of trace OUT that had an answer.
answered() { jq -r 'select(.status != null) | .rid' "$1"; }

# lb_logged RID...: HAProxy has logged each of these requests.  It logs
# one when it ends the stream, which may come after the client has read
# the whole answer: wait for this before reading its log.
lb_logged() {
	local rid
	for rid in "$@"; do
		grep -q " \"$rid\" " "$CLUSTER_DIR/lb/haproxy.log" || return 1
	done
}

# warm_up: one request per function, one after the other; $TMP/placed
# says which host ran each ("FUNCTION HOST" lines).
warm_up() {
	local fn
	for fn in $(functions); do
		trace "$TMP/w-$fn" --functions "$fn" --count 1 --prefix "w-$fn"
		grep -q '"status": 200' "$TMP/w-$fn"
	done
	python3 - "$CLUSTER_DIR/exec.log" > "$TMP/placed" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if (r["rid"] or "").startswith("w-"):
        print(r["rid"][2:].rsplit("-", 1)[0], r["tag"])
PY
	cat "$TMP/placed"
	[ "$(wc -l < "$TMP/placed")" -eq "$(functions | wc -w)" ]
}

functions() {
	sed -n 's/^ *- name: *//p' "$CLUSTER_DIR/functions.yaml"
}

# host_of FUNCTION, functions_on HOST: where warm_up placed them.
host_of() { awk -v f="$1" '$1 == f { print $2 }' "$TMP/placed"; }
functions_on() { awk -v h="$1" '$2 == h { print $1 }' "$TMP/placed" | paste -sd,; }

# lb_view HOST: HAProxy's status of it (UP, DOWN, ...).
lb_view() {
	"$CLUSTER" haproxy show stat | awk -F, -v s="$1" \
	    '$1 == "ctrl" && $2 == s { print $18 }'
}
lb_down() { [ "$(lb_view "$1")" = DOWN ]; }

# ran_all OUT: every request of trace OUT has a line in exec.log.
ran_all() {
	local rid
	for rid in $(jq -r .rid "$1"); do
		grep -q "\"rid\": \"$rid\"" "$CLUSTER_DIR/exec.log" || return 1
	done
}

# A functions file whose functions can hold several requests at once,
# long enough to be held; hello is idempotent, the others are not.
functions_file() {
	python3 - "$ROOT/etc/functions.yaml" > "$TMP/functions.yaml" <<'PY'
import sys, yaml
fns = yaml.safe_load(open(sys.argv[1]))["functions"]
for f in fns:
    f.update(concurrency=4, timeout=60000)
    if f["name"] == "hello":
        f["idempotent"] = True
yaml.safe_dump({"functions": fns}, sys.stdout, sort_keys=False)
PY
}

# events HOST NAME [MATCH]: that host's log events of that name.
events() {
	grep "\"event\":\"$2\"" "$CLUSTER_DIR/$1/ctrl.log" | grep -c -- "${3:-}" || true
}

# What each request of these traces got, and how often it ran where:
# one line per request, "rid function status type executions hosts".
outcomes() {
	python3 - "$CLUSTER_DIR/exec.log" "$@" <<'PY'
import collections, json, sys
runs = collections.defaultdict(list)
for l in open(sys.argv[1]):
    r = json.loads(l)
    runs[r["rid"]].append(r["tag"])
for f in sys.argv[2:]:
    for l in open(f):
        r = json.loads(l)
        print(r["rid"], r["function"], r["status"],
              (r["type"] or "-").replace(" ", "_"),
              len(runs[r["rid"]]), ",".join(runs[r["rid"]]) or "-")
PY
}

# lb_lines RID-PREFIX: HAProxy's log lines of those requests.
lb_lines() {
	grep " \"$1-[0-9]*\" " "$CLUSTER_DIR/lb/haproxy.log" || true
}

@test "scripts/cluster: a whole cluster is refused a second start, a half one is cleaned up; stop removes everything, twice" {
	start --hosts 2
	"$CLUSTER" status | tee "$TMP/status"
	[ "$(grep -c ' ok  *UP$' "$TMP/status")" -eq 2 ]
	run "$CLUSTER" start --hosts 2
	echo "$output"
	[ "$status" -eq 73 ]
	[[ "$output" == *"a cluster of 2 hosts runs in $CLUSTER_DIR"* ]]
	run "$CLUSTER" start --hosts 10
	[ "$status" -eq 64 ]
	[[ "$output" == *'--hosts: "10": not 1 to 9'* ]]
	run "$CLUSTER" kill host3
	[ "$status" -eq 64 ]
	[[ "$output" == *'"host3": not a host of this cluster (host1 .. host2)'* ]]
	# Half a cluster (HAProxy gone): the next start removes it first.
	kill -KILL "$(cat "$CLUSTER_DIR/lb/pid")"
	until_ok 30 bash -c "! kill -0 $(cat "$CLUSTER_DIR/lb/pid") 2> /dev/null"
	run "$CLUSTER" start --hosts 2
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"removing what a cluster that did not start whole left"* ]]
	[ "$(curl -s "$("$CLUSTER" url)/healthz")" = ok ]
	"$CLUSTER" stop
	[ ! -e "$CLUSTER_DIR" ]
	[ -z "$(ip netns list | grep '^snapvmt-')" ]
	run ip link show snapvmt0
	[ "$status" -ne 0 ]
	"$CLUSTER" stop
	run "$CLUSTER" status
	[ "$status" -eq 3 ]
}

@test "locality: hashing by function gives at least twice the warm starts of round-robin over the same hosts" {
	# Room for two VMs a host (a fake VM counts 16 MiB): six in all for
	# five functions, enough when each function keeps to one host.  The
	# trace goes one request after the other, so where each goes, and
	# which VM is evicted, does not depend on timing.
	local balance warm=()
	for balance in "" roundrobin; do
		start --seed all --vm-memory 32 ${balance:+--balance "$balance"}
		grep -q "balance ${balance:-uri depth 3}\$" "$CLUSTER_DIR/lb/haproxy.cfg"
		trace "$TMP/trace$balance" --count 60 --seed locality
		[ "$(jq -r .status "$TMP/trace$balance" | sort -u)" = 200 ]
		warm+=("$(grep -c '"start": "warm"' "$TMP/trace$balance")")
		# ctrl's metrics say the same as its answers.
		python3 - "$CLUSTER_DIR" "${warm[-1]}" <<'PY'
import os, re, sys, urllib.request
d, want = sys.argv[1], int(sys.argv[2])
n = 0
for i in (1, 2, 3):
    text = urllib.request.urlopen("http://%s.1%d:8080/metrics" % (
        os.environ["CLUSTER_NET"], i)).read().decode()
    n += sum(int(m) for m in re.findall(
        r'^snapvm_request_duration_seconds_count\{function="[a-z]+",start="warm"\} (\d+)',
        text, re.M))
assert n == want, (n, want)
PY
		"$CLUSTER" stop
	done
	echo "warm starts of 60: hashing ${warm[0]}, round-robin ${warm[1]}"
	[ "${warm[1]}" -gt 0 ]
	[ "${warm[0]}" -ge $((2 * warm[1])) ]
}

@test "kill -9 of a host mid-trace: one answer each; refused ones retried elsewhere and served; in-flight ones fail, none run twice" {
	functions_file
	start --seed all --functions "$TMP/functions.yaml"
	warm_up
	victim=$(host_of hello)
	fns=$(functions_on "$victim")
	echo "victim $victim: $fns"
	# Requests in flight: six over the victim's functions in turn (one of
	# them idempotent), held by the fake runner; bounded load places
	# some on other hosts.
	"$TRACE" "$CLUSTER_URL" --functions "$fns" --count 6 --concurrency 6 \
	    --hold --prefix h --cycle > "$TMP/held" &
	held=$!
	until_ok 120 bash -c "[ \$(grep -c '\"rid\": \"h-' '$CLUSTER_DIR/exec.log') -eq 6 ]"
	inflight=$(grep '"rid": "h-' "$CLUSTER_DIR/exec.log" | grep -c "\"tag\": \"$victim\"")
	echo "held: $inflight of 6 on $victim"
	[ "$inflight" -ge 1 ]
	# The victim dies before HAProxy's checks can notice (paused).
	"$CLUSTER" haproxy disable health "ctrl/$victim"
	"$CLUSTER" kill "$victim"
	"$CLUSTER" wait "$victim"
	# One after the other, so that each goes to the victim first,
	# whatever the bounded load.
	trace "$TMP/burst" --functions "$fns" --count 20 --prefix b --seed burst
	"$CLUSTER" haproxy enable health "ctrl/$victim"
	until_ok 60 lb_down "$victim"
	# After the checks: straight to the other hosts, no retry.
	trace "$TMP/after" --count 20 --concurrency 4 --prefix a --seed after
	touch "$CLUSTER_DIR/release"
	wait $held
	until_ok 30 lb_logged $(answered "$TMP/held")
	outcomes "$TMP/held" "$TMP/burst" "$TMP/after" | tee "$TMP/outcomes"

	# Every request answered, once.
	[ "$(jq -r 'select(.status == null)' "$TMP/held" "$TMP/burst" "$TMP/after")" = "" ]
	for p in h b a; do
		[ "$(lb_lines $p | wc -l)" -eq "$(grep -c "^$p-" "$TMP/outcomes")" ]
	done
	# In flight on the victim: 502 from HAProxy, run once, not again
	# (idempotent or not: HAProxy retries nothing sent, ctrl is dead).
	[ "$(awk -v v="$victim" '$1 ~ /^h-/ && $6 == v && $3 == 502 && $5 == 1' \
	    "$TMP/outcomes" | wc -l)" -eq "$inflight" ]
	# Held elsewhere: answered when let go, run once.
	[ "$(awk '$1 ~ /^h-/ && $3 == 200 && $5 == 1' "$TMP/outcomes" | wc -l)" \
	    -eq $((6 - inflight)) ]
	# Refused by the dead host (connection refused): each retried on
	# another host, served, run once there.
	[ "$(awk -v v="$victim" '$1 ~ /^b-/ && $3 == 200 && $5 == 1 && $6 != v' \
	    "$TMP/outcomes" | wc -l)" -eq 20 ]
	[ "$(lb_lines b | grep -c " ctrl/host[0-9] .* 200 .* +[1-9] ")" -eq 20 ]
	[ "$(lb_lines b | grep -c " ctrl/$victim ")" -eq 0 ]
	# Once HAProxy knew: never sent there, nothing retried, all served.
	[ "$(awk '$1 ~ /^a-/ && $3 == 200 && $5 == 1' "$TMP/outcomes" | wc -l)" -eq 20 ]
	[ "$(lb_lines a | grep -c " ctrl/$victim ")" -eq 0 ]
	[ "$(lb_lines a | grep -c ' +[1-9] ')" -eq 0 ]
	# No request of a function that is not idempotent ran twice; none ran
	# more than twice.
	[ "$(awk '$2 != "hello" && $5 > 1' "$TMP/outcomes" | wc -l)" -eq 0 ]
	[ "$(awk '$5 > 2' "$TMP/outcomes" | wc -l)" -eq 0 ]
}

@test "SIGTERM of a host: it drains, answers 503 that HAProxy retries elsewhere, leaves the pool on its health check; no request fails" {
	functions_file
	start --seed all --functions "$TMP/functions.yaml"
	warm_up
	victim=$(host_of hello)
	fns=$(functions_on "$victim")
	n=$(echo "$fns" | tr , ' ' | wc -w)
	# As many requests as the victim has functions, held there, so that it
	# stays draining while the test sends more; sent to it directly, so
	# that HAProxy's bounded load does not count them against it.
	url="http://$CLUSTER_NET.1${victim#host}:8080"
	"$TRACE" "$url" --functions "$fns" --count "$n" --concurrency "$n" \
	    --hold --prefix h --cycle > "$TMP/held" &
	held=$!
	until_ok 120 bash -c "[ \$(grep -c '\"rid\": \"h-' '$CLUSTER_DIR/exec.log') -eq $n ]"
	[ "$(grep '"rid": "h-' "$CLUSTER_DIR/exec.log" | grep -c "\"tag\": \"$victim\"")" -eq "$n" ]
	"$CLUSTER" haproxy disable health "ctrl/$victim"
	"$CLUSTER" term "$victim"
	until_ok 60 bash -c "[ \"\$(curl -s $url/healthz)\" = draining ]"
	# Draining: refused before dispatch (503 ShuttingDown), retried by
	# HAProxy on another host.  One after the other, so that each goes to
	# the victim first, whatever the bounded load.
	trace "$TMP/burst" --functions "$fns" --count 20 \
	    --prefix b --seed burst
	[ "$(events "$victim" request_failed ShuttingDown)" -eq 20 ]
	[ "$(lb_lines b | grep -c ' +[1-9] ')" -eq 20 ]
	# Its health check says 503: HAProxy takes it out of the pool.
	"$CLUSTER" haproxy enable health "ctrl/$victim"
	until_ok 60 lb_down "$victim"
	grep -q "Server ctrl/$victim is DOWN, reason: Layer7 wrong status, code: 503" \
	    "$CLUSTER_DIR/lb/haproxy.log"
	trace "$TMP/after" --count 20 --concurrency 4 --prefix a --seed after
	[ "$(events "$victim" request_failed ShuttingDown)" -eq 20 ]
	[ "$(lb_lines a | grep -c " ctrl/$victim ")" -eq 0 ]
	[ "$(lb_lines a | grep -c ' +[1-9] ')" -eq 0 ]
	# The held requests finish on the draining host, which then stops.
	touch "$CLUSTER_DIR/release"
	wait $held
	"$CLUSTER" wait "$victim"
	grep -q '"event":"stopped"' "$CLUSTER_DIR/$victim/ctrl.log"
	outcomes "$TMP/held" "$TMP/burst" "$TMP/after" | tee "$TMP/outcomes"
	# No request failed, each ran once: the held ones on the victim.
	[ "$(awk '$3 != 200 || $5 != 1' "$TMP/outcomes" | wc -l)" -eq 0 ]
	[ "$(awk -v v="$victim" '$1 ~ /^h-/ && $6 == v' "$TMP/outcomes" | wc -l)" -eq "$n" ]
	[ "$(awk -v v="$victim" '$1 !~ /^h-/ && $6 == v' "$TMP/outcomes" | wc -l)" -eq 0 ]
}

@test "a host restarted with an empty snapshot cache fetches its layers from the store instead of building them" {
	start --seed base
	warm_up
	# Each diff was built on its function's host and put in the store.
	for h in host1 host2 host3; do
		built=$((${built:-0} + $(events $h snapshot_built)))
	done
	[ "$built" -eq 5 ]
	until_ok 60 bash -c "[ \$('$S3SNAP' ls '$STORE/$CPU/diff' | wc -l) -eq 5 ]"
	victim=$(host_of hello)
	fns=$(functions_on "$victim")
	n=$(echo "$fns" | tr , ' ' | wc -w)
	"$CLUSTER" restart "$victim" --empty-cache
	[ ! -e "$CLUSTER_DIR/$victim/snap/$CPU/python3" ]
	[ -f "$CLUSTER_DIR/$victim/ctrl.log.1" ]
	for fn in $(echo "$fns" | tr , ' '); do
		trace "$TMP/after-$fn" --functions "$fn" --count 2 --prefix "a-$fn"
		[ "$(jq -r .status "$TMP/after-$fn" | sort -u)" = 200 ]
		grep -q "\"rid\": \"a-$fn-0\", \"tag\": \"$victim\"" "$CLUSTER_DIR/exec.log"
	done
	cat "$CLUSTER_DIR/$victim/ctrl.log"
	[ "$(events "$victim" snapshot_built)" -eq 0 ]
	[ "$(events "$victim" snapshot_build)" -eq 0 ]
	[ "$(events "$victim" snapshot_fetched /python3)" -eq 1 ]
	[ "$(events "$victim" snapshot_fetched /diff/)" -eq "$n" ]
	[ "$(events "$victim" vm_started '"restore":true')" -eq "$n" ]
	curl -s "http://$CLUSTER_NET.1${victim#host}:8080/metrics" > "$TMP/metrics"
	grep -qx "snapvm_snapshot_fetches_total{result=\"ok\"} $((n + 1))" "$TMP/metrics"
	grep -qx 'snapvm_snapshot_uploads_total{result="ok"} 0' "$TMP/metrics"
	for fn in $(echo "$fns" | tr , ' '); do
		"$S3SNAP" verify "$CLUSTER_DIR/$victim/snap/$CPU/diff/$fn"
	done
}

# Two puts of different layers to one prefix at once once left the index
# of one over objects of the other (every layer's objects had the same
# names), and every host that fetched it got a corrupt object (65); the
# index's version 2 puts each layer's objects under a prefix of its own.
@test "two hosts building the same layer at once: each ends with a valid layer, the store shows one whole layer, never a mixture" {
	start --hosts 2 --seed base
	# A reader of the store all along: each get is a whole layer, or none.
	mkdir -p "$TMP/watch"
	(
		n=0
		while [ ! -e "$TMP/watch/stop" ]; do
			n=$((n + 1))
			rc=0
			"$S3SNAP" -q get "$STORE/$CPU/diff/hello" "$TMP/watch/$n" \
			    2>> "$TMP/watch/errors" || rc=$?
			echo "$rc" >> "$TMP/watch/status"
			sleep 0.05
		done
	) 3>&- &
	watcher=$!
	# Both hosts get hello's first request at once, straight (through
	# HAProxy both would go to the same host): neither finds the diff in
	# the store, both build it, both put it there.
	for h in 1 2; do
		"$TRACE" "http://$CLUSTER_NET.1$h:8080" --functions hello --count 1 \
		    --prefix "h$h" > "$TMP/race$h" &
		racer[$h]=$!
	done
	wait "${racer[1]}" "${racer[2]}"
	for h in 1 2; do
		grep -q '"status": 200' "$TMP/race$h"
		until_ok 60 bash -c "grep -q '\"event\":\"snapshot_upload\\(ed\\|_failed\\)\",\"layer\":\"[^\"]*diff/hello\"' '$CLUSTER_DIR/host$h/ctrl.log'"
	done
	touch "$TMP/watch/stop"
	wait "$watcher"
	sort "$TMP/watch/status" | uniq -c
	cat "$TMP/watch/errors"
	for h in 1 2; do
		[ "$(events host$h snapshot_built hello)" -eq 1 ]
		"$S3SNAP" verify "$CLUSTER_DIR/host$h/snap/$CPU/diff/hello"
		jq -r .id "$CLUSTER_DIR/host$h/snap/$CPU/diff/hello/manifest.json" > "$TMP/id$h"
	done
	! cmp -s "$TMP/id1" "$TMP/id2"
	# No reader ever got a mixture (65: an object that is not the one
	# the index names).
	! grep -qvx '0\|66' "$TMP/watch/status"
	# The store holds one host's layer, whole.
	"$S3SNAP" -q get "$STORE/$CPU/diff/hello" "$TMP/final"
	id=$(jq -r .id "$TMP/final/manifest.json")
	for h in 1 2; do
		[ "$id" = "$(cat "$TMP/id$h")" ] || continue
		for f in manifest.json state memory pages; do
			cmp "$TMP/final/$f" "$CLUSTER_DIR/host$h/snap/$CPU/diff/hello/$f"
		done
		return 0
	done
	echo "the store's diff/hello ($id) is neither host's" >&2
	false
}

@test "asynchronous calls through the balancer: each GET of a 202's Location reaches the host that ran it" {
	start --seed all
	# Two calls a function, fifteen in all: by the hash of their paths,
	# /v1/invocations/ID, about two in three would reach another host,
	# which knows nothing of them (404).
	for fn in $(functions) $(functions) $(functions); do
		n=${n:-0}
		n=$((n + 1))
		jq -c --arg rid "as-$n" '.payload + {rid: $rid}' \
		    "$ROOT/appfs/$fn/request.json" > "$TMP/body"
		curl -s -D "$TMP/h$n" -o "$TMP/b$n" -H 'Prefer: respond-async' \
		    -H "X-Request-Id: as-$n" -H 'Content-Type: application/json' \
		    --data-binary @"$TMP/body" "$CLUSTER_URL/v1/functions/$fn/invoke"
		grep -q '^HTTP/1.1 202' "$TMP/h$n"
		tr -d '\r' < "$TMP/h$n" | sed -n 's/^[Ll]ocation: //p' > "$TMP/loc$n"
		[ "$(jq -r .location "$TMP/b$n")" = "$(cat "$TMP/loc$n")" ]
		echo "$fn" > "$TMP/fn$n"
	done
	for i in $(seq "$n"); do
		until_ok 60 bash -c "curl -s -o '$TMP/r$i' -w '%{http_code}' \
		    -H 'X-Request-Id: get-$i' '$CLUSTER_URL$(cat "$TMP/loc$i")' |
		    grep -qx 200"
		# The answer the function gave, run once, on the host the 202
		# came from, where every GET of it went.
		jq -e . "$TMP/r$i" > /dev/null
		[ "$(grep -c "\"rid\": \"as-$i\"," "$CLUSTER_DIR/exec.log")" -eq 1 ]
		ran=$(grep "\"rid\": \"as-$i\"," "$CLUSTER_DIR/exec.log" | jq -r .tag)
		until_ok 30 grep -q " \"get-$i\" .* 200 " "$CLUSTER_DIR/lb/haproxy.log"
		lb_lines as | grep " \"as-$i\" " | grep -q " ctrl/$ran .* 202 "
		grep " \"get-$i\" " "$CLUSTER_DIR/lb/haproxy.log" > "$TMP/gets"
		grep -q " ctrl/$ran .* 200 " "$TMP/gets"
		[ "$(grep -vc " ctrl/$ran " "$TMP/gets")" -eq 0 ]
	done
	! grep -q " 404 " "$CLUSTER_DIR/lb/haproxy.log"
}

# bats test_tags=kvm
@test "real VMs on two hosts: the first builds hello's layers and puts them in the store; the second restores from what it fetches" {
	# In the nested VM's own /tmp: ctrl's and HAProxy's sockets are not
	# for the tree shared over 9p.
	export CLUSTER_DIR="$BATS_TEST_TMPDIR/c"
	start --real --hosts 2
	grep -qx 'mode=real' "$CLUSTER_DIR/state"
	# invoke N: hello through the balancer; its body in $TMP/aN.
	invoke() {
		jq -c .payload "$ROOT/appfs/hello/request.json" |
		    curl -s -m 1200 -o "$TMP/a$1" -w '%{http_code}\n' \
		    -H "X-Request-Id: real-$1" --data-binary @- \
		    "$CLUSTER_URL/v1/functions/hello/invoke"
	}
	[ "$(invoke 1)" = 200 ]
	until_ok 30 lb_logged real-1
	jq -e --slurpfile want "$ROOT/appfs/hello/expected.json" \
	    '. == $want[0]' "$TMP/a1"
	first=$(lb_lines real | grep ' "real-1" ' | sed -n 's|.* ctrl/\(host[12]\) .*|\1|p')
	other=host$((3 - ${first#host}))
	echo "built on $first, then $other"
	# The first request is answered by a cold boot while the host builds
	# the base and then hello's diff, and puts each in the store.
	until_ok 1200 bash -c "[ \$(grep -c '\"event\":\"snapshot_uploaded\"' '$CLUSTER_DIR/$first/ctrl.log') -eq 2 ]"
	[ "$(events "$first" snapshot_built)" -eq 2 ]
	# The first host in maintenance: the balancer sends hello to the
	# other, which has no layer of its own and builds none.
	"$CLUSTER" haproxy disable server "ctrl/$first"
	[ "$(invoke 2)" = 200 ]
	until_ok 30 lb_logged real-2
	cmp "$TMP/a1" "$TMP/a2"
	lb_lines real | grep ' "real-2" ' | grep -q " ctrl/$other "
	[ "$(events "$other" snapshot_built)" -eq 0 ]
	[ "$(events "$other" snapshot_fetched /python3)" -eq 1 ]
	[ "$(events "$other" snapshot_fetched /diff/hello)" -eq 1 ]
	[ "$(events "$other" vm_started '"restore":true')" -eq 1 ]
	[ "$(events "$other" vm_started '"restore":false')" -eq 0 ]
	"$S3SNAP" verify "$CLUSTER_DIR/$other/snap/$CPU/diff/hello"
	for f in state memory pages; do
		cmp "$CLUSTER_DIR/$first/snap/$CPU/diff/hello/$f" \
		    "$CLUSTER_DIR/$other/snap/$CPU/diff/hello/$f"
	done
	# The first host answered with a cold boot and never restored hello:
	# the second recorded its working set, and put the layer with it in
	# the store.
	[ "$(events "$other" workset_added hello)" -eq 1 ]
	[ -s "$CLUSTER_DIR/$other/snap/$CPU/diff/hello/workset" ]
	until_ok 600 bash -c "grep -q '\"event\":\"snapshot_uploaded\",\"layer\":\"[^\"]*diff/hello\"' '$CLUSTER_DIR/$other/ctrl.log'"
	"$S3SNAP" -q get "$STORE/$CPU/diff/hello" "$TMP/got"
	cmp "$TMP/got/workset" "$CLUSTER_DIR/$other/snap/$CPU/diff/hello/workset"
}
