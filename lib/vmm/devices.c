/*
 * The device table.  vmconf_layout() says which devices a machine has and
 * where; this file makes each one, enters it in vm->dev with the ops of
 * its kind, and runs the per-device steps of the VMM as loops over the
 * table, so that a new device is one layout line, one create function
 * and one ops entry.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"
#include "log.h"
#include "tuntap.h"

/* The state struct of each kind's own section (sec of its place). */
static const uint32_t devices_sec_size[VM_DEV_KINDS] = {
	[VM_DEV_SERIAL] = sizeof(struct serial_state),
	[VM_DEV_BLK] = sizeof(struct virtio_blk_state),
	[VM_DEV_VSOCK] = sizeof(struct virtio_vsock_state),
	[VM_DEV_NET] = sizeof(struct virtio_net_state),
};

/* The transport of a virtio device. */
static struct virtio_mmio *
devices_mmio(struct vm *vm, const struct vm_dev *d)
{
	switch (d->at.kind) {
	case VM_DEV_BLK:
		return &vm->blk[d->at.index].mmio;
	case VM_DEV_VSOCK:
		return &vm->vsock_mmio;
	case VM_DEV_NET:
		return &vm->net_mmio;
	default:
		return NULL;
	}
}

/* ---- COM1 ---- */

static void
serial_dev_irq(void *opaque, int level)
{
	struct vm *vm = opaque;

	kvm_irq_line(&vm->kvm, SERIAL_COM1_IRQ, level);
}

static void
serial_dev_save(struct vm *vm, const struct vm_dev *d, struct snapbuf *b)
{
	snapbuf_add(b, d->at.sec, d->at.index, &vm->com1.s, sizeof(vm->com1.s));
}

static int
serial_dev_load(struct vm *vm, const struct vm_dev *d,
    const struct snapstate *st)
{
	const struct serial_state *s = snapstate_get(st, d->at.sec, d->at.index,
	    sizeof(*s));

	return s == NULL ? -1 : serial_load(&vm->com1, s, st->path);
}

static pthread_mutex_t *
serial_dev_lock(struct vm *vm, const struct vm_dev *d)
{
	(void)d;
	return &vm->com1.lock;
}

static void
serial_dev_destroy(struct vm *vm, const struct vm_dev *d)
{
	(void)d;
	serial_destroy(&vm->com1);
}

/* ---- the virtio devices: transport section first, then their own ---- */

static void
virtio_dev_save(struct vm *vm, const struct vm_dev *d, struct snapbuf *b,
    const void *own, uint32_t size)
{
	const struct virtio_mmio *t = devices_mmio(vm, d);

	snapbuf_add(b, SEC_MMIO, (uint32_t)d->at.slot, &t->s, sizeof(t->s));
	snapbuf_add(b, d->at.sec, d->at.index, own, size);
}

static const struct virtio_mmio_state *
virtio_dev_mmio_state(const struct vm_dev *d, const struct snapstate *st)
{
	return snapstate_get(st, SEC_MMIO, (uint32_t)d->at.slot,
	    sizeof(struct virtio_mmio_state));
}

static void
virtio_dev_restored(struct vm *vm, const struct vm_dev *d)
{
	virtio_mmio_restored(devices_mmio(vm, d));
}

static pthread_mutex_t *
virtio_dev_lock(struct vm *vm, const struct vm_dev *d)
{
	return &devices_mmio(vm, d)->lock;
}

static void
blk_dev_save(struct vm *vm, const struct vm_dev *d, struct snapbuf *b)
{
	const struct virtio_blk *blk = &vm->blk[d->at.index].blk;

	virtio_dev_save(vm, d, b, &blk->s, sizeof(blk->s));
}

static int
blk_dev_load(struct vm *vm, const struct vm_dev *d, const struct snapstate *st)
{
	struct vm_blk *b = &vm->blk[d->at.index];
	const struct virtio_blk_state *s = snapstate_get(st, d->at.sec,
	    d->at.index, sizeof(*s));
	const struct virtio_mmio_state *ms = virtio_dev_mmio_state(d, st);

	if (s == NULL || ms == NULL)
		return -1;
	return virtio_blk_load(&b->blk, &b->mmio, s, ms, st->path,
	    (uint32_t)d->at.slot);
}

