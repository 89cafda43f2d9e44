/* Port-I/O devices, the bus and the device table, without KVM. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "ckpt.h"
#include "debugexit.h"
#include "devices.h"
#include "i8042.h"
#include "log.h"
#include "serial.h"
#include "unit.h"
#include "vm.h"

static int irq_level = -1, irq_changes;

static void
on_irq(void *opaque, int level)
{
	(void)opaque;
	irq_level = level;
	irq_changes++;
}

static uint8_t
rd(struct serial *u, unsigned reg)
{
	uint8_t v;

	serial_io(u, reg, &v, 1, false);
	return v;
}

static void
wr(struct serial *u, unsigned reg, uint8_t v)
{
	serial_io(u, reg, &v, 1, true);
}

static void
test_serial_output(void)
{
	struct serial u;
	int p[2];
	char out[8] = "";

	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(serial_init(&u, p[1], -1, on_irq, NULL), 0);
	CHECK_EQ(rd(&u, 5) & 0x60, 0x60);		/* THRE and TEMT */
	wr(&u, 0, 'o');
	wr(&u, 0, 'k');
	CHECK_EQ(read(p[0], out, sizeof(out)), 2);
	CHECK(memcmp(out, "ok", 2) == 0);
	wr(&u, 3, 0x80);				/* DLAB: divisor latch */
	wr(&u, 0, 0x01);
	wr(&u, 1, 0x02);
	CHECK_EQ(rd(&u, 0), 0x01);
	CHECK_EQ(rd(&u, 1), 0x02);
	wr(&u, 3, 0x03);
	wr(&u, 7, 0x5a);
	CHECK_EQ(rd(&u, 7), 0x5a);
	serial_destroy(&u);
	close(p[0]);
	close(p[1]);
}

static void
test_serial_thre_irq(void)
{
	struct serial u;

	irq_level = -1;
	CHECK_EQ(serial_init(&u, -1, -1, on_irq, NULL), 0);
	CHECK_EQ(rd(&u, 2) & 0x0f, 0x01);		/* nothing pending */
	wr(&u, 1, 0x02);				/* enable THRE irq */
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(rd(&u, 2) & 0x0f, 0x02);		/* reading acks it */
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(rd(&u, 2) & 0x0f, 0x01);
	wr(&u, 0, 'x');					/* THR empties again */
	CHECK_EQ(irq_level, 1);
	wr(&u, 1, 0);
	CHECK_EQ(irq_level, 0);
	serial_destroy(&u);
}

static void
test_serial_loopback(void)
{
	struct serial u;

	irq_level = -1;
	CHECK_EQ(serial_init(&u, -1, -1, on_irq, NULL), 0);
	wr(&u, 2, 0x01);				/* FIFO on */
	CHECK_EQ(rd(&u, 2) & 0xc0, 0xc0);
	wr(&u, 4, 0x10 | 0x0a);				/* loop, RTS, OUT2 */
	CHECK_EQ(rd(&u, 6) & 0xf0, 0x90);		/* CTS, DCD */
	wr(&u, 1, 0x01);				/* rx irq */
	for (int i = 0; i < 20; i++)			/* overrun past 16 */
		wr(&u, 0, (uint8_t)('a' + i));
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(rd(&u, 5) & 1, 1);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(rd(&u, 0), 'a' + i);
	CHECK_EQ(rd(&u, 5) & 1, 0);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(rd(&u, 0), 0);				/* empty reads 0 */
	serial_destroy(&u);
}

/* serial_load with warnings on: its result, the first line it logged. */
static char logged[512];

static int
load_logged(struct serial *u, const struct serial_state *s)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO), rc;
	size_t n;

	fflush(stderr);
	dup2(fileno(f), STDERR_FILENO);
	log_init(NULL, LOG_WARN);
	rc = serial_load(u, s, "layer/state");
	fflush(stderr);
	log_init(NULL, LOG_QUIET);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(logged, 1, sizeof(logged) - 1, f);
	logged[n] = '\0';
	logged[strcspn(logged, "\n")] = '\0';
	fclose(f);
	return rc;
}

static void
refused(struct serial *u, const struct serial_state *s, const char *field)
{
	struct serial_state before = u->s;

	CHECK_EQ(load_logged(u, s), -1);
	CHECK(memcmp(&u->s, &before, sizeof(before)) == 0);
	if (strstr(logged, "layer/state: section serial: ") == NULL ||
	    strstr(logged, field) == NULL) {
		unit_failed++;
		printf("#   no \"%s\" in \"%s\"\n", field, logged);
	}
}

