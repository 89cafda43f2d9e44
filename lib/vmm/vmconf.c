/*
 * The kernel command line of a cold boot, from the config alone: a
 * restored guest has its own in memory.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "vmconf.h"

/*
 * Defaults for a Linux guest, kept for every parameter the caller's
 * command line does not set: a quiet serial console (on hosts whose KVM
 * emulates guest kernel code every character printed is emulated work);
 * on panic an immediate reboot by triple fault, which vmrun reports as a
 * failure (a clean guest stops through the debug-exit port or powers
 * off).  noxsave and clearcpuid keep the kernel away from instructions
 * that such emulators cannot run (xsave, cmpxchg16b, popcnt, ...); on
 * other hosts they cost a little speed and nothing else.  A guest kernel
 * that is emulated, or restored from a snapshot, misses its own deadlines
 * by far; the RCU stall detector would then fill the console with reports
 * that cost emulated time and mean nothing.
 */
#define DEFAULT_CMDLINE	"console=ttyS0 reboot=t panic=-1 quiet noxsave " \
	"rcupdate.rcu_cpu_stall_suppress=1 " \
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

/* The defaults the caller's line does not override, then that line. */
static size_t
cmdline_base(const struct vm_config *cfg, char *buf, size_t size)
{
	const char *user = cfg->cmdline ? cfg->cmdline : "", *d = DEFAULT_CMDLINE;
	size_t n = 0;

	while (*d != '\0' && n < size) {
		size_t len = strcspn(d, " ");

		if (!cmdline_sets(user, d, len))
			n += (size_t)snprintf(buf + n, size - n, "%s%.*s",
			    n ? " " : "", (int)len, d);
		d += len + strspn(d + len, " ");
	}
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
	for (int i = 0; i < cfg->ndrives + (cfg->vsock != NULL) +
	    (cfg->net.tap != NULL) && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n,
		    "%svirtio_mmio.device=4K@%#llx:%u", n ? " " : "",
		    (unsigned long long)vmconf_mmio_base(i), VM_MMIO_IRQ0 + i);
	if (n >= size) {
		log_warnx("command line is %zu bytes, the limit is %zu", n,
		    size - 1);
		errno = E2BIG;
		return -1;
	}
	return 0;
}

