/*
 * The virtio-mmio transport and virtio-blk against a hostile driver: the
 * test plays it on the fake driver (fakedrv.h) and runs the evloop's
 * callbacks itself, one turn at a time, so that what one notification
 * does is exact.  Snapshot sections are fed to the load functions as a
 * crafted layer would hold them.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "fakedrv.h"
#include "log.h"
#include "virtio_blk.h"
#include "unit.h"

#define QSIZE		256
#define DESC		FAKEDRV_RINGS	/* where fakedrv_queue() puts them */
#define AVAIL		(DESC + 0x1000)
#define USED		(DESC + 0x2000)
#define HDRS		0x40000ULL	/* one 16-byte header per chain */
#define STATUS		0x50000ULL	/* one status byte per chain */
#define DATA		0x60000ULL
#define ST_ALL		FAKEDRV_S_LIVE
#define NEEDS_RESET	FAKEDRV_S_NEEDS_RESET
#define R_STATUS	FAKEDRV_R_STATUS
/* VERSION_1 and FLUSH */
#define FEATURES	(1ULL << VIRTIO_F_VERSION_1 | 1ULL << 9)
#define T_GET_ID	8
#define T_BOGUS		99		/* answered UNSUPP, writes nothing */

static struct fakedrv drv;
static struct evloop loop;
static struct virtio_blk b;
static char drive[] = "/tmp/snapvm-test-blk.XXXXXX";

static void
reg(uint32_t off, uint32_t v)
{
	fakedrv_write(&drv, off, v);
}

static uint32_t
reg_rd(uint32_t off)
{
	return fakedrv_read(&drv, off);
}

/* One turn of the evloop: every handler whose fd is ready runs once.
 * Returns how many ran. */
static int
turn(void)
{
	return fakedrv_turn(&drv);
}

/* A driver's set-up, with the rings at the given addresses. */
static void
setup_at(uint64_t desc, uint64_t avail, uint64_t used)
{
	fakedrv_features(&drv, FEATURES);
	fakedrv_queue_at(&drv, 0, QSIZE, desc, avail, used);
	fakedrv_driver_ok(&drv);
}

static void
setup(void)
{
	fakedrv_setup(&drv, FEATURES, 1, QSIZE);
}

/* Request chain number c: its header (type) and status byte at their
 * own addresses, made available but not notified. */
static void
post(uint16_t c, uint32_t type)
{
	uint32_t hdr[4] = { type, 0, 0, 0 };
	const struct fakedrv_seg s[2] = {
		{ HDRS + 16ULL * c, 16, 0 },
		{ STATUS + c, 1, VIRTQ_DESC_F_WRITE },
	};

	mem_write(&drv.mem, HDRS + 16ULL * c, hdr, sizeof(hdr));
	fakedrv_publish(&drv, 0, fakedrv_chain(&drv, 0, s, 2));
}

/* A chain of a status byte alone: no header. */
static void
post_headless(void)
{
	const struct fakedrv_seg s = { STATUS, 1, VIRTQ_DESC_F_WRITE };

	fakedrv_publish(&drv, 0, fakedrv_chain(&drv, 0, &s, 1));
}

static uint16_t
used_idx(void)
{
	return fakedrv_used_idx(&drv, 0);
}

static void
start(void)
{
	static int up;
	uint8_t sector[512] = "snapvm drive";
	int fd;

	if (up++)
		return;
	setvbuf(stdout, NULL, _IOLBF, 0);	/* kept if the alarm ends us */
	CHECK_EQ(evloop_init(&loop), 0);
	fd = mkstemp(drive);
	CHECK(fd != -1);
	for (int i = 0; i < 128; i++)
		CHECK_EQ(write(fd, sector, sizeof(sector)), sizeof(sector));
	close(fd);
	CHECK_EQ(virtio_blk_open(&b, drive, false, "snapvm-vda"), 0);
	CHECK_EQ(fakedrv_init(&drv, &virtio_blk_ops, &b, &loop), 0);
}

/* A full queue is served a budget at a time, one turn each, with the
 * transport lock free in between: the guest cannot hold the device. */
