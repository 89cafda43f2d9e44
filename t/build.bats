#!/usr/bin/env bats
# What a Debian user or package build expects of the programs and the
# Makefile: --version and --help, the flags a build cannot do without
# whatever CFLAGS says, make install and uninstall with DESTDIR, and
# manual pages that mandoc finds nothing wrong with.  No VM.

load helpers
bats_require_minimum_version 1.5.0

PROGS="ctrl s3snap snapdump snappager snaprestore tapnet vmjail vmrun"

setup() {
	TMP="$BATS_TEST_TMPDIR"
}

@test "every program: --version is one line with its name and the tree's version, on stdout, exit 0" {
	want=$("$ROOT/scripts/version")
	for p in $PROGS; do
		run --separate-stderr "$ROOT/bin/$p" --version
		echo "$p: $output / $stderr"
		[ "$status" -eq 0 ]
		[ "${#lines[@]}" -eq 1 ]
		[ "$output" = "$p (snapvm) $want" ]
		[ -z "$stderr" ]
	done
}

@test "every program: --help prints the usage on stdout, exit 0; a bad flag prints it on stderr, exit 64" {
	for p in $PROGS; do
		run --separate-stderr "$ROOT/bin/$p" --help
		echo "$p: $output / $stderr"
		[ "$status" -eq 0 ]
		[[ "$output" == "usage: $p "* ]]
		[[ "$output" == *"$p --help | --version"* ]]
		[ -z "$stderr" ]
		run --separate-stderr "$ROOT/bin/$p" --no-such-flag
		[ "$status" -eq 64 ]
		[ -z "$output" ]
		[[ "$stderr" == *"usage: $p "* ]]
	done
}

@test "make CFLAGS=... keeps -std=c11, -D_GNU_SOURCE and -pthread; -Werror only with WERROR=1" {
	run make -C "$ROOT" -n -B CFLAGS="-O0 -g3" build/lib/base/log.o
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"-std=c11 -D_GNU_SOURCE -pthread "*" -O0 -g3 "* ]]
	[[ "$output" != *-Werror* ]]
	run make -C "$ROOT" -n -B WERROR=1 build/lib/base/log.o
	[[ "$output" == *-Werror* ]]
	# The libraries' flags come from pkg-config.
	[[ "$output" == *"$(pkg-config --cflags json-c)"* ]]
}

# The files a package would ship, exactly.
installed() {
	(cd "$1" && find . -type f | sort)
}

@test "make install DESTDIR=... PREFIX=/usr: the programs, their pages and the units (paths filled in), nothing else; uninstall removes them" {
	run make -C "$ROOT" -s install DESTDIR="$TMP/root" PREFIX=/usr
	echo "$output"
	[ "$status" -eq 0 ]
	{
		for p in $PROGS; do echo "./usr/bin/$p"; done
		echo ./usr/lib/systemd/system/snapvm-ctrl.service
		echo ./usr/lib/systemd/system/snapvm-ctrl.socket
		for m in "$ROOT"/man/*.[15]; do
			echo "./usr/share/man/man${m##*.}/$(basename "$m")"
		done
	} | sort > "$TMP/want"
	installed "$TMP/root" > "$TMP/got"
	diff "$TMP/want" "$TMP/got"
	[ -x "$TMP/root/usr/bin/ctrl" ]
	grep -qx 'ExecStart=/usr/bin/ctrl --config /etc/snapvm/ctrl.yaml' \
	    "$TMP/root/usr/lib/systemd/system/snapvm-ctrl.service"
	! grep -q /usr/local/bin "$TMP/root/usr/lib/systemd/system/snapvm-ctrl.service"
	run make -C "$ROOT" -s uninstall DESTDIR="$TMP/root" PREFIX=/usr
	[ "$status" -eq 0 ]
	[ -z "$(installed "$TMP/root")" ]
	# BINDIR alone moves the programs and the unit's paths with them.
	run make -C "$ROOT" -s install DESTDIR="$TMP/opt" BINDIR=/opt/snapvm/bin
	[ "$status" -eq 0 ]
	[ -x "$TMP/opt/opt/snapvm/bin/vmrun" ]
	grep -q '^ExecStart=/opt/snapvm/bin/ctrl ' \
	    "$TMP/opt/usr/local/lib/systemd/system/snapvm-ctrl.service"
}

@test "mandoc -T lint -W warning: every page clean" {
	run mandoc -T lint -W warning "$ROOT"/man/*.1 "$ROOT"/man/*.5
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "etc/haproxy.cfg: HAProxy accepts it as shipped" {
	run haproxy -c -f "$ROOT/etc/haproxy.cfg"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Configuration file is valid"* ]]
}

# make bench once tested /dev/kvm by opening it read-write, which made an
# empty plain file where there was no device.
@test "scripts/kvm-usable: no device is not usable, and none is made; a plain file is not a device" {
	KVM_DEV="$TMP/kvm" run "$ROOT/scripts/kvm-usable"
	[ "$status" -eq 1 ]
	[ ! -e "$TMP/kvm" ]
	: > "$TMP/kvm"
	KVM_DEV="$TMP/kvm" run "$ROOT/scripts/kvm-usable"
	[ "$status" -eq 1 ]
	KVM_DEV=/dev/null run "$ROOT/scripts/kvm-usable"
	[ "$status" -eq 0 ]	# a character device that opens
}

@test "make snap (scripts/mksnap): nothing to do when the snapshots were made, whole, from the same inputs; otherwise they are marked unfinished before anything is made" {
	[ -f "$ROOT/build/vmlinux" ] && [ -f "$ROOT/build/rootfs.ext4" ]
	OUT="$TMP/snap"
	mkdir -p "$OUT"
	"$ROOT/scripts/mksnap" --key > "$OUT/.made"
	run "$ROOT/scripts/mksnap" "$OUT"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$OUT is up to date"* ]]
	[ "$(ls -A "$OUT")" = .made ]
	# Other inputs: the mark goes first.  OUT/diff a file stops the
	# remake right after, before any VM is started.
	echo 0 > "$OUT/.made"
	touch "$OUT/diff"
	run "$ROOT/scripts/mksnap" "$OUT"
	[ "$status" -ne 0 ]
	[[ "$output" != *"up to date"* ]]
	[ ! -e "$OUT/.made" ]
}
