#!/usr/bin/env bats
# bats file_tags=kvm
# vmrun with the freestanding test guests of t/guest.

load helpers

setup() {
	TMP="$(mktemp -d)"
}

teardown() {
	rm -rf "$TMP"
}

@test "hello.elf prints its greeting on the console and exits 0" {
	run vm --kernel "$GUESTS/hello.elf"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from guest" ]
}

@test "--console FILE takes the console; stdout and stderr stay empty" {
	vm --kernel "$GUESTS/hello.elf" --console "$TMP/console" \
	    > "$TMP/out" 2> "$TMP/err"
	[ "$(cat "$TMP/console")" = "hello from guest" ]
	[ ! -s "$TMP/out" ]
	[ ! -s "$TMP/err" ]
}

@test "the guest's exit status is vmrun's exit status" {
	for s in 0 1 7 42 255; do
		run vm --kernel "$GUESTS/exit.elf" --cmdline "status=$s"
		[ "$status" -eq "$s" ]
		[ "$output" = "exit $s" ]
	done
}

@test "serial input: the guest reads standard input through --console-in -" {
	run vm --kernel "$GUESTS/echo.elf" --console-in - --console "$TMP/c" \
	    < <(printf 'one\ntwo\nthree\nquit\n')
	[ "$status" -eq 3 ]
	grep -qx 'echo: one' "$TMP/c"
	grep -qx 'echo: three' "$TMP/c"
}

@test "serial input: more than a FIFO's worth from a file arrives intact" {
	for i in $(seq 1 40); do echo "line number $i of the input"; done > "$TMP/in"
	echo quit >> "$TMP/in"
	run vm --kernel "$GUESTS/echo.elf" --console-in "$TMP/in" --console "$TMP/c"
	[ "$status" -eq 40 ]
	[ "$(grep -c '^echo: line number' "$TMP/c")" -eq 40 ]
	grep -qx 'echo: line number 40 of the input' "$TMP/c"
}

@test "int3, fwait and popcnt complete in guest kernel mode" {
	run vm --kernel "$GUESTS/trap.elf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok int3"* ]]
	[[ "$output" != *FAIL* ]]
}

@test "an instruction nobody can emulate is reported with RIP and bytes" {
	run vm --kernel "$GUESTS/unknown.elf"
	echo "$output"
	if [ "$status" -eq 42 ]; then
		skip "this host runs cmpxchg16b natively in guest kernel mode"
	fi
	[ "$status" -eq 70 ]
	[[ "$output" == *"instruction bytes: f0"* ]]
	[[ "$output" == *"rip "* ]]
}

@test "a triple fault stops the VM with an error report" {
	run vm --kernel "$GUESTS/triple.elf"
	[ "$status" -eq 70 ]
	[[ "$output" == *"triple fault"* ]]
}

@test "i8042 reset stops the VM with status 0" {
	run vm --kernel "$GUESTS/reset.elf"
	[ "$status" -eq 0 ]
	[[ "$output" == *"resetting"* ]]
}

@test "--vcpus N starts N processors through INIT and SIPI" {
	for n in 1 2 4 8; do
		run vm --kernel "$GUESTS/smp.elf" --vcpus "$n" --cmdline "cpus=$n"
		echo "$output"
		[ "$status" -eq "$n" ]
		[[ "$output" == *"cpus up: $n"* ]]
	done
}

@test "SIGTERM stops a running guest; vmrun exits 128+15" {
	# echo.elf waits for input that never comes while the test holds the
	# FIFO open (a writer process would outlive the test and hold bats).
	mkfifo "$TMP/in"
	"$VMRUN" --kernel "$GUESTS/echo.elf" --console-in - \
	    --console "$TMP/c" < "$TMP/in" &
	pid=$!
	exec {hold}> "$TMP/in"
	sleep 0.5
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	exec {hold}>&-
	[ "$rc" -eq 143 ]
}

@test "a missing kernel file: status 66, the message names the file" {
	run "$VMRUN" --kernel /nonexistent/vmlinux
	[ "$status" -eq 66 ]
	[[ "$output" == *"/nonexistent/vmlinux: No such file or directory"* ]]
}

@test "a file that is not ELF: status 65, the message names the file" {
	run "$VMRUN" --kernel "$ROOT/README.md"
	[ "$status" -eq 65 ]
	[[ "$output" == *"README.md: not an ELF file"* ]]
	run "$VMRUN" --kernel /dev/null
	[ "$status" -eq 66 ]
	[[ "$output" == *"/dev/null: not a regular file"* ]]
	run "$VMRUN" --kernel "$ROOT"
	[ "$status" -eq 66 ]
	[[ "$output" == *"is a directory"* ]]
}

