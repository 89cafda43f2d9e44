#!/usr/bin/env bats
# The test harness itself: scripts/kvm-in-qemu, whose statuses
# scripts/check acts on.  No KVM needed (it is QEMU in software).

load helpers
bats_require_minimum_version 1.5.0

@test "kvm-in-qemu: the command's own status comes back" {
	run -3 "$ROOT/scripts/kvm-in-qemu" -t 600 sh -c 'exit 3'
}

@test "kvm-in-qemu: a VM whose clock jumps a day ahead gives status 75, not the command's, and says why" {
	run --separate-stderr -75 "$ROOT/scripts/kvm-in-qemu" -t 600 \
	    sh -c 'date -s @$(($(date +%s) + 86400)) > /dev/null'
	echo "$stderr"
	[[ $stderr == *"clock ran"*"timeouts are void"* ]]
}
