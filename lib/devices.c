/*
 * The device table.  Its order is the order of creation, of MMIO
 * addresses and IRQs, and (later) of snapshot sections:
 *   COM1, i8042, debug exit, then one virtio-mmio block device per drive
 *   at VM_MMIO_BASE + 4 KiB * i, IRQ VM_MMIO_IRQ0 + i, then the vsock
 *   device in the next slot, then the network device in the next.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tuntap.h"
#include "vm.h"

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

static void
vm_serial_irq(void *opaque, int level)
{
	struct vm *vm = opaque;

	kvm_irq_line(&vm->kvm, SERIAL_COM1_IRQ, level);
}

static void
vm_reset(void *opaque)
{
	vm_stop(opaque, VM_STOP_RESET, 0);
}

static void
vm_debug_exit(void *opaque, int status)
{
	vm_stop(opaque, VM_STOP_EXIT, status);
}

static void
vm_ckpt_reached(void *opaque, uint32_t point)
{
	vm_checkpoint(opaque, point);
}

static int
devices_legacy(struct vm *vm)
{
	if (serial_init(&vm->com1, vm->console_fd, vm->console_in_fd,
	    vm_serial_irq, vm) == -1)
		return -1;
	i8042_init(&vm->kbd, vm_reset, vm);
	debugexit_init(&vm->dbg, vm_debug_exit, vm);
	ckpt_init(&vm->ckpt, vm_ckpt_reached, vm, vm->restores);
	if (bus_add(&vm->pio, "serial", SERIAL_COM1_BASE, SERIAL_NPORTS,
	    serial_io, &vm->com1) == -1 ||
	    bus_add(&vm->pio, "i8042", I8042_BASE, I8042_NPORTS, i8042_io,
	    &vm->kbd) == -1 ||
	    bus_add(&vm->pio, "debugexit", DEBUGEXIT_PORT, DEBUGEXIT_LEN,
	    debugexit_io, &vm->dbg) == -1 ||
	    bus_add(&vm->pio, "checkpoint", CKPT_PORT, CKPT_LEN, ckpt_io,
	    &vm->ckpt) == -1)
		return -1;
	return 0;
}

static uint64_t
mmio_base(int i)
{
	return VM_MMIO_BASE + (uint64_t)i * VIRTIO_MMIO_SIZE;
}

static int
devices_drive(struct vm *vm, const struct vm_drive *d, int i)
{
	struct vm_blk *b = &vm->blk[i];
	char id[VIRTIO_BLK_ID_BYTES + 1];

	snprintf(id, sizeof(id), "snapvm-vd%c", 'a' + i);
	if (virtio_blk_open(&b->blk, d->path, d->read_only, id) == -1)
		return -1;
	b->open = true;
	vm->nblk = i + 1;
	if (virtio_mmio_init(&b->mmio, &virtio_blk_ops, &b->blk, &vm->kvm,
	    &vm->mem, mmio_base(i), VM_MMIO_IRQ0 + (uint32_t)i, &vm->loop) == -1)
		return -1;
	b->transport = true;
	return bus_add(&vm->mmio, d->path, mmio_base(i), VIRTIO_MMIO_SIZE,
	    virtio_mmio_io, &b->mmio);
}

static int
devices_vsock(struct vm *vm, const struct vm_config *cfg, int slot)
{
	if (virtio_mmio_init(&vm->vsock_mmio, &virtio_vsock_ops, &vm->vsock,
	    &vm->kvm, &vm->mem, mmio_base(slot), VM_MMIO_IRQ0 + (uint32_t)slot,
	    &vm->loop) == -1)
		return -1;
	vm->has_vsock = true;
	if (virtio_vsock_init(&vm->vsock, cfg->cid, cfg->vsock, &vm->loop,
	    &vm->vsock_mmio) == -1)
		return -1;
	return bus_add(&vm->mmio, "vsock", mmio_base(slot), VIRTIO_MMIO_SIZE,
	    virtio_mmio_io, &vm->vsock_mmio);
}

static int
devices_net(struct vm *vm, const struct vm_config *cfg, int slot)
{
	uint8_t mac[6];
	int fd = tuntap_open(cfg->net.tap);

	if (fd == -1) {
		errno = ENOENT;	/* like a drive: an input that cannot be opened */
		return -1;
	}
	if (virtio_mmio_init(&vm->net_mmio, &virtio_net_ops, &vm->net, &vm->kvm,
	    &vm->mem, mmio_base(slot), VM_MMIO_IRQ0 + (uint32_t)slot,
	    &vm->loop) == -1) {
		close(fd);
		return -1;
	}
	vm->has_net = true;
	if (cfg->net.has_mac)
		memcpy(mac, cfg->net.mac, sizeof(mac));
	else
		virtio_net_default_mac(cfg->cid, mac);
	if (virtio_net_init(&vm->net, fd, cfg->net.tap, mac, &vm->loop,
	    &vm->net_mmio) == -1)
		return -1;
	return bus_add(&vm->mmio, cfg->net.tap, mmio_base(slot),
	    VIRTIO_MMIO_SIZE, virtio_mmio_io, &vm->net_mmio);
}

int
devices_create(struct vm *vm, const struct vm_config *cfg)
{
	if (devices_legacy(vm) == -1 || evloop_init(&vm->loop) == -1)
		return -1;
	for (int i = 0; i < cfg->ndrives; i++)
		if (devices_drive(vm, &cfg->drive[i], i) == -1)
			return -1;
	if (cfg->vsock != NULL && devices_vsock(vm, cfg, cfg->ndrives) == -1)
		return -1;
	if (cfg->net.tap != NULL &&
	    devices_net(vm, cfg, cfg->ndrives + (cfg->vsock != NULL)) == -1)
		return -1;
	return 0;
}

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

/*
 * The full command line: the defaults, the caller's --cmdline and
 * --append, then what the devices need.  Fails with E2BIG when it does
 * not fit.
 */
int
devices_cmdline(const struct vm_config *cfg, char *buf, size_t size)
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
		    (unsigned long long)mmio_base(i), VM_MMIO_IRQ0 + i);
	if (n >= size) {
		log_warnx("command line is %zu bytes, the limit is %zu", n,
		    size - 1);
		errno = E2BIG;
		return -1;
	}
	return 0;
}

void
devices_destroy(struct vm *vm)
{
	for (int i = 0; i < vm->nblk; i++) {
		if (vm->blk[i].transport)
			virtio_mmio_destroy(&vm->blk[i].mmio);
		if (vm->blk[i].open)
			virtio_blk_close(&vm->blk[i].blk);
	}
	vm->nblk = 0;
	if (vm->has_vsock) {
		virtio_vsock_close(&vm->vsock);
		virtio_mmio_destroy(&vm->vsock_mmio);
	}
	vm->has_vsock = false;
	if (vm->has_net) {
		virtio_net_close(&vm->net);
		virtio_mmio_destroy(&vm->net_mmio);
	}
	vm->has_net = false;
	evloop_destroy(&vm->loop);
	serial_destroy(&vm->com1);
}
