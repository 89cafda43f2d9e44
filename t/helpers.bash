# Shared set-up for the bats suites.
ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
VMRUN="$ROOT/bin/vmrun"
GUESTS="$ROOT/build/testguest"

# Every VM in a test is bounded in time: a hung guest fails, never stalls CI.
vm() {
	timeout --kill-after=5 60 "$VMRUN" "$@"
}

# Writes a copy of ELF file $1 to $2 with the 8-byte field at $3 set to $4.
elf_patch64() {
	python3 - "$1" "$2" "$3" "$4" <<'PY'
import struct, sys
src, dst, off, val = sys.argv[1], sys.argv[2], int(sys.argv[3], 0), int(sys.argv[4], 0)
b = bytearray(open(src, 'rb').read())
b[off:off + 8] = struct.pack('<Q', val)
open(dst, 'wb').write(b)
PY
}