static void
test_budget(void)
{
	int n = 2 * VIRTIO_MMIO_BUDGET;

	start();
	setup();
	CHECK(n <= QSIZE / 2);
	for (int c = 0; c < n; c++)
		post((uint16_t)c, T_BOGUS);
	fakedrv_kick(&drv, 0);
	for (int i = 1; i <= 2; i++) {
		CHECK_EQ(turn(), 1);
		CHECK_EQ(used_idx(), i * VIRTIO_MMIO_BUDGET);
		CHECK_EQ(drv.t.s.q[0].last_avail, i * VIRTIO_MMIO_BUDGET);
		CHECK_EQ(pthread_mutex_trylock(&drv.t.lock), 0);
		pthread_mutex_unlock(&drv.t.lock);
	}
	CHECK_EQ(turn(), 1);		/* the re-queue after the last budget */
	CHECK_EQ(used_idx(), n);
	CHECK_EQ(turn(), 0);		/* and nothing after it */
	CHECK_EQ(fakedrv_status(&drv) & NEEDS_RESET, 0);
}

#define EVIDX	(FEATURES | 1ULL << FAKEDRV_F_EVENT_IDX)

/* n requests, one kick, one turn: the interrupts they cost. */
static uint64_t
pass(int n)
{
	uint64_t before = fakedrv_interrupts(&drv);

	for (int c = 0; c < n; c++)
		post((uint16_t)(used_idx() + c), T_BOGUS);
	fakedrv_kick(&drv, 0);
	CHECK_EQ(turn(), 1);
	return fakedrv_interrupts(&drv) - before;
}

/* A turn's requests are published at once and cost one interrupt; with
 * EVENT_IDX only one that passes used_event does, and the drained queue
 * asks the driver, in avail_event, to notify at its next request. */
static void
test_event_idx(void)
{
	uint16_t mark = 0xabcd;

	start();
	setup();
	mem_write(&drv.mem, USED + 4 + 8 * QSIZE, &mark, 2);
	CHECK_EQ(pass(8), 1);
	CHECK_EQ(used_idx(), 8);
	CHECK_EQ(fakedrv_avail_event(&drv, 0), 0xabcd);	/* not the device's */
	fakedrv_features(&drv, EVIDX);
	fakedrv_queue(&drv, 0, QSIZE);
	fakedrv_driver_ok(&drv);
	CHECK_EQ(fakedrv_status(&drv), ST_ALL);
	CHECK_EQ(pass(8), 1);				/* 0 -> 8 passes 0 */
	CHECK_EQ(used_idx(), 8);
	CHECK_EQ(fakedrv_avail_event(&drv, 0), 8);
	CHECK_EQ(pass(4), 0);				/* 8 -> 12 */
	fakedrv_set_used_event(&drv, 0, 13);
	CHECK_EQ(pass(1), 0);				/* 12 -> 13 */
	CHECK_EQ(pass(1), 1);				/* 13 -> 14 */
	CHECK_EQ(fakedrv_avail_event(&drv, 0), 14);
	post(used_idx(), T_BOGUS);
	CHECK(fakedrv_kick_needed(&drv, 0, 14));
	post((uint16_t)(used_idx() + 1), T_BOGUS);
	CHECK(!fakedrv_kick_needed(&drv, 0, 15));
	fakedrv_kick(&drv, 0);
	CHECK_EQ(turn(), 1);
	CHECK_EQ(used_idx(), 16);
	CHECK_EQ(fakedrv_status(&drv), ST_ALL);
	setup();
}

/* Virtio 1.2, 2.1.2: NEEDS_RESET stays until the driver resets the
 * device, which does nothing with its queues meanwhile. */
