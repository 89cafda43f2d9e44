#!/usr/bin/env bats
# vmjail(1) on the host, no VM: what a process in a jail sees and can do,
# checked from inside (t/jail/probe) and from outside (/proc).  Needs
# root, as vmjail does.

load helpers

JAIL="$ROOT/bin/vmjail"
PROBE="$ROOT/build/t/jail/probe"

setup() {
	[ "$(id -u)" -eq 0 ] || { echo "vmjail needs root" >&2; return 1; }
	BASE="$BATS_TEST_TMPDIR/jails"
	mkdir -m 755 -p "$BASE"
	echo secret > "$BATS_TEST_TMPDIR/host-file"
	echo input > "$BATS_TEST_TMPDIR/bound"
	mkdir -p "$BATS_TEST_TMPDIR/rw"
	chown 4001:4001 "$BATS_TEST_TMPDIR/rw"
	chmod 755 "$BATS_TEST_TMPDIR"
	NULLDEV="$ROOT/build/t/jail/null.$$"	# outside /tmp: see below
	rm -f "$NULLDEV"
	mknod -m 600 "$NULLDEV" c 1 3
}

teardown() {
	exec 7>&- 8>&- 2>/dev/null || true
	pkill -KILL -f "$PROBE" 2>/dev/null || true
	rm -f "$NULLDEV"
}

# Starts a jail ($1: id, $2: uid) whose probe waits on a FIFO (fd 7 or
# $3) and sets KEEPER and RUNNER (its pid seen from here).
start_waiting() {
	local id=$1 uid=$2 fd=${3:-7} i
	mkfifo "$BATS_TEST_TMPDIR/in.$id"
	"$JAIL" --id "$id" --base "$BASE" --uid "$uid" --gid "$uid" \
	    -- "$PROBE" wait < "$BATS_TEST_TMPDIR/in.$id" \
	    > "$BATS_TEST_TMPDIR/out.$id" 2>&1 &
	KEEPER=$!
	eval "exec $fd>$BATS_TEST_TMPDIR/in.$id"
	for i in $(seq 200); do	# a backstop, not a measurement
		grep -q waiting "$BATS_TEST_TMPDIR/out.$id" 2>/dev/null && break
		sleep 0.1
	done
	grep -q waiting "$BATS_TEST_TMPDIR/out.$id"
	RUNNER=$(pgrep -P "$KEEPER")
	[ -n "$RUNNER" ]
}

# Waits (bounded) until process $1 is gone.
gone() {
	local i
	for i in $(seq 200); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

@test "a jailed runner has the given user, an empty environment, fds 0-2 and only the files bound in" {
	run "$JAIL" --id p1 --base "$BASE" --uid 4001 --gid 4002 \
	    --ro "$BATS_TEST_TMPDIR/bound" --rw "$BATS_TEST_TMPDIR/rw" \
	    --dev "$NULLDEV" --env SNAPVM_TEST=1 -- "$PROBE" id open "$BATS_TEST_TMPDIR/bound" \
	    write "$BATS_TEST_TMPDIR/bound" write "$BATS_TEST_TMPDIR/rw/sock" \
	    open "$BATS_TEST_TMPDIR/host-file" open /etc/passwd \
	    write "/tmp/jail-scratch.$$" fds env host write /x \
	    open "$NULLDEV" 9>/dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "uid=4001 gid=4002 pid=1" ]
	[ "${lines[1]}" = "open $BATS_TEST_TMPDIR/bound: ok" ]
	[ "${lines[2]}" = "write $BATS_TEST_TMPDIR/bound: EROFS" ]
	[ "${lines[3]}" = "write $BATS_TEST_TMPDIR/rw/sock: ok" ]
	[ "${lines[4]}" = "open $BATS_TEST_TMPDIR/host-file: ENOENT" ]
	[ "${lines[5]}" = "open /etc/passwd: ENOENT" ]
	[ "${lines[6]}" = "write /tmp/jail-scratch.$$: ok" ]	# its own /tmp
	[ ! -e "/tmp/jail-scratch.$$" ]
	[ "${lines[7]}" = "fds: 0 1 2" ]
	[ "${lines[8]}" = "env: 1" ]
	[ "${lines[9]}" = "host: p1" ]
	[ "${lines[10]}" = "write /x: EROFS" ]	# the root is read-only
	# A device of its own, which only root may open on the host.
	[ "${lines[11]}" = "open $NULLDEV: ok" ]
	[ "$(stat -c '%u %a' "$NULLDEV")" = "0 600" ]
	[ "$(stat -c %u "$BATS_TEST_TMPDIR/rw/sock")" = 4001 ]
	[ -z "$(ls -A "$BASE")" ]		# its root directory is gone
}