@test "malformed ELF images are refused without a crash" {
	hello="$GUESTS/hello.elf"
	head -c 40 "$hello" > "$TMP/short.elf"
	head -c 200 "$hello" > "$TMP/trunc.elf"
	elf_patch64 "$hello" "$TMP/entry.elf" 24 0x7000000	  # e_entry
	elf_patch64 "$hello" "$TMP/far.elf" 88 0x7f0000000000  # p_paddr
	elf_patch64 "$hello" "$TMP/low.elf" 88 0x1000
	elf_patch64 "$hello" "$TMP/phoff.elf" 32 0xfffffffffffffff0
	for f in short trunc entry far low phoff; do
		run "$VMRUN" --kernel "$TMP/$f.elf"
		echo "$f: $status $output"
		[ "$status" -eq 65 ]
		[[ "$output" == *"$f.elf: "* ]]
	done
}

@test "a segment beyond guest memory: 'memory too small' for --mem" {
	elf_patch64 "$GUESTS/hello.elf" "$TMP/moved.elf" 88 0x2000000  # 32 MiB
	elf_patch64 "$TMP/moved.elf" "$TMP/big.elf" 24 0x2000000	 # entry
	run "$VMRUN" --kernel "$TMP/big.elf" --mem 16
	[ "$status" -eq 65 ]
	[[ "$output" == *"memory too small"* ]]
}

@test "usage errors: status 64 and the flag at fault" {
	run "$VMRUN"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--kernel FILE is required"* ]]
	run "$VMRUN" --kernel "$GUESTS/hello.elf" --mem lots
	[ "$status" -eq 64 ]
	[[ "$output" == *'--mem: expected a whole number'*'"lots"'* ]]
	run "$VMRUN" --kernel "$GUESTS/hello.elf" --vcpus 9
	[ "$status" -eq 64 ]
	[[ "$output" == *"--vcpus"* ]]
	run "$VMRUN" --kernel "$GUESTS/hello.elf" --frobnicate
	[ "$status" -eq 64 ]
	run "$VMRUN" --kernel "$GUESTS/hello.elf" --cmdline "$(printf 'x%.0s' $(seq 1 2048))"
	[ "$status" -eq 64 ]
	[[ "$output" == *"command line is "*" bytes, the limit is 2047"* ]]
	run "$VMRUN" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *usage:* ]]
}

@test "an unwritable console file: status 73" {
	run "$VMRUN" --kernel "$GUESTS/hello.elf" --console /nonexistent/dir/c
	[ "$status" -eq 73 ]
	[[ "$output" == *"/nonexistent/dir/c"* ]]
}

@test "/dev/kvm not accessible: status 69 and the device named" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to drop to another user"
	cp "$GUESTS/hello.elf" "$TMP/"
	chmod 755 "$TMP"
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$VMRUN" --kernel "$TMP/hello.elf"
	[ "$status" -eq 69 ]
	[[ "$output" == *"/dev/kvm: Permission denied"* ]]
}

# Under valgrind without the seccomp filters: valgrind does not implement
# seccomp(2), and its own system calls would not pass a filter anyway.
@test "valgrind: no leaks, no errors, no fds left open for hello.elf" {
	run valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
	    --track-fds=yes --error-exitcode=99 "$VMRUN" --no-seccomp \
	    --kernel "$GUESTS/hello.elf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"hello from guest"* ]]
	[[ "$output" == *"All heap blocks were freed"* ]]
	# Every fd open at exit is one vmrun inherited.
	leaked=$(echo "$output" | grep -A1 'Open file descriptor' |
	    grep -vE 'Open file descriptor|inherited from parent|^--$' || true)
	[ -z "$leaked" ]
}

@test "--initrd: the guest finds it through the zero page" {
	printf 'first line of the initrd\nsecond\n' > "$TMP/rd"
	run vm --kernel "$GUESTS/initrd.elf" --initrd "$TMP/rd"
	[ "$status" -eq 0 ]
	[[ "$output" == *"initrd size 32 page-aligned"* ]]
	[[ "$output" == *"initrd: first line of the initrd"* ]]
	run vm --kernel "$GUESTS/initrd.elf"
	[ "$status" -eq 1 ]
}

