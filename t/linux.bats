#!/usr/bin/env bats
# bats file_tags=kvm
# Real Linux guests: build/vmlinux (scripts/mkkernel) on build/rootfs.ext4
# (rootfs/mkrootfs).  A cold boot takes about a minute on hosts that
# emulate guest kernel code, so this suite boots as few times as it can.

load helpers

KERNEL="$ROOT/build/vmlinux"
ROOTFS="$ROOT/build/rootfs.ext4"

setup() {
	TMP="$(mktemp -d)"
	[ -f "$KERNEL" ] || { echo "$KERNEL missing: make kernel" >&2; return 1; }
	[ -f "$ROOTFS" ] || { echo "$ROOTFS missing: make rootfs" >&2; return 1; }
}

teardown() {
	rm -rf "$TMP"
}

# Bounded like every VM in the suites, with room for a cold boot.
linux() {
	timeout --kill-after=10 900 "$VMRUN" --kernel "$KERNEL" \
	    --rootfs "$ROOTFS" --mem 256 "$@"
}

@test "Linux boots and runs Python 3 from snapvm.run: 42, exit 0" {
	run linux --console "$TMP/console" \
	    --cmdline 'snapvm.run="python3 -c print(6*7)"'
	cat "$TMP/console"
	[ "$status" -eq 0 ]
	tr -d "\r" < "$TMP/console" | grep -qx "42"
}

@test "the guest's CPU: the host's features by default (all of them where the probe says KVM sees XSETBV, all but XSAVE and AVX where not); none with --cpu-workarounds on; no AVX2 or BMI2 with --cpu-template x86-64-v2" {
	# No double quote in it (the kernel's) and none of its own single
	# quotes (snapvm.run's words).
	local py="import sys; f=set(open(sys.argv[1]).read().split()); print(sys.argv[2], *(x in f for x in sys.argv[3:]))"
	export XDG_CACHE_HOME="$TMP/cache"
	# The guest cannot have what this host's CPU lacks.
	for f in popcnt bmi2 movbe avx2 xsave; do grep -qw $f /proc/cpuinfo; done
	for how in default on v2; do
		case $how in
		default) set -- ;;
		on) set -- --cpu-workarounds on ;;
		v2) set -- --cpu-template x86-64-v2 ;;
		esac
		run linux --console "$TMP/console.$how" "$@" --append \
		    "snapvm.run=\"python3 -c '$py' /proc/cpuinfo flags popcnt bmi2 movbe avx2 xsave\""
		cat "$TMP/console.$how"
		[ "$status" -eq 0 ]
		tr -d '\r' < "$TMP/console.$how" | grep '^flags ' > "$TMP/flags.$how"
	done
	cat "$TMP/cache/snapvm/cpu-probe"
	case "$(sed -n 's/^answer //p' "$TMP/cache/snapvm/cpu-probe")" in
	native) want="flags True True True True True" ;;
	noxsave) want="flags True True True False False" ;;
	*) false ;;
	esac
	[ "$(cat "$TMP/flags.default")" = "$want" ]
	[ "$(cat "$TMP/flags.on")" = "flags False False False False False" ]
	[ "$(cat "$TMP/flags.v2")" = "flags True False False False False" ]
}

@test "the exit status of the snapvm.run command is vmrun's" {
	run linux --console "$TMP/console" --append \
	    "snapvm.run=\"python3 -c 'import sys, json, hashlib, zlib, socket; print(sum(range(10)), sys.version_info[:2]); sys.exit(3)'\""
	cat "$TMP/console"
	[ "$status" -eq 3 ]
	grep -q "^45 (3, 11)" "$TMP/console"
}

@test "a corrupt root filesystem: the kernel panics, vmrun says so and fails" {
	head -c 8388608 /dev/urandom > "$TMP/bad.ext4"
	run timeout --kill-after=10 900 "$VMRUN" --kernel "$KERNEL" \
	    --rootfs "$TMP/bad.ext4" --mem 256 --console "$TMP/console"
	echo "$output"
	[ "$status" -eq 70 ]
	[[ "$output" == *"triple fault"*"panic"* ]]
	grep -q "Kernel panic" "$TMP/console"
}

@test "a function in a booted VM answers ten requests in order, one line each" {
	{
		tr -d '\n' < "$ROOT/appfs/hello/request.json"; echo
		echo 'not json'
		for i in $(seq 2 9); do printf '{"id":%d,"payload":[%d]}\n' "$i" "$i"; done
	} > "$TMP/in"
	linux --appfs "$ROOT/build/appfs/hello.ext2" --console "$TMP/console" \
	    < "$TMP/in" > "$TMP/out"
	cat "$TMP/out"
	[ "$(wc -l < "$TMP/out")" -eq 10 ]
	sed -n 1p "$TMP/out" | grep -q '^{"id":"hello-1","status":"ok","response":{"echo":{"name":"snapvm"}},"timings_us":{"total":[0-9]*,"handler":[0-9]*}}$'
	sed -n 2p "$TMP/out" | grep -q '"status":"error","error":{"type":"BadRequest"'
	for i in $(seq 2 9); do
		sed -n "$((i + 1))p" "$TMP/out" | grep -q "^{\"id\":$i,\"status\":\"ok\",\"response\":{\"echo\":\[$i\]}"
	done
	grep -q "snapvm runtime: serving app hello" "$TMP/console"
}
