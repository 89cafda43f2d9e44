/*
 * The port I/O a guest does: accesses of any width to any port, through
 * the bus, to the UART (loopback, FIFO, divisor latch), the i8042, the
 * debug exit and the checkpoint port, as devices.c wires them.
 *
 * Input: accesses of a 16-bit port, a width byte (1, 2, 4 or 8, and bit
 * 7 for a write) and 8 bytes of data.
 */
#include <string.h>

#include "bus.h"
#include "ckpt.h"
#include "debugexit.h"
#include "fuzz.h"
#include "i8042.h"
#include "serial.h"

static struct bus pio;
static struct serial com1;
static struct i8042 kbd;
static struct debugexit dbg;
static struct ckpt ckpt;

static void on_irq(void *o, int level) { (void)o; (void)level; }
static void on_reset(void *o) { (void)o; }
static void on_exit_port(void *o, int status) { (void)o; (void)status; }
static void on_ckpt(void *o, uint32_t point) { (void)o; (void)point; }

static void
setup(void)
{
	fz_init();
	i8042_init(&kbd, on_reset, NULL);
	debugexit_init(&dbg, on_exit_port, NULL);
	ckpt_init(&ckpt, on_ckpt, NULL, 0);
	bus_add(&pio, "com1", SERIAL_COM1_BASE, SERIAL_NPORTS, serial_io, &com1);
	bus_add(&pio, "i8042", I8042_BASE, I8042_NPORTS, i8042_io, &kbd);
	bus_add(&pio, "debug-exit", DEBUGEXIT_PORT, DEBUGEXIT_LEN,
	    debugexit_io, &dbg);
	bus_add(&pio, "checkpoint", CKPT_PORT, CKPT_LEN, ckpt_io, &ckpt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool up;
	struct fz f = { data, size };

	if (!up)
		setup();
	up = true;
	serial_init(&com1, -1, -1, on_irq, NULL);	/* a fresh UART */
	while (f.n > 0) {
		uint16_t port = fz_u16(&f);
		uint8_t how = fz_u8(&f), buf[8] = { 0 };

		fz_take(&f, buf, sizeof(buf));
		bus_access(&pio, port, buf, 1U << (how % 4), how & 0x80);
	}
	serial_destroy(&com1);
	return 0;
}