/*
 * A snapshot's UART, field by field: what no guest could have left is
 * refused.  rx_head past the FIFO made the data register read host heap
 * (issue 14, defect 5).
 */
static void
test_serial_load(void)
{
	struct serial u, v;
	struct serial_state good, s;

	irq_level = -1;
	CHECK_EQ(serial_init(&u, -1, -1, on_irq, NULL), 0);
	CHECK_EQ(serial_init(&v, -1, -1, NULL, NULL), 0);
	wr(&u, 2, 0x01);
	wr(&u, 4, 0x10);				/* loopback */
	wr(&u, 1, 0x01);
	for (int i = 0; i < 20; i++)			/* wraps the FIFO */
		wr(&u, 0, (uint8_t)('a' + i));
	for (int i = 0; i < 10; i++)
		rd(&u, 0);
	wr(&u, 0, 'x');
	good = u.s;
	CHECK_EQ(load_logged(&v, &good), 0);
	CHECK(memcmp(&v.s, &good, sizeof(good)) == 0);
	for (int i = 10; i < 16; i++)
		CHECK_EQ(rd(&v, 0), 'a' + i);
	CHECK_EQ(rd(&v, 0), 'x');

	s = good; s.rx_head = 200;
	refused(&v, &s, "rx_head 200");
	s = good; s.rx_head = SERIAL_FIFO;
	refused(&v, &s, "rx_head 16");
	s = good; s.rx_count = SERIAL_FIFO + 1;
	refused(&v, &s, "rx_count 17");
	s = good; s.ier = 0x10;
	refused(&v, &s, "ier 0x10");
	s = good; s.fcr = 0x02;
	refused(&v, &s, "fcr 0x2");
	s = good; s.mcr = 0x20;
	refused(&v, &s, "mcr 0x20");
	s = good; s.lsr = 0x61;
	refused(&v, &s, "lsr 0x61");
	s = good; s.msr = 0;
	refused(&v, &s, "msr 0");
	s = good; s.thr_irq = 2;
	refused(&v, &s, "thr_irq 2");
	s = good; s.irq_level = !good.irq_level;
	refused(&v, &s, "irq_level");
	s = good; s.pad[0] = 1;
	refused(&v, &s, "pad");
	s = good;					/* any divisor, scratch */
	s.dll = 0xff;
	s.dlm = 0xee;
	s.scr = 0x5a;
	s.lcr = 0x83;
	CHECK_EQ(load_logged(&v, &s), 0);
	CHECK_EQ(rd(&v, 0), 0xff);			/* DLAB: dll */
	serial_destroy(&u);
	serial_destroy(&v);
}

static int exit_status = -1, resets;

static void on_exit_port(void *o, int status) { (void)o; exit_status = status; }
static void on_reset(void *o) { (void)o; resets++; }
static void nop_io(void *o, uint64_t off, uint8_t *d, uint32_t len, bool w)
{ (void)o; (void)off; (void)d; (void)len; (void)w; }

static void
test_bus_and_ports(void)
{
	struct bus b = { .n = 0 };
	struct debugexit d;
	struct i8042 k;
	uint8_t v[4] = { 0 };
	uint32_t wide = 0x1234;

	debugexit_init(&d, on_exit_port, NULL);
	i8042_init(&k, on_reset, NULL);
	CHECK_EQ(bus_add(&b, "dbg", DEBUGEXIT_PORT, DEBUGEXIT_LEN, debugexit_io,
	    &d), 0);
	CHECK_EQ(bus_add(&b, "kbd", I8042_BASE, I8042_NPORTS, i8042_io, &k), 0);
	CHECK_EQ(bus_add(&b, "clash", 0x62, 1, nop_io, NULL), -1);
	CHECK_EQ(bus_add(&b, "empty", 0x900, 0, nop_io, NULL), -1);
	CHECK_EQ(bus_add(&b, "wrap", ~0ULL, 2, nop_io, NULL), -1);
	CHECK(!bus_access(&b, 0x1234, v, 2, false));
	CHECK_EQ(v[0], 0xff);
	CHECK_EQ(v[1], 0xff);
	CHECK(bus_access(&b, DEBUGEXIT_PORT, (uint8_t *)&wide, 4, true));
	CHECK_EQ(exit_status, 0x34);
	CHECK(!bus_access(&b, DEBUGEXIT_PORT + 2, v, 4, true)); /* runs past */
	v[0] = 0xfe;
	CHECK(bus_access(&b, 0x64, v, 1, true));
	CHECK_EQ(resets, 1);
	CHECK(bus_access(&b, 0x64, v, 1, false));
	CHECK_EQ(v[0], 0);				/* nothing to read */
}