@test "--proc: a /proc of the jail's own PID namespace, its own pagemap and nothing system-wide; none without it" {
	run "$JAIL" --id pp --base "$BASE" --uid 4001 --gid 4001 --proc \
	    -- "$PROBE" open /proc/self/pagemap open /proc/1/status \
	    open /proc/sys/kernel/hostname open /proc/kallsyms open /proc/2/status
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "open /proc/self/pagemap: ok" ]
	[ "${lines[1]}" = "open /proc/1/status: ok" ]		# itself
	[ "${lines[2]}" = "open /proc/sys/kernel/hostname: ENOENT" ]
	[ "${lines[3]}" = "open /proc/kallsyms: ENOENT" ]
	[ "${lines[4]}" = "open /proc/2/status: ENOENT" ]	# no other process
	run "$JAIL" --id pn --base "$BASE" --uid 4001 --gid 4001 \
	    -- "$PROBE" open /proc/self/pagemap
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "open /proc/self/pagemap: ENOENT" ]
	[ -z "$(ls -A "$BASE")" ]
}

@test "from outside: no capability in any set, NoNewPrivs, its own root, mount, PID, IPC and UTS namespaces" {
	start_waiting p2 4003
	st=/proc/$RUNNER/status
	grep -E '^(Uid|Gid|Cap...|NoNewPrivs):' "$st"
	grep -qE '^Uid:\s+4003\s+4003\s+4003\s+4003$' "$st"
	grep -qE '^Gid:\s+4003\s+4003\s+4003\s+4003$' "$st"
	[ "$(grep -cE '^Cap(Inh|Prm|Eff|Bnd|Amb):\s+0+$' "$st")" -eq 5 ]
	grep -qE '^NoNewPrivs:\s+1$' "$st"
	for ns in mnt pid ipc uts; do
		[ "$(readlink /proc/$RUNNER/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ]
	done
	# Its root: the read-only tmpfs holding the probe and its libraries.
	grep -E '^[0-9]+ [0-9]+ [0-9:]+ / / ro,.* - tmpfs snapvm-jail ' \
	    /proc/$RUNNER/mountinfo
	[ -x "/proc/$RUNNER/root$PROBE" ]
	[ ! -e "/proc/$RUNNER/root/etc" ]
	[ -d "$BASE/p2" ]
	exec 7>&-
	wait "$KEEPER"
	[ ! -e "$BASE/p2" ]
}

@test "a runner killed by a signal: the keeper dies of it too and leaves nothing; the runner dies with its keeper" {
	run "$JAIL" --id p3 --base "$BASE" --uid 4004 --gid 4004 -- "$PROBE" crash
	[ "$status" -eq $((128 + 11)) ]		# SIGSEGV, as the runner
	[ ! -e "$BASE/p3" ]
	start_waiting p5 4004
	kill -KILL "$RUNNER"
	st=0
	wait "$KEEPER" || st=$?
	[ "$st" -eq $((128 + 9)) ]
	[ ! -e "$BASE/p5" ]
	start_waiting p4 4005 8
	kill -KILL "$KEEPER"
	gone "$RUNNER"
	[ -d "$BASE/p4" ]			# the keeper could not clean up
	run "$JAIL" --id p4 --base "$BASE" --uid 4005 --gid 4005 -- "$PROBE" id
	[ "$status" -eq 73 ]
	[[ "$output" == *"$BASE/p4 (a jail of that id runs, or its keeper was killed: vmjail --remove): File exists"* ]]
	"$JAIL" --remove --id p4 --base "$BASE"
	[ ! -e "$BASE/p4" ]
}

@test "two jails at once: each its own user and root directory; the runner's exit status is the keeper's" {
	start_waiting a 4006 7
	A=$RUNNER
	start_waiting b 4007 8
	[ "$(stat -c %u /proc/$A)" = 4006 ] && [ "$(stat -c %u /proc/$RUNNER)" = 4007 ]
	[ "$(readlink /proc/$A/ns/mnt)" != "$(readlink /proc/$RUNNER/ns/mnt)" ]
	[ -d "$BASE/a" ] && [ -d "$BASE/b" ]
	exec 7>&- 8>&-
	gone "$A" && gone "$RUNNER"
	run "$JAIL" --id c --base "$BASE" --uid 4008 --gid 4008 -- "$PROBE" nonsense
	[ "$status" -eq 64 ]
	[[ "$output" == *"probe: nonsense: no such question"* ]]
}

@test "bad flags are refused, naming the flag and value" {
	run "$JAIL" --id x --base "$BASE" --uid 0 --gid 5 -- "$PROBE" id
	[ "$status" -eq 64 ] && [[ "$output" == *"--uid 0 --gid 5: the jail's user and group must be set and must not be root"* ]]
	run "$JAIL" --id ../x --base "$BASE" --uid 5 --gid 5 -- "$PROBE" id
	[ "$status" -eq 64 ] && [[ "$output" == *"--id ../x: 1 to 32 of"* ]]
	run "$JAIL" --id x --base "$BATS_TEST_TMPDIR/bound" --uid 5 --gid 5 -- "$PROBE" id
	[ "$status" -eq 64 ] && [[ "$output" == *"--base $BATS_TEST_TMPDIR/bound: not a directory"* ]]
	run "$JAIL" --id x --base "$BASE" --uid 5 --gid 5 --ro /nonexistent -- "$PROBE" id
	[ "$status" -eq 64 ] && [[ "$output" == *"--ro /nonexistent: No such file or directory"* ]]
	run "$JAIL" --id x --base "$BASE" --uid 5 --gid 5 --dev "$BATS_TEST_TMPDIR/bound" -- "$PROBE" id
	[ "$status" -eq 64 ] && [[ "$output" == *"not a character device"* ]]
	mknod "$BATS_TEST_TMPDIR/zero" c 1 5
	run "$JAIL" --id x --base "$BASE" --uid 5 --gid 5 --dev "$BATS_TEST_TMPDIR/zero" -- "$PROBE" id
	[ "$status" -eq 64 ] && [[ "$output" == *"--dev $BATS_TEST_TMPDIR/zero: the jail's /tmp takes no devices"* ]]
	run "$JAIL" --id x --base "$BASE" --uid 5 --gid 5 -- probe id
	[ "$status" -eq 64 ] && [[ "$output" == *"probe: give the runner by its absolute path"* ]]
	printf '#!/bin/sh\necho hi\n' > "$BATS_TEST_TMPDIR/script"
	chmod +x "$BATS_TEST_TMPDIR/script"
	run "$JAIL" --id x --base "$BASE" --uid 5 --gid 5 -- "$BATS_TEST_TMPDIR/script"
	[ "$status" -eq 66 ] && [[ "$output" == *"script: not a 64-bit ELF program"* ]]
	run "$JAIL" --id x --base "$BASE" --uid 5 --gid 5 --fd 2 -- "$PROBE" id
	[ "$status" -eq 64 ] && [[ "$output" == *"--fd 2: 3 to 1023"* ]]
	run "$JAIL" --id x --base "$BASE" --uid 5 --gid 5 --memory-max 12Q -- "$PROBE" id
	[ "$status" -eq 64 ] && [[ "$output" == *"--memory-max 12Q: not a size"* ]]
	[ -z "$(ls -A "$BASE")" ]
}

@test "a cgroup parent that cannot limit is refused, saying what is missing" {
	run "$JAIL" --id x --base "$BASE" --uid 5 --gid 5 --cgroup "$BATS_TEST_TMPDIR" \
	    --memory-max 64M -- "$PROBE" id
	[ "$status" -eq 78 ]
	[[ "$output" == *"--cgroup $BATS_TEST_TMPDIR: not a cgroup v2 directory"* ]]
	# The host's cgroup v2 mount: on a v1/v2 hybrid it offers no memory
	# controller, and the jail says so; where it does, the cgroup is made
	# and removed.  (The limits themselves: t/jail_cgroup.bats, in a VM.)
	cg=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$cg" ]
	run "$JAIL" --id x --base "$BASE" --uid 5 --gid 5 --cgroup "$cg" \
	    --memory-max 64M -- "$PROBE" id
	echo "$output"
	if grep -qw memory "$cg/cgroup.controllers"; then
		[ "$status" -eq 0 ] && [ ! -e "$cg/x" ]
	else
		[ "$status" -eq 78 ]
		[[ "$output" == *"--cgroup $cg: no memory controller (cgroup.controllers: \""* ]]
	fi
	[ -z "$(ls -A "$BASE")" ]
}

@test "under the unit's SystemCallFilter=, as systemd applies it, vmjail makes its jail; without @mount or sethostname it is killed" {
	unit_syscalls "$BATS_TEST_TMPDIR/calls"
	grep -qx ioctl "$BATS_TEST_TMPDIR/calls"
	run "$ROOT/build/t/jail/sysfilter" "$BATS_TEST_TMPDIR/calls" \
	    "$JAIL" --id 1 --base "$BASE" --uid 4001 --gid 4001 -- "$PROBE" id host
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "uid=4001 gid=4001 pid=1" ]
	[ "${lines[1]}" = "host: 1" ]
	# What the unit adds to @system-service is what the jail needs.
	for call in pivot_root sethostname; do
		grep -vx $call "$BATS_TEST_TMPDIR/calls" > "$BATS_TEST_TMPDIR/less"
		run "$ROOT/build/t/jail/sysfilter" "$BATS_TEST_TMPDIR/less" \
		    "$JAIL" --id 1 --base "$BASE" --uid 4001 --gid 4001 -- "$PROBE" id
		[ "$status" -eq $((128 + 31)) ]	# SIGSYS
	done
}