static void
test_needs_reset_sticks(void)
{
	static const struct virtio_mmio_state zero;
	uint8_t st = 0xff;

	start();
	setup();
	post_headless();
	fakedrv_kick(&drv, 0);
	CHECK_EQ(turn(), 1);
	CHECK_EQ(fakedrv_status(&drv), ST_ALL | NEEDS_RESET);
	CHECK_EQ(fakedrv_isr(&drv) & VIRTIO_INT_CONFIG, VIRTIO_INT_CONFIG);
	reg(R_STATUS, ST_ALL);			/* clearing it: ignored */
	CHECK_EQ(fakedrv_status(&drv), ST_ALL | NEEDS_RESET);
	/* Clearing others: ignored. */
	reg(R_STATUS, FAKEDRV_S_ACK | FAKEDRV_S_DRIVER);
	CHECK_EQ(fakedrv_status(&drv), ST_ALL | NEEDS_RESET);
	reg(R_STATUS, ST_ALL | FAKEDRV_S_FAILED);	/* may be added */
	CHECK_EQ(fakedrv_status(&drv), ST_ALL | NEEDS_RESET | FAKEDRV_S_FAILED);
	post(1, T_BOGUS);
	fakedrv_kick(&drv, 0);
	CHECK_EQ(turn(), 1);
	CHECK_EQ(used_idx(), 0);		/* not served */
	CHECK_EQ(drv.t.s.q[0].last_avail, 1);
	reg(R_STATUS, 0);			/* the reset */
	CHECK(memcmp(&drv.t.s, &zero, sizeof(zero)) == 0);
	CHECK_EQ(reg_rd(FAKEDRV_R_QUEUE_READY), 0);
	setup();
	post(0, T_BOGUS);
	mem_write(&drv.mem, STATUS, &st, 1);
	fakedrv_kick(&drv, 0);
	CHECK_EQ(turn(), 1);
	CHECK_EQ(used_idx(), 1);
	mem_read(&drv.mem, STATUS, &st, 1);
	CHECK_EQ(st, 2);			/* UNSUPP */
}

/* Layouts the device refuses when the driver enables the queue or sets
 * DRIVER_OK: it needs a reset and leaves the rings alone. */
static void
test_layout_checked(void)
{
	start();
	setup_at(DESC, AVAIL, AVAIL);		/* used over available */
	CHECK_EQ(fakedrv_status(&drv) & NEEDS_RESET, NEEDS_RESET);
	post(0, T_BOGUS);
	fakedrv_kick(&drv, 0);
	CHECK_EQ(turn(), 1);
	CHECK_EQ(drv.t.s.q[0].last_avail, 0);
	setup_at(DESC, AVAIL, DESC + 0x800);	/* used over descriptors */
	CHECK_EQ(fakedrv_status(&drv) & NEEDS_RESET, NEEDS_RESET);
	setup_at(DESC, (16 << 20) - 8, USED);	/* past the end of memory */
	CHECK_EQ(fakedrv_status(&drv) & NEEDS_RESET, NEEDS_RESET);
	setup_at(DESC, AVAIL, ~0ULL - 7);	/* wraps around */
	CHECK_EQ(fakedrv_status(&drv) & NEEDS_RESET, NEEDS_RESET);
	setup_at(DESC + 8, AVAIL, USED);	/* misaligned */
	CHECK_EQ(fakedrv_status(&drv) & NEEDS_RESET, NEEDS_RESET);
	setup();				/* fine again after a reset */
	CHECK_EQ(fakedrv_status(&drv), ST_ALL);

	fakedrv_features(&drv, FEATURES);	/* size 6: at QUEUE_READY */
	fakedrv_queue_at(&drv, 0, 6, DESC, AVAIL, USED);
	CHECK_EQ(fakedrv_status(&drv), FAKEDRV_S_ACK | FAKEDRV_S_DRIVER |
	    FAKEDRV_S_FEATURES_OK | NEEDS_RESET);
	CHECK_EQ(fakedrv_isr(&drv) & VIRTIO_INT_CONFIG, 0);	/* not told */

	reg(R_STATUS, 0);			/* DRIVER_OK, no FEATURES_OK */
	reg(R_STATUS, FAKEDRV_S_ACK | FAKEDRV_S_DRIVER);
	fakedrv_queue_at(&drv, 0, QSIZE, DESC, AVAIL, USED);
	reg(R_STATUS, FAKEDRV_S_ACK | FAKEDRV_S_DRIVER | FAKEDRV_S_DRIVER_OK);
	CHECK_EQ(fakedrv_status(&drv), FAKEDRV_S_ACK | FAKEDRV_S_DRIVER |
	    FAKEDRV_S_DRIVER_OK | NEEDS_RESET);
}

