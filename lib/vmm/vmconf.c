/*
 * The machine a config describes: where its devices sit, and the kernel
 * command line of a cold boot (a restored guest has its own in memory).
 * Both come from the config alone, so that a layer can be checked
 * against them before anything is built.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ckpt.h"
#include "debugexit.h"
#include "i8042.h"
#include "log.h"
#include "serial.h"
#include "snapstate.h"
#include "vmconf.h"

static const struct vm_dev_place vmconf_legacy[] = {
	{ VM_DEV_SERIAL, 0, SEC_SERIAL, -1, SERIAL_COM1_BASE, SERIAL_NPORTS,
	    SERIAL_COM1_IRQ },
	{ VM_DEV_I8042, 0, 0, -1, I8042_BASE, I8042_NPORTS, 0 },
	{ VM_DEV_DEBUGEXIT, 0, 0, -1, DEBUGEXIT_PORT, DEBUGEXIT_LEN, 0 },
	{ VM_DEV_CKPT, 0, 0, -1, CKPT_PORT, CKPT_LEN, 0 },
};

static struct vm_dev_place
vmconf_virtio(enum vm_dev_kind kind, uint32_t index, uint32_t sec, int slot)
{
	return (struct vm_dev_place){ kind, index, sec, slot,
	    VM_MMIO_BASE + (uint64_t)slot * VIRTIO_MMIO_SIZE, VIRTIO_MMIO_SIZE,
	    VM_MMIO_IRQ0 + (uint32_t)slot };
}

int
vmconf_layout(const struct vm_config *cfg,
    struct vm_dev_place place[VM_MAX_DEVS])
{
	int n = 0, slot = 0;

	for (size_t i = 0; i < sizeof(vmconf_legacy) / sizeof(vmconf_legacy[0]);
	    i++)
		place[n++] = vmconf_legacy[i];
	for (int i = 0; i < cfg->ndrives && i < VM_MAX_DRIVES; i++)
		place[n++] = vmconf_virtio(VM_DEV_BLK, (uint32_t)i, SEC_BLK,
		    slot++);
	if (cfg->vsock != NULL)
		place[n++] = vmconf_virtio(VM_DEV_VSOCK, 0, SEC_VSOCK, slot++);
	if (cfg->net.tap != NULL)
		place[n++] = vmconf_virtio(VM_DEV_NET, 0, SEC_NET, slot++);
	return n;
}

/*
 * Defaults for a Linux guest, kept for every parameter the caller's
 * command line does not set: a quiet serial console (on hosts whose KVM
 * emulates guest kernel code every character printed is emulated work);
 * on panic an immediate reboot by triple fault, which vmrun reports as a
 * failure (a clean guest stops through the debug-exit port or powers
 * off).  A guest kernel that is emulated, or restored from a snapshot,
 * misses its own deadlines by far; the RCU stall detector would then fill
 * the console with reports that cost emulated time and mean nothing.
 */
#define DEFAULT_CMDLINE	"console=ttyS0 reboot=t panic=-1 quiet " \
	"rcupdate.rcu_cpu_stall_suppress=1"

/*
 * Only where KVM runs guest kernel code through its instruction emulator
 * (--cpu-workarounds, vmrun(1)): noxsave and clearcpuid keep the kernel
 * away from instructions that such emulators cannot run (xsave,
 * cmpxchg16b, popcnt, ...).  Elsewhere they would cost the guest AVX,
 * POPCNT, BMI and the rest for nothing.
 */
#define WORKAROUND_CMDLINE "noxsave " \
	"clearcpuid=cx16,popcnt,rdrand,rdseed,fsgsbase,smap,smep,pcid," \
	"invpcid,movbe,avx,avx2,avx512f,bmi1,bmi2,pku,ospke,rdpid,umip"

/* Whether the command line sets the parameter named by param's key. */
static bool
cmdline_sets(const char *line, const char *param, size_t plen)
{
	size_t klen = strcspn(param, "=");

	if (klen > plen)
		klen = plen;
	for (const char *p = line; *p != '\0'; p += strcspn(p, " ")) {
		p += strspn(p, " ");
		if (strncmp(p, param, klen) == 0 &&
		    (p[klen] == '=' || p[klen] == ' ' || p[klen] == '\0'))
			return true;
	}
	return false;
}

/* The defaults in d the caller's line does not override, after n bytes. */
static size_t
cmdline_defaults(const char *user, const char *d, char *buf, size_t size,
    size_t n)
{
	while (*d != '\0' && n < size) {
		size_t len = strcspn(d, " ");

		if (!cmdline_sets(user, d, len))
			n += (size_t)snprintf(buf + n, size - n, "%s%.*s",
			    n ? " " : "", (int)len, d);
		d += len + strspn(d + len, " ");
	}
	return n;
}

/* The defaults the caller's line does not override, then that line. */
static size_t
cmdline_base(const struct vm_config *cfg, char *buf, size_t size)
{
	const char *user = cfg->cmdline ? cfg->cmdline : "";
	size_t n = cmdline_defaults(user, DEFAULT_CMDLINE, buf, size, 0);

	if (cfg->cmdline_workarounds)
		n = cmdline_defaults(user, WORKAROUND_CMDLINE, buf, size, n);
	else if (cfg->cmdline_noxsave)
		n = cmdline_defaults(user, "noxsave", buf, size, n);
	if (*user != '\0' && n < size)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? " " : "",
		    user);
	return n;
}

/* snapvm.net= for the guest's init (rootfs/README), unless the caller's
 * line has its own. */
static size_t
cmdline_net(const struct vm_config *cfg, char *buf, size_t size, size_t n)
{
	char na[NETADDR_LEN];

	if (cfg->net_addr.prefix == 0 || cmdline_sets(buf, "snapvm.net", 10))
		return n;
	netaddr_format(&cfg->net_addr, na);
	return n + (size_t)snprintf(buf + n, size - n, "%ssnapvm.net=%s",
	    n ? " " : "", na);
}

/* One virtio_mmio.device= per slot, for the kernel to probe. */
static size_t
cmdline_mmio(const struct vm_config *cfg, char *buf, size_t size, size_t n)
{
	struct vm_dev_place place[VM_MAX_DEVS];
	int ndev = vmconf_layout(cfg, place);

	for (int i = 0; i < ndev && n < size; i++)
		if (place[i].slot >= 0)
			n += (size_t)snprintf(buf + n, size - n,
			    "%svirtio_mmio.device=%uK@%#llx:%u", n ? " " : "",
			    place[i].len >> 10,
			    (unsigned long long)place[i].base, place[i].irq);
	return n;
}

int
vmconf_cmdline(const struct vm_config *cfg, char *buf, size_t size)
{
	size_t n = cmdline_base(cfg, buf, size);

	if (cfg->append != NULL && n < size)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? " " : "",
		    cfg->append);
	if (cfg->rootfs && !cmdline_sets(buf, "root", 4) && n < size)
		n += (size_t)snprintf(buf + n, size - n, "%sroot=/dev/vda %s",
		    n ? " " : "", cfg->drive[0].read_only ? "ro" : "rw");
	if (n < size)
		n = cmdline_net(cfg, buf, size, n);
	if (n < size)
		n = cmdline_mmio(cfg, buf, size, n);
	if (n >= size) {
		log_warnx("command line is %zu bytes, the limit is %zu", n,
		    size - 1);
		errno = E2BIG;
		return -1;
	}
	return 0;
}

