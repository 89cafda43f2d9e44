#!/usr/bin/env bats
# scripts/layers, the check behind `make layers`, on small trees of its own.

load helpers

setup() {
	TMP="$BATS_TEST_TMPDIR"
	mkdir -p "$TMP/lib/base" "$TMP/lib/vmm" "$TMP/build/lib/base" \
	    "$TMP/build/lib/vmm"
}

# src FOLDER NAME BODY: lib/FOLDER/NAME.c, compiled where make puts it.
src() {
	printf '%s\n' "$3" > "$TMP/lib/$1/$2.c"
	cc -c -o "$TMP/build/lib/$1/$2.o" "$TMP/lib/$1/$2.c"
}

@test "layers: calls down pass; a call up or a cycle fails, naming the files and symbols" {
	src base log 'int log_x(void) { return 1; }'
	src vmm vm 'int log_x(void); int vm_run(void) { return log_x(); }'
	cd "$TMP"
	run "$ROOT/scripts/layers" build base vmm
	[ "$status" -eq 0 ]
	[[ "$output" == *"no call or include up, no cycle"* ]]

	# The planted back-call: the bottom layer calls into the VMM.
	src base log 'int vm_run(void); int log_x(void) { return vm_run(); }'
	run "$ROOT/scripts/layers" build base vmm
	[ "$status" -eq 1 ]
	[[ "$output" == *"lib/base/log.c calls up into lib/vmm/vm.c (vmm above base): vm_run"* ]]
	[[ "$output" == *"a call cycle of 2 files"* ]]
	[[ "$output" == *"lib/vmm/vm.c -> lib/base/log.c: log_x"* ]]
}

@test "layers: an include up fails; a file outside every layer is named" {
	src base log 'int log_x(void) { return 1; }'
	printf '#include "../vmm/vm.h"\n' > "$TMP/lib/base/log.h"
	printf 'int vm_run(void);\n' > "$TMP/lib/vmm/vm.h"
	mkdir -p "$TMP/lib/misc"
	printf 'int x;\n' > "$TMP/lib/misc/x.h"
	cd "$TMP"
	run "$ROOT/scripts/layers" build base vmm
	[ "$status" -eq 1 ]
	[[ "$output" == *"lib/base/log.h includes up into lib/vmm/vm.h"* ]]
	[[ "$output" == *"not in a layer (base vmm): lib/misc/x.h"* ]]
}

@test "layers: within one folder, files that call each other are a cycle" {
	src vmm a 'int b(void); int a(void) { return b(); }'
	src vmm b 'int a(void); int b(void) { return a(); }'
	src base log 'int log_x(void) { return 1; }'
	cd "$TMP"
	run "$ROOT/scripts/layers" build base vmm
	[ "$status" -eq 1 ]
	[[ "$output" == *"a call cycle of 2 files"* ]]
	[[ "$output" == *"lib/vmm/a.c -> lib/vmm/b.c: b"* ]]
}
