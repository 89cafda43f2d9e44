#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "serial.h"

enum {
	REG_DATA = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3,
	REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};

#define IER_RDI		0x01
#define IER_THRI	0x02
#define IER_MSI		0x08
#define IIR_NONE	0x01
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define LCR_DLAB	0x80
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80
/* The bits a write keeps; the rest read as zero. */
#define IER_MASK	0x0f
#define FCR_MASK	0xc9
#define MCR_MASK	0x1f
/* This UART's line and modem status never change. */
#define LSR_IDLE	(LSR_THRE | LSR_TEMT)
#define MSR_WIRED	(MSR_DCD | MSR_DSR | MSR_CTS)

int
serial_init(struct serial *u, int out_fd, int in_fd, serial_irq_fn *irq,
    void *irq_opaque)
{
	memset(u, 0, sizeof(*u));
	u->s.lsr = LSR_IDLE;
	u->s.msr = MSR_WIRED;
	u->out_fd = out_fd;
	u->in_fd = in_fd;
	u->irq = irq;
	u->irq_opaque = irq_opaque;
	if ((u->stop_fd = eventfd(0, EFD_CLOEXEC)) == -1) {
		log_warn("eventfd");
		return -1;
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->room, NULL);
	return 0;
}

static uint8_t
serial_iir(const struct serial_state *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((s->ier & IER_RDI) && s->rx_count > 0)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_irq)
		return fifo | IIR_THRI;
	return fifo | IIR_NONE;
}

static void
serial_update_irq(struct serial *u)
{
	uint8_t level = (serial_iir(&u->s) & IIR_NONE) == 0;

	if (level != u->s.irq_level && u->irq != NULL)
		u->irq(u->irq_opaque, level);
	u->s.irq_level = level;
}

static void
serial_rx_push(struct serial_state *s, uint8_t c)
{
	if (s->rx_count == SERIAL_FIFO)
		return;			/* overrun: the byte is lost, as on a UART */
	s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL_FIFO] = c;
	s->rx_count++;
}

static uint8_t
serial_rx_pop(struct serial *u)
{
	uint8_t c;

	if (u->s.rx_count == 0)
		return 0;
	c = u->s.rx_fifo[u->s.rx_head];
	u->s.rx_head = (uint8_t)((u->s.rx_head + 1) % SERIAL_FIFO);
	u->s.rx_count--;
	pthread_cond_signal(&u->room);
	return c;
}

static void
serial_transmit(struct serial *u, uint8_t c)
{
	ssize_t n;

	if (u->s.mcr & MCR_LOOP) {
		serial_rx_push(&u->s, c);
	} else if (u->out_fd != -1) {
		do
			n = write(u->out_fd, &c, 1);
		while (n == -1 && errno == EINTR);
	}
	u->s.thr_irq = 1;
}

static uint8_t
serial_msr(const struct serial_state *s)
{
	uint8_t m = 0;

	if (!(s->mcr & MCR_LOOP))
		return s->msr;
	/* Loopback wires DTR to DSR, RTS to CTS, OUT1 to RI, OUT2 to DCD. */
	if (s->mcr & 0x01) m |= MSR_DSR;
	if (s->mcr & 0x02) m |= MSR_CTS;
	if (s->mcr & 0x04) m |= MSR_RI;
	if (s->mcr & 0x08) m |= MSR_DCD;
	return m;
}

static uint8_t
serial_read(struct serial *u, unsigned reg)
{
	struct serial_state *s = &u->s;
	uint8_t v;

	switch (reg) {
	case REG_DATA:
		return (s->lcr & LCR_DLAB) ? s->dll : serial_rx_pop(u);
	case REG_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case REG_IIR_FCR:
		v = serial_iir(s);
		if ((v & 0x0f) == IIR_THRI)
			s->thr_irq = 0;	/* reading IIR acknowledges THRE */
		return v;
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		return (uint8_t)(s->lsr | (s->rx_count ? LSR_DR : 0));
	case REG_MSR:
		return serial_msr(s);
	default:
		return s->scr;
	}
}

static void
serial_write(struct serial *u, unsigned reg, uint8_t v)
{
	struct serial_state *s = &u->s;

	switch (reg) {
	case REG_DATA:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else
			serial_transmit(u, v);
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thr_irq = 1;	/* THR is empty: interrupt at once */
		s->ier = v & IER_MASK;
		break;
	case REG_IIR_FCR:
		if (v & FCR_CLEAR_RX) {
			s->rx_count = 0;
			pthread_cond_signal(&u->room);
		}
		s->fcr = v & FCR_MASK;
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		s->mcr = v & MCR_MASK;
		break;
	case REG_SCR:
		s->scr = v;
		break;
	default:
		break;			/* LSR and MSR are read-only */
	}
}

