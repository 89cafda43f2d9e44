/*
 * vmrun's request mode (lib/run/reqloop.c) between its two untrusted peers:
 * request lines on its input and the guest runtime's frames on the vsock
 * connection, interleaved as the input says, as reqloop_poll() would
 * hand them over.  reqloop.c is compiled into this target to reach its
 * line and frame handlers; the VM is a struct vm that only stops.
 *
 * Input: steps of an op byte, a 16-bit length and that many bytes:
 * op 0 request bytes, 1 runtime bytes, 2 end of the request input.
 */
#include "../../lib/run/reqloop.c"

#include <fcntl.h>
#include <sys/eventfd.h>

#include "fuzz.h"

static struct vm vm;
static struct reqloop_config cfg;

static void
setup(void)
{
	fz_init();
	pthread_mutex_init(&vm.stop_lock, NULL);
	vm.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cfg.out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	cfg.max_request = 4096;		/* small, to be exceeded */
	if (vm.stop_fd == -1 || cfg.out_fd == -1)
		abort();
}

/* The runtime end reads what vmrun sent it, so that no write blocks. */
static void
drain(int fd)
{
	char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void
step(struct reqloop *rl, int in[2], int runtime, struct fz *f)
{
	uint8_t op = fz_u8(f) % 3, buf[65536];
	size_t n = fz_take(f, buf, fz_u16(f));

	if (op == 0 && in[1] != -1 && write(in[1], buf, n) == -1)
		return;			/* the pipe is full */
	if (op == 1 && write(runtime, buf, n) == -1)
		return;
	if (op == 2 && in[1] != -1) {
		close(in[1]);
		in[1] = -1;
	}
	if (op == 1 && rl->conn_fd != -1)
		runtime_readable(rl);
	if (rl->ready && !rl->busy && !rl->in_eof)
		input_readable(rl);
	take_lines(rl);
	drain(runtime);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool up;
	struct fz f = { data, size };
	struct reqloop rl = { .vm = &vm, .cfg = &cfg, .listen_fd = -1 };
	int in[2], sv[2];

	if (!up)
		setup();
	up = true;
	if (pipe2(in, O_CLOEXEC | O_NONBLOCK) == -1 || socketpair(AF_UNIX,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	cfg.in_fd = in[0];
	rl.conn_fd = sv[0];
	atomic_store(&vm.stopping, false);
	vm.result.kind = VM_STOP_NONE;
	while (f.n > 0 && !vm_stopping(&vm))
		step(&rl, in, sv[1], &f);
	reqloop_close(&rl);
	drain(vm.stop_fd);
	close(in[0]);
	if (in[1] != -1)
		close(in[1]);
	close(sv[1]);
	return 0;
}
