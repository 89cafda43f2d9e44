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

#include "devices.h"
#include "log.h"
#include "tuntap.h"

static void
vm_serial_irq(void *opaque, int level)
{
	struct vm *vm = opaque;

	kvm_irq_line(&vm->kvm, SERIAL_COM1_IRQ, level);
}

static int
devices_legacy(struct vm *vm, const struct devices_ops *ops)
{
	if (serial_init(&vm->com1, vm->console_fd, vm->console_in_fd,
	    vm_serial_irq, vm) == -1)
		return -1;
	i8042_init(&vm->kbd, ops->reset, vm);
	debugexit_init(&vm->dbg, ops->exit, vm);
	ckpt_init(&vm->ckpt, ops->checkpoint, vm, vm->restores);
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
	    &vm->mem, vmconf_mmio_base(i), VM_MMIO_IRQ0 + (uint32_t)i,
	    &vm->loop) == -1)
		return -1;
	b->transport = true;
	return bus_add(&vm->mmio, d->path, vmconf_mmio_base(i),
	    VIRTIO_MMIO_SIZE, virtio_mmio_io, &b->mmio);
}

static int
devices_vsock(struct vm *vm, const struct vm_config *cfg, int slot)
{
	if (virtio_mmio_init(&vm->vsock_mmio, &virtio_vsock_ops, &vm->vsock,
	    &vm->kvm, &vm->mem, vmconf_mmio_base(slot),
	    VM_MMIO_IRQ0 + (uint32_t)slot, &vm->loop) == -1)
		return -1;
	vm->has_vsock = true;
	if (virtio_vsock_init(&vm->vsock, cfg->cid, cfg->vsock, &vm->loop,
	    &vm->vsock_mmio) == -1)
		return -1;
	return bus_add(&vm->mmio, "vsock", vmconf_mmio_base(slot),
	    VIRTIO_MMIO_SIZE, virtio_mmio_io, &vm->vsock_mmio);
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
	    &vm->mem, vmconf_mmio_base(slot), VM_MMIO_IRQ0 + (uint32_t)slot,
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
	return bus_add(&vm->mmio, cfg->net.tap, vmconf_mmio_base(slot),
	    VIRTIO_MMIO_SIZE, virtio_mmio_io, &vm->net_mmio);
}

int
devices_create(struct vm *vm, const struct vm_config *cfg,
    const struct devices_ops *ops)
{
	if (devices_legacy(vm, ops) == -1 || evloop_init(&vm->loop) == -1)
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