static struct vm table_vm;
static void *table_opaque;
static int table_resets, table_exit = -1;
static uint32_t table_point;

static void
table_reset(void *o)
{
	table_opaque = o;
	table_resets++;
}

static void
table_exit_fn(void *o, int status)
{
	table_opaque = o;
	table_exit = status;
}

static void
table_ckpt(void *o, uint32_t point)
{
	table_opaque = o;
	table_point = point;
}

/* The legacy ports of the device table end the VM or report a checkpoint
 * through the caller's ops, with the VM as opaque pointer; no KVM. */
static void
test_table_ops(void)
{
	const struct devices_ops ops = { table_reset, table_exit_fn,
	    table_ckpt };
	const struct vm_config cfg = { .vcpus = 1 };
	struct vm *vm = &table_vm;
	uint32_t v = 0x1ff;

	vm_clear(vm);
	vm->restores = 3;
	CHECK_EQ(devices_create(vm, &cfg, &ops), 0);
	CHECK(bus_access(&vm->pio, DEBUGEXIT_PORT, (uint8_t *)&v, 4, true));
	CHECK_EQ(table_exit, 0xff);
	CHECK(table_opaque == vm);
	table_opaque = NULL;
	v = 0xfe;
	CHECK(bus_access(&vm->pio, I8042_BASE + 4, (uint8_t *)&v, 1, true));
	CHECK_EQ(table_resets, 1);
	CHECK(table_opaque == vm);
	table_opaque = NULL;
	v = CKPT_APP;
	CHECK(bus_access(&vm->pio, CKPT_PORT, (uint8_t *)&v, 4, true));
	CHECK_EQ(table_point, CKPT_APP);
	CHECK(table_opaque == vm);
	CHECK(bus_access(&vm->pio, CKPT_PORT, (uint8_t *)&v, 4, false));
	CHECK_EQ(v, 3);				/* the restore count */
	vm_destroy(vm);				/* with its devices */
}

/* A machine of two drives and vsock, made in dir: the table without KVM. */
static void
rt_config(struct vm_config *cfg, char *dir, char paths[3][64])
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->vcpus = 1;
	cfg->cid = 9;
	for (int i = 0; i < 2; i++) {
		int fd;

		snprintf(paths[i], 64, "%s/d%d", dir, i);
		fd = open(paths[i], O_RDWR | O_CREAT | O_TRUNC, 0600);
		CHECK(fd != -1 && ftruncate(fd, 4096 * (i + 1)) == 0);
		close(fd);
		cfg->drive[i].path = paths[i];
		cfg->drive[i].read_only = i == 0;
	}
	cfg->ndrives = 2;
	snprintf(paths[2], 64, "%s/v.sock", dir);
	cfg->vsock = paths[2];
}

static void
rt_make(struct vm *vm, const struct vm_config *cfg)
{
	const struct devices_ops ops = { table_reset, table_exit_fn,
	    table_ckpt };

	vm_clear(vm);
	CHECK_EQ(mem_create(&vm->mem, 16), 0);
	CHECK_EQ(devices_create(vm, cfg, &ops), 0);
}

static void
rt_free(struct vm *vm)
{
	devices_destroy(vm);
	mem_destroy(&vm->mem);
}

/* What a guest driver leaves behind: state in every device that has any. */
static void
rt_touch(struct vm *vm)
{
	uint8_t v = 0x5a;
	uint32_t st = 3;	/* ACKNOWLEDGE | DRIVER */

	CHECK(bus_access(&vm->pio, SERIAL_COM1_BASE + 7, &v, 1, true));
	for (int i = 0; i < vm->ndev; i++)
		if (vm->dev[i].at.slot >= 0)
			CHECK(bus_access(&vm->mmio, vm->dev[i].at.base + 0x70,
			    (uint8_t *)&st, 4, true));
}

/* Every device in the table saves its sections and loads them into a
 * fresh machine, which saves the very same bytes; the table places them
 * where the layout says and a pause's locks cover every device. */
