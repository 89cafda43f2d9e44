/*
 * A 16550A UART (COM1, ports 0x3f8-0x3ff, IRQ 4).  Transmission is
 * instant: THR is always empty again by the next access.  Input comes
 * from an fd read by a thread of the device's own, with back-pressure:
 * bytes wait in the host pipe while the 16-byte receive FIFO is full.
 */
#ifndef SNAPVM_SERIAL_H
#define SNAPVM_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SERIAL_COM1_BASE	0x3f8
#define SERIAL_COM1_IRQ		4
#define SERIAL_NPORTS		8
#define SERIAL_FIFO		16

/* Guest-visible state: exactly what a snapshot of the UART holds. */
struct serial_state {
	uint8_t ier, fcr, lcr, mcr, lsr, msr, scr, dll, dlm;
	uint8_t thr_irq;		/* THR-empty interrupt pending */
	uint8_t rx_head, rx_count;
	uint8_t rx_fifo[SERIAL_FIFO];
	uint8_t irq_level;		/* last level driven on the IRQ line */
	uint8_t pad[3];
};
_Static_assert(sizeof(struct serial_state) == 32, "serial_state layout");

typedef void serial_irq_fn(void *opaque, int level);

struct serial {
	struct serial_state s;
	pthread_mutex_t lock;
	pthread_cond_t room;		/* receive FIFO has space */
	int out_fd;			/* -1: output discarded */
	int in_fd;			/* -1: no input */
	int stop_fd;			/* eventfd: input thread must stop */
	bool stopping, thread_started;
	pthread_t in_thread;
	/* Called first on the input thread, if set: -1 ends the thread. */
	int (*enter)(void *arg);
	void *enter_arg;
	serial_irq_fn *irq;
	void *irq_opaque;
};

int serial_init(struct serial *u, int out_fd, int in_fd, serial_irq_fn *irq,
    void *irq_opaque);
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
    bool is_write);
/* A snapshot's serial section of file, checked as if the guest had
 * written it: -1 with a message naming the file, section and field. */
int serial_load(struct serial *u, const struct serial_state *s,
    const char *file);
int serial_start(struct serial *u);
void serial_stop(struct serial *u);
void serial_destroy(struct serial *u);

#endif