static void
blk_dev_destroy(struct vm *vm, const struct vm_dev *d)
{
	struct vm_blk *b = &vm->blk[d->at.index];

	if (b->transport)
		virtio_mmio_destroy(&b->mmio);
	if (b->open)
		virtio_blk_close(&b->blk);
	b->transport = b->open = false;
}

static void
vsock_dev_save(struct vm *vm, const struct vm_dev *d, struct snapbuf *b)
{
	virtio_dev_save(vm, d, b, &vm->vsock.s, sizeof(vm->vsock.s));
}

static int
vsock_dev_load(struct vm *vm, const struct vm_dev *d,
    const struct snapstate *st)
{
	const struct virtio_vsock_state *s = snapstate_get(st, d->at.sec,
	    d->at.index, sizeof(*s));
	const struct virtio_mmio_state *ms = virtio_dev_mmio_state(d, st);

	if (s == NULL || ms == NULL)
		return -1;
	if (virtio_mmio_load(&vm->vsock_mmio, ms, st->path,
	    (uint32_t)d->at.slot) == -1)
		return -1;
	return virtio_vsock_load(&vm->vsock, s, st->path);
}

/* The guest's connections ended with the process that took the snapshot;
 * its listening sockets survive the reset. */
static void
vsock_dev_restored(struct vm *vm, const struct vm_dev *d)
{
	virtio_dev_restored(vm, d);
	virtio_vsock_transport_reset(&vm->vsock);
}

static void
vsock_dev_destroy(struct vm *vm, const struct vm_dev *d)
{
	(void)d;
	if (!vm->has_vsock)
		return;		/* its transport was never made */
	virtio_vsock_close(&vm->vsock);
	virtio_mmio_destroy(&vm->vsock_mmio);
	vm->has_vsock = false;
}

/* The tap's name goes with the device, to be quoted when a restore is
 * given none (its value is never used: the tap is the caller's). */
static void
net_dev_save(struct vm *vm, const struct vm_dev *d, struct snapbuf *b)
{
	virtio_dev_save(vm, d, b, &vm->net.s, sizeof(vm->net.s));
	snapbuf_add(b, SEC_NET_TAP, d->at.index, vm->net.ifname,
	    sizeof(vm->net.ifname));
}

static int
net_dev_load(struct vm *vm, const struct vm_dev *d, const struct snapstate *st)
{
	const struct virtio_net_state *s = snapstate_get(st, d->at.sec,
	    d->at.index, sizeof(*s));
	const struct virtio_mmio_state *ms = virtio_dev_mmio_state(d, st);
	uint32_t tap_size;
	const void *tap = snapstate_find(st, SEC_NET_TAP, d->at.index,
	    &tap_size);

	if (s == NULL || ms == NULL)
		return -1;
	if (virtio_net_tap_check(tap, tap != NULL ? tap_size : 0,
	    st->path) == -1)
		return -1;
	return virtio_net_load(&vm->net, s, ms, st->path, (uint32_t)d->at.slot);
}

static void
net_dev_destroy(struct vm *vm, const struct vm_dev *d)
{
	(void)d;
	if (!vm->has_net)
		return;
	virtio_net_close(&vm->net);
	virtio_mmio_destroy(&vm->net_mmio);
	vm->has_net = false;
}

/* The i8042, the debug-exit and the checkpoint ports have no state. */
static const struct vm_dev_ops devices_kind_ops[VM_DEV_KINDS] = {
	[VM_DEV_SERIAL] = { "serial", serial_dev_save, serial_dev_load, NULL,
	    serial_dev_lock, serial_dev_destroy },
	[VM_DEV_I8042] = { "i8042", NULL, NULL, NULL, NULL, NULL },
	[VM_DEV_DEBUGEXIT] = { "debugexit", NULL, NULL, NULL, NULL, NULL },
	[VM_DEV_CKPT] = { "checkpoint", NULL, NULL, NULL, NULL, NULL },
	[VM_DEV_BLK] = { "virtio-blk", blk_dev_save, blk_dev_load,
	    virtio_dev_restored, virtio_dev_lock, blk_dev_destroy },
	[VM_DEV_VSOCK] = { "virtio-vsock", vsock_dev_save, vsock_dev_load,
	    vsock_dev_restored, virtio_dev_lock, vsock_dev_destroy },
	[VM_DEV_NET] = { "virtio-net", net_dev_save, net_dev_load,
	    virtio_dev_restored, virtio_dev_lock, net_dev_destroy },
};