static void
on_alarm(int sig)
{
	static const char msg[] = "#   the device thread never returned\n"
	    "not ok - spinning device\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/*
 * The attack of issue 14: fail the device over and over, clearing
 * NEEDS_RESET without a reset each time, until the queue's counters are
 * 256 apart; then put the used ring over the available ring, so that
 * every used index the device publishes offers it one more chain.  It
 * spun for ever holding the transport lock.  Now the first failure sticks
 * and nothing after it is served.  (The alarm is a backstop that turns a
 * hang into a failure, not a measure.)
 */
static void
test_reported_spin(void)
{
	const struct fakedrv_seg hdr = { HDRS, 16, VIRTQ_DESC_F_NEXT },
	    st = { STATUS, 1, VIRTQ_DESC_F_WRITE };

	start();
	setup();
	fakedrv_desc(&drv, 0, 0, &hdr, 2);	/* heads 0 and 1: fine */
	fakedrv_desc(&drv, 0, 1, &hdr, 2);
	fakedrv_desc(&drv, 0, 2, &st, 0);
	fakedrv_desc(&drv, 0, 3, &st, 0);	/* head 3: no header */
	mem_write(&drv.mem, HDRS, (uint32_t[4]){ T_BOGUS, 0, 0, 0 }, 16);
	signal(SIGALRM, on_alarm);
	alarm(120);
	for (int i = 0; i < 65536 - QSIZE; i++) {
		reg(R_STATUS, ST_ALL);
		fakedrv_publish(&drv, 0, 3);
		fakedrv_kick(&drv, 0);
		turn();
	}
	CHECK_EQ(drv.t.s.q[0].last_avail, 1);
	/* Queue off, the used ring moved over the available one behind the
	 * driver's back: its own record stays where the rings were. */
	reg(FAKEDRV_R_QUEUE_READY, 0);
	reg(FAKEDRV_R_USED_LO, (uint32_t)AVAIL);
	reg(FAKEDRV_R_QUEUE_READY, 1);
	reg(R_STATUS, ST_ALL);
	fakedrv_publish(&drv, 0, 0);
	fakedrv_kick(&drv, 0);
	turn();
	alarm(0);
	CHECK_EQ(fakedrv_status(&drv) & NEEDS_RESET, NEEDS_RESET);
	CHECK_EQ(drv.t.s.q[0].last_avail, 1);
	reg(R_STATUS, 0);
}

/* Runs fn with warnings on and returns what it logged. */
static char logged[512];

static int
capture(int (*fn)(const void *), const void *arg)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO), rc;
	size_t n;

	fflush(stderr);
	dup2(fileno(f), STDERR_FILENO);
	log_init(NULL, LOG_WARN);
	rc = fn(arg);
	fflush(stderr);
	log_init(NULL, LOG_QUIET);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(logged, 1, sizeof(logged) - 1, f);
	logged[n] = '\0';
	logged[strcspn(logged, "\n")] = '\0';	/* the first line */
	fclose(f);
	return rc;
}

struct blk_sections {
	struct virtio_blk_state bs;
	struct virtio_mmio_state ms;
};

static int
load(const void *arg)
{
	const struct blk_sections *s = arg;

	return virtio_blk_load(&b, &drv.t, &s->bs, &s->ms, "layer/state", 0);
}

/* Refused, the device unchanged, the message naming file, section and
 * field. */
static void
refused(const struct blk_sections *s, const char *field)
{
	struct virtio_mmio_state before = drv.t.s;

	CHECK_EQ(capture(load, s), -1);
	CHECK(memcmp(&drv.t.s, &before, sizeof(before)) == 0);
	CHECK(strstr(logged, "layer/state: section ") != NULL);
	if (strstr(logged, field) == NULL) {
		unit_failed++;
		printf("#   no \"%s\" in: \"%s\"\n", field, logged);
	}
}

