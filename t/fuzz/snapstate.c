/*
 * A snapshot's state file, as a layer from a shared store brings it:
 * loaded with snapstate_load(), its device sections put back the way
 * restore.c's load_devices() does (drives as many as the file has, then
 * vsock, then net), then the restored devices run: queues looked at as
 * after a restore, and the guest reading the UART.  The vCPU and
 * interrupt controller sections go to KVM, which is not here: they are
 * checked as restore.c checks them before KVM sees them (snap_kvm_check,
 * with CPUID sections where the file has any), and the devices are
 * loaded whatever the answer, so that seeds of devices alone still reach
 * them.
 *
 * When restore.c checks sections before loading them, call the same
 * checks here first, so the fuzzer finds what they let through.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"
#include "snap_kvm.h"
#include "snapstate.h"
#include "vm.h"

#define DRIVES		VM_MAX_DRIVES
#define MEM_MIB		128		/* as the seeds' snapshots */

static struct mem m;
static struct evloop loop;
static struct serial com1;
static struct vm_blk blk[DRIVES];
static struct virtio_vsock vsock;
static struct virtio_mmio vsock_t, net_t;
static struct virtio_net net;
static int state_fd = -1, nblk;
static char state_path[64];

static void
setup(void)
{
	static const uint8_t mac[6] = { 0x02, 0x53, 0, 0, 0, 3 };
	static char drive[DRIVES][64];
	char path[100];
	int sv[2];

	fz_init();
	if (fz_mem_create(&m, MEM_MIB) == -1 || evloop_init(&loop) == -1 ||
	    serial_init(&com1, -1, -1, NULL, NULL) == -1 ||
	    (state_fd = memfd_create("fuzz-state", MFD_CLOEXEC)) == -1)
		abort();
	snprintf(state_path, sizeof(state_path), "/proc/self/fd/%d", state_fd);
	for (int i = 0; i < DRIVES; i++) {
		int fd = memfd_create("fuzz-drive", MFD_CLOEXEC);

		snprintf(drive[i], sizeof(drive[i]), "/proc/self/fd/%d", fd);
		if (fd == -1 || ftruncate(fd, 65536) == -1 ||
		    virtio_blk_open(&blk[i].blk, drive[i], i == 0, "fuzz") == -1 ||
		    virtio_mmio_init(&blk[i].mmio, &virtio_blk_ops, &blk[i].blk,
		    NULL, &m, 0, 0, &loop) == -1)
			abort();
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/v.sock", fz_dir());
	if (virtio_mmio_init(&vsock_t, &virtio_vsock_ops, &vsock, NULL, &m, 0, 0,
	    &loop) == -1 || virtio_vsock_init(&vsock, 3, path, &loop,
	    &vsock_t) == -1 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    virtio_mmio_init(&net_t, &virtio_net_ops, &net, NULL, &m, 0, 0,
	    &loop) == -1 ||
	    virtio_net_init(&net, sv[0], "fuzz0", mac, &loop, &net_t) == -1)
		abort();
	close(sv[1]);
}

/* Each device's section through its own load function, in the order and
 * with the checks of restore.c's load_devices(). */
static bool
load_blk(const struct snapstate *st, uint32_t i)
{
	const struct virtio_blk_state *bs = snapstate_get(st, SEC_BLK, i,
	    sizeof(*bs));
	const struct virtio_mmio_state *ms = snapstate_get(st, SEC_MMIO, i,
	    sizeof(*ms));

	return bs != NULL && ms != NULL && virtio_blk_load(&blk[i].blk,
	    &blk[i].mmio, bs, ms, st->path, i) == 0;
}

static bool
load_vsock(const struct snapstate *st, uint32_t slot)
{
	const struct virtio_mmio_state *ms = snapstate_get(st, SEC_MMIO, slot,
	    sizeof(*ms));
	const struct virtio_vsock_state *vs = snapstate_get(st, SEC_VSOCK, 0,
	    sizeof(*vs));

	return ms != NULL && vs != NULL &&
	    virtio_mmio_load(&vsock_t, ms, st->path, slot) == 0 &&
	    virtio_vsock_load(&vsock, vs, st->path) == 0;
}

static bool
load_net(const struct snapstate *st, uint32_t slot)
{
	const struct virtio_mmio_state *ms = snapstate_get(st, SEC_MMIO, slot,
	    sizeof(*ms));
	const struct virtio_net_state *ns = snapstate_get(st, SEC_NET, 0,
	    sizeof(*ns));
	uint32_t tap_size;
	const void *tap = snapstate_find(st, SEC_NET_TAP, 0, &tap_size);

	return ms != NULL && ns != NULL &&
	    virtio_net_tap_check(tap, tap != NULL ? tap_size : 0,
	    st->path) == 0 &&
	    virtio_net_load(&net, ns, ms, st->path, slot) == 0;
}

static bool
load(const struct snapstate *st)
{
	const struct serial_state *ss = snapstate_get(st, SEC_SERIAL, 0,
	    sizeof(*ss));
	uint32_t size, slot;

	if (ss == NULL || serial_load(&com1, ss, st->path) == -1)
		return false;
	for (nblk = 0; nblk < DRIVES &&
	    snapstate_find(st, SEC_BLK, (uint32_t)nblk, &size) != NULL; nblk++)
		if (!load_blk(st, (uint32_t)nblk))
			return false;
	slot = (uint32_t)nblk;
	if (snapstate_find(st, SEC_VSOCK, 0, &size) != NULL &&
	    !load_vsock(st, slot++))
		return false;
	return snapstate_find(st, SEC_NET, 0, &size) == NULL ||
	    load_net(st, slot);
}

/* The guest reads every UART register, more times than the FIFO holds. */
static void
read_uart(void)
{
	uint8_t v;

	for (int i = 0; i < SERIAL_FIFO + 4; i++)
		for (unsigned reg = 0; reg < SERIAL_NPORTS; reg++)
			serial_io(&com1, reg, &v, 1, false);
}

/* Guest memory is not in the state file: here the rings agree with the
 * queue indices of the snapshot, as a guest that was idle leaves them. */
static void
prime(struct virtio_mmio *t)
{
	for (int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		const struct virtq_state *q = &t->s.q[i];

		if (!q->ready)
			continue;
		mem_write(&m, q->avail + 2, &q->last_avail, 2);
		mem_write(&m, q->used + 2, &q->next_used, 2);
	}
	virtio_mmio_restored(t);
}

static void
run(void)
{
	for (int i = 0; i < nblk; i++)
		prime(&blk[i].mmio);
	prime(&vsock_t);
	virtio_vsock_transport_reset(&vsock);
	prime(&net_t);
	fz_loop_run(&loop);
	read_uart();
}

static void
reset(void)
{
	uint32_t zero = 0;

	for (int i = 0; i < DRIVES; i++)
		virtio_mmio_io(&blk[i].mmio, 0x70, (uint8_t *)&zero, 4, true);
	virtio_mmio_io(&vsock_t, 0x70, (uint8_t *)&zero, 4, true);
	virtio_mmio_io(&net_t, 0x70, (uint8_t *)&zero, 4, true);
	fz_loop_run(&loop);
	memset(&com1.s, 0, sizeof(com1.s));
	fz_mem_clean(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapstate st;

	if (state_fd == -1)
		setup();
	if (ftruncate(state_fd, 0) == -1 ||
	    pwrite(state_fd, data, size, 0) != (ssize_t)size)
		abort();
	if (snapstate_load(&st, state_path) == -1)
		return 0;
	(void)snap_kvm_check(&st, snapstate_count(&st, SEC_REGS) > 1 ? 2 : 1,
	    snapstate_count(&st, SEC_CPUID) != 0);
	if (load(&st))
		run();
	snapstate_free(&st);
	reset();
	return 0;
}