static void
test_table_round_trip(void)
{
	static struct vm a, b;
	char dir[] = "/tmp/devtab.XXXXXX", paths[3][64];
	struct vm_config cfg;
	struct snapbuf sa, sb;
	struct snapstate st;
	uint8_t *copy;

	CHECK(mkdtemp(dir) != NULL);
	rt_config(&cfg, dir, paths);
	rt_make(&a, &cfg);
	CHECK_EQ(a.ndev, 4 + 2 + 1);
	rt_touch(&a);
	snapbuf_init(&sa);
	devices_save(&a, &sa);
	CHECK_EQ(sa.failed, 0);
	CHECK_EQ(sa.nsections, 1 + 2 * 2 + 2);
	copy = malloc(sa.len);
	memcpy(copy, sa.data, sa.len);
	CHECK_EQ(snapstate_parse(&st, "round-trip", copy, sa.len), 0);
	for (int i = 0; i < a.ndev; i++) {
		const struct vm_dev *d = &a.dev[i];
		uint32_t size;

		CHECK(d->at.sec == 0 ||
		    snapstate_find(&st, d->at.sec, d->at.index, &size) != NULL);
		CHECK(d->at.slot < 0 || snapstate_find(&st, SEC_MMIO,
		    (uint32_t)d->at.slot, &size) != NULL);
		CHECK(d->at.slot < 0 || d->at.base == VM_MMIO_BASE +
		    0x1000ULL * (unsigned)d->at.slot);
	}
	CHECK_EQ(devices_check_sections(&cfg, &st), 0);
	rt_make(&b, &cfg);
	CHECK_EQ(devices_load(&b, &st), 0);
	snapbuf_init(&sb);
	devices_save(&b, &sb);
	CHECK_EQ(sb.len, sa.len);
	CHECK(sb.len == sa.len && memcmp(sa.data, sb.data, sa.len) == 0);
	devices_lock(&b);
	for (int i = 0; i < b.ndev; i++)
		CHECK(b.dev[i].ops->lock == NULL || pthread_mutex_trylock(
		    b.dev[i].ops->lock(&b, &b.dev[i])) == EBUSY);
	devices_unlock(&b);
	CHECK_EQ(pthread_mutex_trylock(&b.com1.lock), 0);
	pthread_mutex_unlock(&b.com1.lock);
	snapbuf_free(&sa);
	snapbuf_free(&sb);
	snapstate_free(&st);
	rt_free(&a);
	rt_free(&b);
	for (int i = 0; i < 3; i++)
		unlink(paths[i]);
	rmdir(dir);
}

/* A state made for another machine is refused before anything is built:
 * one drive fewer, or no vsock, leaves sections the layout has no place
 * for; one drive more finds a section missing. */
static void
test_table_other_machine(void)
{
	static struct vm a;
	char dir[] = "/tmp/devtab.XXXXXX", paths[3][64];
	struct vm_config cfg, other;
	struct snapbuf sa;
	struct snapstate st;
	uint8_t *copy;

	CHECK(mkdtemp(dir) != NULL);
	rt_config(&cfg, dir, paths);
	rt_make(&a, &cfg);
	snapbuf_init(&sa);
	devices_save(&a, &sa);
	copy = malloc(sa.len);
	memcpy(copy, sa.data, sa.len);
	CHECK_EQ(snapstate_parse(&st, "other", copy, sa.len), 0);
	other = cfg;
	other.ndrives = 1;
	unit_catch_stderr();
	CHECK_EQ(devices_check_sections(&other, &st), -1);
	CHECK_EQ(unit_release_stderr("other: 3 sections 0x31 (virtio-mmio "
	    "transport); the machine has 2 (1 drives, vsock)"), 1);
	other = cfg;
	other.vsock = NULL;
	unit_catch_stderr();
	CHECK_EQ(devices_check_sections(&other, &st), -1);
	CHECK_EQ(unit_release_stderr("3 sections 0x31 (virtio-mmio transport); "
	    "the machine has 2 (2 drives)"), 1);
	other = cfg;
	other.ndrives = 3;
	other.drive[2].path = paths[0];
	unit_catch_stderr();
	CHECK_EQ(devices_check_sections(&other, &st), -1);
	CHECK_EQ(unit_release_stderr("other: no section 0x32 (virtio-blk) 2"), 1);
	snapbuf_free(&sa);
	snapstate_free(&st);
	rt_free(&a);
	for (int i = 0; i < 3; i++)
		unlink(paths[i]);
	rmdir(dir);
}

static const struct unit_test tests[] = {
	{ "serial: output, divisor latch, scratch", test_serial_output },
	{ "serial: THR-empty interrupt", test_serial_thre_irq },
	{ "serial: loopback, FIFO, overrun, rx interrupt", test_serial_loopback },
	{ "serial: snapshot section checked field by field", test_serial_load },
	{ "bus: ranges, unclaimed ports, debug exit, i8042", test_bus_and_ports },
	{ "devices: the table's ports call the caller's ops with the VM",
	    test_table_ops },
	{ "devices: every device's state saved, loaded and saved again the "
	    "same; locks in table order", test_table_round_trip },
	{ "devices: state of another machine refused before building",
	    test_table_other_machine },
};

UNIT_MAIN(tests)