@test "--initrd: too large, missing or empty is refused by name" {
	head -c 20000000 /dev/zero > "$TMP/big"
	run "$VMRUN" --kernel "$GUESTS/initrd.elf" --initrd "$TMP/big" --mem 16
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/big: 20000000 bytes do not fit"* ]]
	run "$VMRUN" --kernel "$GUESTS/initrd.elf" --initrd "$TMP/none"
	[ "$status" -eq 66 ]
	[[ "$output" == *"$TMP/none: No such file or directory"* ]]
	: > "$TMP/empty"
	run "$VMRUN" --kernel "$GUESTS/initrd.elf" --initrd "$TMP/empty"
	[ "$status" -eq 65 ]
}

@test "--cmdline overrides defaults by key; --append adds at the end" {
	run vm --kernel "$GUESTS/exit.elf" --append "status=5" -vv
	[ "$status" -eq 5 ]
	[[ "$output" == *"command line: console=ttyS0 reboot=t panic=-1 quiet"*" status=5"* ]]
	run vm --kernel "$GUESTS/exit.elf" --cmdline "status=6 console=hvc0" \
	    --append "x=1" --cpu-workarounds on -vv
	[ "$status" -eq 6 ]
	[[ "$output" == *"command line: reboot=t panic=-1 quiet rcupdate.rcu_cpu_stall_suppress=1 noxsave clearcpuid="*" status=6 console=hvc0 x=1"* ]]
	[[ "$output" != *"console=ttyS0"* ]]
	run vm --kernel "$GUESTS/exit.elf" --cmdline "status=6 noxsave=1" \
	    --cpu-workarounds on -vv
	[[ "$output" == *"command line: console=ttyS0 reboot=t panic=-1 quiet rcupdate.rcu_cpu_stall_suppress=1 clearcpuid="*" status=6 noxsave=1"* ]]
}

@test "--cpu-workarounds off: no noxsave or clearcpuid, and no fallback" {
	run vm --kernel "$GUESTS/exit.elf" --cmdline "status=5" \
	    --cpu-workarounds off -vv
	[ "$status" -eq 5 ]
	[[ "$output" == *"emulation fallback off"* ]]
	[[ "$output" != *"noxsave"* ]]
	[[ "$output" != *"clearcpuid"* ]]
}

@test "--cpu-workarounds noxsave: noxsave alone, with the fallback; a bad value names all four" {
	run vm --kernel "$GUESTS/exit.elf" --cmdline "status=5" \
	    --cpu-workarounds noxsave -vv
	[ "$status" -eq 5 ]
	[[ "$output" == *"command line noxsave, emulation fallback on"* ]]
	[[ "$output" == *"command line: console=ttyS0 "*" noxsave status=5"* ]]
	[[ "$output" != *"clearcpuid"* ]]
	run "$VMRUN" --kernel "$GUESTS/exit.elf" --cpu-workarounds some
	[ "$status" -eq 64 ]
	[[ "$output" == *"--cpu-workarounds: expected auto, on, noxsave or off, got \"some\""* ]]
}

@test "--cpu-workarounds auto: the probe's answer is cached for this boot" {
	export XDG_CACHE_HOME="$TMP/cache"
	run vm --kernel "$GUESTS/exit.elf" --cmdline "status=0" -vv
	[ "$status" -eq 0 ]
	[[ "$output" == *"CPU probe: "* ]]
	grep -qx "boot_id $(cat /proc/sys/kernel/random/boot_id)" \
	    "$TMP/cache/snapvm/cpu-probe"
	run vm --kernel "$GUESTS/exit.elf" --cmdline "status=0" -vv
	[[ "$output" != *"CPU probe: "* ]]
	echo garbage > "$TMP/cache/snapvm/cpu-probe"
	run vm --kernel "$GUESTS/exit.elf" --cmdline "status=0" -vv
	[[ "$output" == *"CPU probe: "* ]]
	grep -q "^snapvm-cpu-probe 2$" "$TMP/cache/snapvm/cpu-probe"
	grep -qx "answer \(native\|noxsave\|emulated\)" "$TMP/cache/snapvm/cpu-probe"
}

@test "--cpu-template: a bad file is refused naming file, line and field" {
	printf 'snapvm-cpu-template 1\nname t\nclear 7 0 ebx zz\n' > "$TMP/t"
	run "$VMRUN" --kernel "$GUESTS/exit.elf" --cpu-template "$TMP/t"
	[ "$status" -eq 65 ]
	[[ "$output" == *"$TMP/t:3: bits: \"zz\""* ]]
	run "$VMRUN" --kernel "$GUESTS/exit.elf" --cpu-template "$TMP/none"
	[ "$status" -eq 66 ]
}