/* ---- creation: each device at its place, entered before it is made so
 * that a half-made one is destroyed too ---- */

static struct vm_dev *
devices_enter(struct vm *vm, const struct vm_dev_place *at)
{
	struct vm_dev *d = &vm->dev[vm->ndev++];

	d->at = *at;
	d->ops = &devices_kind_ops[at->kind];
	return d;
}

static int
devices_port(struct vm *vm, const struct vm_dev *d, bus_io_fn *io,
    void *dev)
{
	return bus_add(&vm->pio, d->ops->name, d->at.base, d->at.len, io, dev);
}

static int
devices_transport(struct vm *vm, const struct vm_dev *d,
    const struct virtio_dev_ops *ops, void *dev)
{
	return virtio_mmio_init(devices_mmio(vm, d), ops, dev, &vm->kvm,
	    &vm->mem, d->at.base, d->at.irq, &vm->loop);
}

static int
devices_legacy(struct vm *vm, const struct vm_dev *d,
    const struct devices_ops *ops)
{
	switch (d->at.kind) {
	case VM_DEV_SERIAL:
		if (serial_init(&vm->com1, vm->console_fd, vm->console_in_fd,
		    serial_dev_irq, vm) == -1)
			return -1;
		return devices_port(vm, d, serial_io, &vm->com1);
	case VM_DEV_I8042:
		i8042_init(&vm->kbd, ops->reset, vm);
		return devices_port(vm, d, i8042_io, &vm->kbd);
	case VM_DEV_DEBUGEXIT:
		debugexit_init(&vm->dbg, ops->exit, vm);
		return devices_port(vm, d, debugexit_io, &vm->dbg);
	default:
		ckpt_init(&vm->ckpt, ops->checkpoint, vm, vm->restores);
		return devices_port(vm, d, ckpt_io, &vm->ckpt);
	}
}

static int
devices_drive(struct vm *vm, const struct vm_dev *d,
    const struct vm_drive *drive)
{
	struct vm_blk *b = &vm->blk[d->at.index];
	char id[VIRTIO_BLK_ID_BYTES + 1];

	snprintf(id, sizeof(id), "snapvm-vd%c", 'a' + d->at.index);
	if (virtio_blk_open(&b->blk, drive->path, drive->read_only, id) == -1)
		return -1;
	b->open = true;
	vm->nblk = (int)d->at.index + 1;
	if (devices_transport(vm, d, &virtio_blk_ops, &b->blk) == -1)
		return -1;
	b->transport = true;
	return bus_add(&vm->mmio, drive->path, d->at.base, d->at.len,
	    virtio_mmio_io, &b->mmio);
}

static int
devices_vsock(struct vm *vm, const struct vm_dev *d,
    const struct vm_config *cfg)
{
	if (devices_transport(vm, d, &virtio_vsock_ops, &vm->vsock) == -1)
		return -1;
	vm->has_vsock = true;
	if (virtio_vsock_init(&vm->vsock, cfg->cid, cfg->vsock, &vm->loop,
	    &vm->vsock_mmio) == -1)
		return -1;
	return bus_add(&vm->mmio, "vsock", d->at.base, d->at.len,
	    virtio_mmio_io, &vm->vsock_mmio);
}

