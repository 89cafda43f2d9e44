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

# A cgroup v2 tree where the memory, pids and cpu controllers reach the
# children of $CG/snapvm, as a delegation gives them to ctrl: the
# system's cgroup2 mount, or one mounted on $1 where there is none (the
# nested VM of scripts/kvm-in-qemu, whose kernel has them all; build
# hosts keep them on v1).  cgroup_v2_done undoes it.
# ctrl jails its runners by default when it runs as root (as the tests
# do): the tests of other things, most with fake runners, turn it off with
# this line in their ctrl.yaml; the tests of the jail write their own
# (JAIL_YAML=... before config).
NO_JAIL='jail: {enabled: false}'

cgroup_v2() {
	local m
	CG=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	CG_MOUNTED=
	if [ -z "$CG" ]; then
		CG=$1
		mkdir -p "$CG"
		mount -t cgroup2 none "$CG"
		CG_MOUNTED=1
	fi
	for m in memory pids cpu; do
		grep -qw $m "$CG/cgroup.controllers" ||
		    { echo "no $m controller in $CG" >&2; return 1; }
	done
	echo "+memory +pids +cpu" > "$CG/cgroup.subtree_control"
	mkdir -p "$CG/snapvm"
}

cgroup_v2_done() {
	[ -n "${CG:-}" ] || return 0
	rmdir "$CG"/snapvm/* "$CG/snapvm" 2> /dev/null || true
	[ -z "$CG_MOUNTED" ] || umount "$CG" 2> /dev/null || true
}

# unit_syscalls FILE: the system calls etc/snapvm-ctrl.service's
# SystemCallFilter= allows, expanded as systemd does, for
# build/t/jail/sysfilter, which applies them as systemd would.
unit_syscalls() {
	"$ROOT/t/unit_syscalls.py" "$ROOT/etc/snapvm-ctrl.service" > "$1"
}

# For tests of layers made by t/fakesnap.py, which no VM can resume.
# fake_layers: in $TMP a root and an app image and the layers base (full)
# and diff on them ($STACK, for --load-dir); $NOCONSOLE a console a
# restore cannot open, so that one whose checks all pass stops there
# (at_console, fake_restore).
fake_layers() {
	export XDG_CACHE_HOME="$TMP/cache"
	head -c 65536 /dev/urandom > "$TMP/rootfs.img"
	head -c 32768 /dev/urandom > "$TMP/app.img"
	"$ROOT/t/fakesnap.py" layer "$TMP/base" --rootfs "$TMP/rootfs.img" \
	    --seed 1
	"$ROOT/t/fakesnap.py" layer "$TMP/diff" --parent "$TMP/base" \
	    --appfs "$TMP/app.img" --seed 2
	NOCONSOLE="$TMP/no/such/dir/console"
	STACK="$TMP/base,$TMP/diff"
}

# fake_restore ARG...: snaprestore of $STACK with its drives and ARGs,
# stopped at the console if every check passes.
fake_restore() {
	timeout --kill-after=5 60 "$ROOT/bin/snaprestore" --console \
	    "$NOCONSOLE" --load-dir "$STACK" --rootfs "$TMP/rootfs.img" \
	    --appfs "$TMP/app.img" "$@" < /dev/null
}

# opens DIR... -- CMD...: CMD, then "DIR/NAME COUNT" for each file opened
# in the DIRs while it ran (inotify, no tracing).
opens() {
	python3 - "$@" <<'PY'
import collections, ctypes, os, struct, subprocess, sys
args = sys.argv[1:]
dirs, cmd = args[:args.index("--")], args[args.index("--") + 1:]
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
wd = {libc.inotify_add_watch(fd, d.encode(), 0x20): d for d in dirs}
subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
count = collections.Counter()
while True:
    try:
        buf = os.read(fd, 65536)
    except BlockingIOError:
        break
    off = 0
    while off < len(buf):
        w, mask, cookie, n = struct.unpack_from("iIII", buf, off)
        name = buf[off + 16:off + 16 + n].rstrip(b"\0").decode()
        count[wd[w] + "/" + name] += 1
        off += 16 + n
for k in sorted(count):
    print(k, count[k])
PY
}

# manifest_edit DIR PYTHON: runs PYTHON with m, DIR/manifest.json as a
# dict, then writes it back, as whoever can write a layer might.
manifest_edit() {
	python3 - "$1" "$2" <<'PY'
import json, sys
p = sys.argv[1] + "/manifest.json"
m = json.load(open(p))
exec(sys.argv[2])
json.dump(m, open(p, "w"))
PY
}

# at_console: the restore that run gave passed every check of its layers
# and stopped where it opens the console $NOCONSOLE (status 73).
at_console() {
	echo "$output"
	[ "$status" -eq 73 ]
	[[ "$output" == *"$NOCONSOLE"* ]]
}

# ctrl keeps its own layers, here and in a snapshot store, in a directory
# of snapshot_dir named by the CPU template and the workarounds it
# settled on at start (cpu-TEMPLATE-WORKAROUNDS, ctrl(1)).  With
# cpu_workarounds auto, the default, that depends on the host's KVM (on
# without /dev/kvm, noxsave in scripts/kvm-in-qemu's nested VM): the
# tests never guess it, they ask ctrl.
# cpu_dir_in LOG: the directory's name, from the "cpu" event of ctrl's LOG.
cpu_dir_in() {
	grep '"event":"cpu"' "$1" | tail -n 1 | jq -r '.dir | split("/") | last'
}

# ctrl_cpu_dir [CONFIG]: the same before a run: ctrl started with CONFIG
# (by default one with the default CPU settings) but no functions, no
# listen address and no requests, which settles its CPU and stops.
ctrl_cpu_dir() {
	local d
	d=$(mktemp -d)
	echo 'functions: []' > "$d/functions.yaml"
	if [ -n "${1:-}" ]; then
		sed -e "s|^functions: .*|functions: $d/functions.yaml|" \
		    -e '/^log: /d' -e '/^listen: /d' "$1" > "$d/ctrl.yaml"
	else
		printf 'kernel: k\nrootfs: r\nappfs_dir: a\nsnapshot_dir: %s\nfunctions: functions.yaml\n%s\n' \
		    "$d/snap" "$NO_JAIL" > "$d/ctrl.yaml"
	fi
	"$ROOT/bin/ctrl" --config "$d/ctrl.yaml" --requests /dev/null \
	    2> "$d/log"
	cpu_dir_in "$d/log"
	rm -rf "$d"
}