/* Every field of both sections, as a crafted layer could hold it. */
static void
test_state_load(void)
{
	struct blk_sections good, s;
	uint32_t gen;

	start();
	setup();
	good.bs = b.s;
	good.ms = drv.t.s;
	reg(R_STATUS, 0);
	CHECK_EQ(capture(load, &good), 0);
	CHECK(memcmp(&drv.t.s, &good.ms, sizeof(good.ms)) == 0);

	s = good; s.ms.status |= 0x10;
	refused(&s, "status 0x1f");
	s = good; s.ms.driver_features |= 1ULL << 40;
	refused(&s, "driver_features");
	s = good; s.ms.driver_features &= ~(1ULL << 32);
	refused(&s, "driver_features");
	s = good; s.ms.status = 1 | 2 | 4;
	refused(&s, "DRIVER_OK without FEATURES_OK");
	s = good; s.ms.isr = 4;
	refused(&s, "isr 0x4");
	s = good; s.ms.q[1].size = 8;
	refused(&s, "queue 1: set, the device has 1 queues");
	s = good; s.ms.q[0].size = 512;
	refused(&s, "queue 0: size 512");
	s = good; s.ms.q[0].ready = 2;
	refused(&s, "ready 2");
	s = good; s.ms.q[0].used = s.ms.q[0].avail;
	refused(&s, "queue 0: used ring overlaps the available ring");
	s = good; s.ms.q[0].desc = 0xfffff000000ULL;
	refused(&s, "queue 0: descriptor table outside guest memory");
	s = good; s.ms.q[0].used = ~0ULL - 7;
	refused(&s, "queue 0: used ring outside guest memory");
	s = good; s.ms.q[0].used = USED + 2;
	refused(&s, "queue 0: ring misaligned");
	s = good; s.ms.q[0].avail = ~0ULL - 7;
	refused(&s, "queue 0: available ring outside guest memory");
	s = good; s.ms.q[0].size = 6;
	refused(&s, "queue 0: size is not a power of two");
	s = good; s.ms.q[0].last_avail = QSIZE + 1;
	refused(&s, "last_avail 257, next_used 0");
	s = good; s.bs.read_only = 1;
	refused(&s, "section blk 0: read_only 1");
	s = good; s.bs.pad[2] = 1;
	refused(&s, "pad");
	s = good; memcpy(s.bs.id, "snapvm-vdb", 10);
	refused(&s, "id \"snapvm-vdb\"");

	s = good;				/* stopped: queues left alone */
	s.ms.status |= NEEDS_RESET;
	s.ms.q[0].used = s.ms.q[0].avail;
	CHECK_EQ(capture(load, &s), 0);
	s = good;				/* a not-live queue: any address */
	s.ms.q[0].ready = 0;
	s.ms.q[0].used = 7;
	CHECK_EQ(capture(load, &s), 0);
	s = good;				/* another app drive */
	s.bs.capacity = 1;
	gen = s.ms.config_gen;
	CHECK_EQ(capture(load, &s), 0);
	CHECK_EQ(drv.t.s.config_gen, gen + 1);
	CHECK_EQ(b.s.capacity, 128);
	reg(R_STATUS, 0);
}

/* A guest that breaks the device, resets it and breaks it again, in a
 * loop: each failure is a log line it causes, so they are rate-limited. */
static int
fail_loop(const void *arg)
{
	int times = *(const int *)arg;

	for (int i = 0; i < times; i++) {
		setup();
		post_headless();
		fakedrv_kick(&drv, 0);
		turn();
		if ((fakedrv_status(&drv) & NEEDS_RESET) == 0)
			return -1;
		reg(R_STATUS, 0);
	}
	return 0;
}

static void
test_fail_rate_limited(void)
{
	int times = 4 * LOG_RATE_BURST, lines;

	start();
	unit_catch_stderr();
	CHECK_EQ(fail_loop(&times), 0);
	lines = unit_release_stderr("device stopped");
	CHECK(lines >= 1);
	CHECK(lines <= LOG_RATE_BURST);
}

static void
test_end(void)
{
	start();
	fakedrv_destroy(&drv);
	virtio_blk_close(&b);
	evloop_destroy(&loop);
	CHECK_EQ(unlink(drive), 0);
}

static const struct unit_test tests[] = {
	{ "virtio-blk: a budget of requests per turn, then a re-queue",
	    test_budget },
	{ "virtio-mmio: NEEDS_RESET stays until a reset, which clears all",
	    test_needs_reset_sticks },
	{ "virtio-mmio: ring layouts checked at QUEUE_READY and DRIVER_OK",
	    test_layout_checked },
	{ "virtio-mmio: the reported spin (counters apart, used over avail)",
	    test_reported_spin },
	{ "virtio-blk: one interrupt per turn; EVENT_IDX honoured and written",
	    test_event_idx },
	{ "virtio-blk: snapshot sections checked field by field",
	    test_state_load },
	{ "virtio-mmio: a guest's fail and reset loop: its log lines "
	    "rate-limited", test_fail_rate_limited },
	{ "virtio-blk: clean-up", test_end },
};

UNIT_MAIN(tests)
