/*
 * Whether this host's KVM needs the guest workarounds of
 * --cpu-workarounds (vmrun(1)): a throwaway VM runs a few instructions at
 * CPL 0 in 64-bit mode (popcnt, movbe, cmpxchg16b, xgetbv, xsetbv, an AVX
 * store, xsave), on a data page and on a live page table, and the answer
 * is how its vCPU came back: at the closing port write (KVM ran them, or
 * emulated them all), or with an emulation failure (KVM's emulator, which
 * such hosts run guest kernel code through, could not).  Where the CPU has
 * XSAVE and AVX, the probe then asks CPUID for the size of the XSAVE area
 * its XCR0 needs: a KVM that did not see its XSETBV (seen under QEMU's
 * emulated AMD SVM, scripts/kvm-in-qemu) still gives the size of the
 * XCR0 it started with, and a Linux guest that finds the two disagree
 * warns and turns XSAVE off, and AVX with it, after a costly start: such
 * a host gets noxsave only.  Anything else is no answer.  The answer holds until the host reboots: it is cached per
 * boot (/proc/sys/kernel/random/boot_id) in the cache directory.
 */
#ifndef SNAPVM_CPUPROBE_H
#define SNAPVM_CPUPROBE_H

#include <stdbool.h>
#include <stddef.h>

enum cpuprobe_answer {
	CPUPROBE_NOKVM = -2,	/* no probe ran: no access to KVM (only
				 * cpuwa_auto says this, cpuwa.h) */
	CPUPROBE_UNKNOWN = -1,	/* no answer: an error, reported */
	CPUPROBE_NATIVE = 0,	/* no workarounds needed */
	CPUPROBE_EMULATED = 1,	/* KVM's emulator failed: workarounds */
	CPUPROBE_NOXSAVE = 2,	/* KVM runs it, but does not see XSETBV:
				 * noxsave only */
};

#define CPUPROBE_BOOT_ID	37	/* a boot_id UUID and its NUL */

/* Runs the probe VM on kvm_path (the device, /dev/kvm). */
enum cpuprobe_answer cpuprobe_run(const char *kvm_path);

/*
 * The cached answer or, with none for this boot, the probe's, cached.
 * An answer of CPUPROBE_UNKNOWN is not cached, and the caller decides
 * (vmrun takes the workarounds: they cost speed, their absence a crash).
 */
enum cpuprobe_answer cpuprobe_answer(const char *kvm_path);

/*
 * The cache file (cpuprobe_cache.c), pure file I/O for tests: its path
 * ($XDG_CACHE_HOME/snapvm/cpu-probe, else under $HOME/.cache), this
 * boot's id, and reading and writing an answer.  A read gives
 * CPUPROBE_UNKNOWN for a missing file, another boot's answer, or a file
 * that is not exactly what cpuprobe_cache_write writes (which is then
 * rewritten by the next probe, never trusted).  A write is atomic: a
 * temporary name, fsync, rename, fsync of the directory, which must be
 * there (cpuprobe_answer makes it with file_cache_mkdir).
 */
int cpuprobe_cache_path(char *out, size_t n);
int cpuprobe_boot_id(char id[CPUPROBE_BOOT_ID]);
enum cpuprobe_answer cpuprobe_cache_read(const char *path,
    const char *boot_id);
int cpuprobe_cache_write(const char *path, const char *boot_id,
    enum cpuprobe_answer a);

#endif