static int
devices_net(struct vm *vm, const struct vm_dev *d, const struct vm_config *cfg)
{
	uint8_t mac[6];
	int fd = tuntap_open(cfg->net.tap);

	if (fd == -1) {
		errno = ENOENT;	/* like a drive: an input that cannot be opened */
		return -1;
	}
	if (devices_transport(vm, d, &virtio_net_ops, &vm->net) == -1) {
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
	return bus_add(&vm->mmio, cfg->net.tap, d->at.base, d->at.len,
	    virtio_mmio_io, &vm->net_mmio);
}

static int
devices_make(struct vm *vm, const struct vm_dev *d,
    const struct vm_config *cfg, const struct devices_ops *ops)
{
	switch (d->at.kind) {
	case VM_DEV_BLK:
		return devices_drive(vm, d, &cfg->drive[d->at.index]);
	case VM_DEV_VSOCK:
		return devices_vsock(vm, d, cfg);
	case VM_DEV_NET:
		return devices_net(vm, d, cfg);
	default:
		return devices_legacy(vm, d, ops);
	}
}

int
devices_create(struct vm *vm, const struct vm_config *cfg,
    const struct devices_ops *ops)
{
	struct vm_dev_place place[VM_MAX_DEVS];
	int n = vmconf_layout(cfg, place);

	if (evloop_init(&vm->loop) == -1)
		return -1;
	for (int i = 0; i < n; i++)
		if (devices_make(vm, devices_enter(vm, &place[i]), cfg, ops) == -1)
			return -1;
	return 0;
}

void
devices_destroy(struct vm *vm)
{
	for (int i = vm->ndev - 1; i >= 0; i--)
		if (vm->dev[i].ops->destroy != NULL)
			vm->dev[i].ops->destroy(vm, &vm->dev[i]);
	vm->ndev = vm->nblk = 0;
	evloop_destroy(&vm->loop);
}

void
devices_save(struct vm *vm, struct snapbuf *b)
{
	for (int i = 0; i < vm->ndev; i++)
		if (vm->dev[i].ops->save != NULL)
			vm->dev[i].ops->save(vm, &vm->dev[i], b);
}

/* Every device loads before any is told it was restored: a restored
 * transport may look at its queues at once. */
int
devices_load(struct vm *vm, const struct snapstate *st)
{
	for (int i = 0; i < vm->ndev; i++)
		if (vm->dev[i].ops->load != NULL &&
		    vm->dev[i].ops->load(vm, &vm->dev[i], st) == -1)
			return -1;
	for (int i = 0; i < vm->ndev; i++)
		if (vm->dev[i].ops->restored != NULL)
			vm->dev[i].ops->restored(vm, &vm->dev[i]);
	return 0;
}

static int
devices_check_one(const struct vm_dev_place *at, const struct snapstate *st)
{
	if (at->slot >= 0 && snapstate_get(st, SEC_MMIO, (uint32_t)at->slot,
	    sizeof(struct virtio_mmio_state)) == NULL)
		return -1;
	if (at->sec != 0 && snapstate_get(st, at->sec, at->index,
	    devices_sec_size[at->kind]) == NULL)
		return -1;
	return 0;
}

/* The sections each device type may have: as many as the layout has. */
static const uint32_t devices_secs[] = {
	SEC_SERIAL, SEC_MMIO, SEC_BLK, SEC_VSOCK, SEC_NET,
};

int
devices_check_sections(const struct vm_config *cfg, const struct snapstate *st)
{
	struct vm_dev_place place[VM_MAX_DEVS];
	int n = vmconf_layout(cfg, place);
	uint32_t want;

	for (int i = 0; i < n; i++)
		if (devices_check_one(&place[i], st) == -1)
			return -1;
	for (size_t s = 0; s < sizeof(devices_secs) / sizeof(devices_secs[0]);
	    s++) {
		want = 0;
		for (int i = 0; i < n; i++)
			want += devices_secs[s] == SEC_MMIO ? place[i].slot >= 0 :
			    place[i].sec == devices_secs[s];
		if (snapstate_count(st, devices_secs[s]) != want) {
			log_warnx("%s: %u sections 0x%x (%s); the machine "
			    "has %u (%d drives%s%s)", st->path,
			    snapstate_count(st, devices_secs[s]), devices_secs[s],
			    snapstate_name(devices_secs[s]), want, cfg->ndrives,
			    cfg->vsock ? ", vsock" : "",
			    cfg->net.tap ? ", network" : "");
			return -1;
		}
	}
	return 0;
}

void
devices_lock(struct vm *vm)
{
	for (int i = 0; i < vm->ndev; i++)
		if (vm->dev[i].ops->lock != NULL)
			pthread_mutex_lock(vm->dev[i].ops->lock(vm, &vm->dev[i]));
}

void
devices_unlock(struct vm *vm)
{
	for (int i = vm->ndev - 1; i >= 0; i--)
		if (vm->dev[i].ops->lock != NULL)
			pthread_mutex_unlock(vm->dev[i].ops->lock(vm, &vm->dev[i]));
}