void
serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
    bool is_write)
{
	struct serial *u = opaque;

	/* Only byte access is defined; wider accesses touch the first byte. */
	pthread_mutex_lock(&u->lock);
	if (is_write) {
		serial_write(u, (unsigned)offset & 7, data[0]);
	} else {
		memset(data, 0, len);
		data[0] = serial_read(u, (unsigned)offset & 7);
	}
	serial_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

/* Fills why (n bytes) and returns -1 for a state no guest could have
 * left: register bits a write drops, status the UART never shows, FIFO
 * indices past the FIFO, an IRQ level that is not the registers'. */
static int
serial_state_check(const struct serial_state *s, char *why, size_t n)
{
	static const uint8_t zero[sizeof(s->pad)];

	if ((s->ier & ~IER_MASK) || (s->fcr & ~FCR_MASK) || (s->mcr & ~MCR_MASK))
		snprintf(why, n, "ier %#x, fcr %#x, mcr %#x: bits no write "
		    "keeps", s->ier, s->fcr, s->mcr);
	else if (s->lsr != LSR_IDLE || s->msr != MSR_WIRED)
		snprintf(why, n, "lsr %#x, msr %#x: the UART's are %#x, %#x",
		    s->lsr, s->msr, LSR_IDLE, MSR_WIRED);
	else if (s->rx_head >= SERIAL_FIFO || s->rx_count > SERIAL_FIFO)
		snprintf(why, n, "rx_head %u, rx_count %u: the FIFO holds %u",
		    s->rx_head, s->rx_count, SERIAL_FIFO);
	else if (s->thr_irq > 1 ||
	    s->irq_level != ((serial_iir(s) & IIR_NONE) == 0))
		snprintf(why, n, "thr_irq %u, irq_level %u: not what the "
		    "registers give", s->thr_irq, s->irq_level);
	else if (memcmp(s->pad, zero, sizeof(zero)) != 0)
		snprintf(why, n, "pad is not zero");
	else
		return 0;
	return -1;
}

int
serial_load(struct serial *u, const struct serial_state *s, const char *file)
{
	char why[128];

	if (serial_state_check(s, why, sizeof(why)) == -1) {
		log_warnx("%s: section serial: %s", file, why);
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&u->lock);
	u->s = *s;
	pthread_mutex_unlock(&u->lock);
	return 0;
}

/* Hands bytes to the FIFO, waiting while it is full. */
static int
serial_feed(struct serial *u, const uint8_t *buf, size_t n)
{
	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; i < n && !u->stopping; i++) {
		while (u->s.rx_count == SERIAL_FIFO && !u->stopping)
			pthread_cond_wait(&u->room, &u->lock);
		if (!u->stopping)
			serial_rx_push(&u->s, buf[i]);
		serial_update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
	return u->stopping ? -1 : 0;
}

static void *
serial_input_thread(void *arg)
{
	struct serial *u = arg;
	struct pollfd pfd[2] = {
		{ .fd = u->in_fd, .events = POLLIN },
		{ .fd = u->stop_fd, .events = POLLIN },
	};
	uint8_t buf[SERIAL_FIFO];
	ssize_t n;

	pthread_setname_np(pthread_self(), "serial-in");
	if (u->enter != NULL && u->enter(u->enter_arg) == -1)
		return NULL;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			break;
		}
		if (pfd[1].revents)
			break;
		n = read(u->in_fd, buf, sizeof(buf));
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0 || serial_feed(u, buf, (size_t)n) == -1)
			break;		/* end of input: the guest reads no more */
	}
	return NULL;
}

int
serial_start(struct serial *u)
{
	int e;

	if (u->in_fd == -1)
		return 0;
	if ((e = pthread_create(&u->in_thread, NULL, serial_input_thread, u))) {
		errno = e;
		log_warn("pthread_create");
		return -1;
	}
	u->thread_started = true;
	return 0;
}

void
serial_stop(struct serial *u)
{
	uint64_t one = 1;

	pthread_mutex_lock(&u->lock);
	u->stopping = true;
	pthread_cond_broadcast(&u->room);
	pthread_mutex_unlock(&u->lock);
	if (write(u->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("eventfd write");
	if (u->thread_started)
		pthread_join(u->in_thread, NULL);
	u->thread_started = false;
}

void
serial_destroy(struct serial *u)
{
	if (u->stop_fd == -1)
		return;			/* never initialised */
	close(u->stop_fd);
	u->stop_fd = -1;
	pthread_cond_destroy(&u->room);
	pthread_mutex_destroy(&u->lock);
}
