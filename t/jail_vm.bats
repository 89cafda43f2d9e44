#!/usr/bin/env bats
# bats file_tags=kvm
# vmjail(1) where KVM and cgroup v2 controllers exist (in the nested VM
# of scripts/kvm-in-qemu on the build machines): a jailed vmrun runs a
# guest, and the jail's cgroup carries its limits and goes with it.

load helpers

JAIL="$ROOT/bin/vmjail"
PROBE="$ROOT/build/t/jail/probe"

setup() {
	TMP=$(mktemp -d "$ROOT/build/jailvm.XXXXXX")
	chmod 755 "$TMP"
	mkdir -m 755 "$TMP/jails"
	FIFO=$(mktemp -u)	# /tmp: the shared file system of kvm-in-qemu takes no FIFO
	CG=
}

teardown() {
	exec 7>&- 2>/dev/null || true
	pkill -KILL -f "$PROBE" 2>/dev/null || true
	cgroup_v2_done
	rm -rf "$TMP" "$FIFO"
}

@test "a jailed vmrun runs a guest with /dev/kvm and the kernel bound in" {
	run "$JAIL" --id vm1 --base "$TMP/jails" --uid 40001 --gid 40001 \
	    --dev /dev/kvm --ro "$GUESTS/hello.elf" -- "$VMRUN" \
	    --kernel "$GUESTS/hello.elf"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from guest" ]
	run "$JAIL" --id vm2 --base "$TMP/jails" --uid 40002 --gid 40002 \
	    --ro "$GUESTS/hello.elf" -- "$VMRUN" --kernel "$GUESTS/hello.elf"
	[ "$status" -ne 0 ]			# no /dev/kvm: not bound in
	[[ "$output" == *"/dev/kvm"* ]]
	[ -z "$(ls -A "$TMP/jails")" ]
}

@test "the jail's cgroup: its limits, the runner in it, gone when the runner ends" {
	cgroup_v2 "$TMP/cg"
	mkfifo "$FIFO"
	"$JAIL" --id cg1 --base "$TMP/jails" --uid 40003 --gid 40003 \
	    --cgroup "$CG/snapvm" --memory-max 64M --pids-max 16 \
	    --cpu-weight 50 -- "$PROBE" wait < "$FIFO" > "$TMP/out" 2>&1 &
	keeper=$!
	exec 7> "$FIFO"
	for i in $(seq 300); do		# a backstop, not a measurement
		grep -q waiting "$TMP/out" && break
		sleep 0.1
	done
	cat "$TMP/out"
	runner=$(pgrep -P $keeper)
	[ "$(cat "$CG/snapvm/cg1/memory.max")" = $((64 << 20)) ]
	[ "$(cat "$CG/snapvm/cg1/pids.max")" = 16 ]
	[ "$(cat "$CG/snapvm/cg1/cpu.weight")" = 50 ]
	[ "$(cat "$CG/snapvm/cg1/cgroup.procs")" = "$runner" ]
	exec 7>&-
	wait $keeper
	[ ! -e "$CG/snapvm/cg1" ]
	[ -z "$(ls -A "$TMP/jails")" ]
}

@test "a runner past its memory.max: the kernel's OOM killer ends it, and the keeper says so" {
	cgroup_v2 "$TMP/cg"
	run "$JAIL" --id oom1 --base "$TMP/jails" --uid 40004 --gid 40004 \
	    --cgroup "$CG/snapvm" --memory-max 16M -- "$PROBE" hog 64
	echo "$output"
	[ "$status" -eq 137 ]		# SIGKILL, as the runner's
	[[ "$output" == *"vmjail: oom1: the kernel's OOM killer ended the runner: it went past its memory.max, 16777216 bytes"* ]]
	[[ "$output" != *hogged* ]]
	[ ! -e "$CG/snapvm/oom1" ]
	[ -z "$(ls -A "$TMP/jails")" ]
}
