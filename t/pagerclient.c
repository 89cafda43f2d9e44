/*
 * A runner without a VM, for t/snappager.bats: guest memory made and
 * handed to a page server exactly as snaprestore --page-server does
 * (mem_create, mem_uffd_attach), then read, and the server watched as the
 * runner watches it (an ERROR ends the process at once with its status).
 *
 *   pagerclient SOCKET DIR[,DIR...] [all | PAGE...] [--wait-done]
 *       DIRs as snappager's load-dir line gives them.  Prints "ready N"
 *       (pages the working set put in), then with "all" reads every page
 *       and prints "sha256 HEX" of the whole memory, or reads one byte of
 *       each PAGE given and prints "touched"; --wait-done then waits for
 *       the server's DONE ("done").  Exits with the runner's status.
 *   pagerclient --compose DIR[,DIR...]
 *       prints "sha256 HEX" of the memory a restore maps from the layers:
 *       the base's memory file, each diff's pages where its bitmap says.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "mem_uffd.h"
#include "snapmeta.h"

struct layers {
	int n;
	char *dir[SNAP_MAX_LAYERS];
	struct snap_meta m[SNAP_MAX_LAYERS];
	char ids[SNAP_MAX_LAYERS][DIGEST_HEX];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int done;

static int
read_layers(char *list, struct layers *l)
{
	for (char *save = NULL, *d = strtok_r(list, ",", &save); d != NULL;
	    d = strtok_r(NULL, ",", &save)) {
		if (l->n == SNAP_MAX_LAYERS || snapmeta_read(d, &l->m[l->n]) == -1)
			return -1;
		memcpy(l->ids[l->n], l->m[l->n].id, DIGEST_HEX);
		l->dir[l->n++] = d;
	}
	return l->n > 0 ? 0 : -1;
}

static void
print_sha(const void *p, size_t n)
{
	unsigned char md[HASH_LEN];
	char hex[DIGEST_HEX];

	hash_buf(p, n, md);
	digest_hex(md, hex);
	printf("sha256 %s\n", hex);
	fflush(stdout);
}

/* Reads a layer's file whole into buf (len bytes). */
static int
slurp(const char *dir, const char *name, void *buf, size_t len)
{
	char path[4200];
	int fd;
	ssize_t got;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s", path);
		return -1;
	}
	got = pread(fd, buf, len, 0);
	close(fd);
	return got == (ssize_t)len ? 0 : -1;
}

static int
compose(struct layers *l)
{
	size_t bytes = l->m[0].mem_mib << 20, pages = bytes / 4096;
	uint8_t *mem = malloc(bytes), *top = malloc(bytes);
	uint8_t *bits = malloc(pages / 8);

	if (mem == NULL || top == NULL || bits == NULL ||
	    slurp(l->dir[0], "memory", mem, bytes) == -1)
		return EX_OSERR;
	for (int i = 1; i < l->n; i++) {
		if (slurp(l->dir[i], "memory", top, bytes) == -1 ||
		    slurp(l->dir[i], "pages", bits, pages / 8) == -1)
			return EX_IOERR;
		for (size_t p = 0; p < pages; p++)
			if (bits[p / 8] >> (p % 8) & 1)
				memcpy(mem + p * 4096, top + p * 4096, 4096);
	}
	print_sha(mem, bytes);
	return 0;
}

/* The runner's watcher: an ERROR or a hangup ends the process now. */
static void *
watch(void *arg)
{
	int fd = *(int *)arg, rc;

	while ((rc = mem_uffd_watch(fd)) == 0) {
		/* Said before main may see it and exit. */
		printf("done\n");
		fflush(stdout);
		pthread_mutex_lock(&mu);
		done = 1;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
	printf("pager status %d\n", rc);
	fflush(stdout);
	_exit(rc);
}

static int
wait_done(void)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 120;
	pthread_mutex_lock(&mu);
	while (!done && rc == 0)
		rc = pthread_cond_timedwait(&cv, &mu, &ts);
	pthread_mutex_unlock(&mu);
	if (!done)
		fprintf(stderr, "pagerclient: no DONE in 120 s\n");
	return done ? 0 : 1;
}

static void
touch(const struct mem *m, int argc, char **argv, int *wait)
{
	volatile uint8_t sink = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--wait-done") == 0) {
			*wait = 1;
		} else if (strcmp(argv[i], "all") == 0) {
			print_sha(m->base, m->bytes);
		} else {
			uint64_t p = strtoull(argv[i], NULL, 0);

			if (p < m->bytes / 4096)
				sink ^= m->base[p * 4096];
			printf("touched %ju\n", (uintmax_t)p);
			fflush(stdout);
		}
	}
	(void)sink;
}

int
main(int argc, char **argv)
{
	struct layers l = { 0 };
	struct pager_reply r;
	struct mem m;
	pthread_t t;
	int fd, rc, wait = 0;

	log_init("pagerclient", LOG_WARN);
	if (argc >= 3 && strcmp(argv[1], "--compose") == 0)
		return read_layers(argv[2], &l) == -1 ? EX_DATAERR : compose(&l);
	if (argc < 3) {
		fprintf(stderr, "usage: pagerclient SOCKET DIR[,DIR...] "
		    "[all | PAGE...] [--wait-done]\n");
		return EX_USAGE;
	}
	if (read_layers(argv[2], &l) == -1 || mem_create(&m, l.m[0].mem_mib))
		return EX_DATAERR;
	if ((rc = mem_uffd_attach(&m, argv[1], l.ids, l.n, &r, &fd)) != 0) {
		printf("pager status %d\n", rc);
		return rc;
	}
	printf("ready %ju\n", (uintmax_t)r.pages);
	fflush(stdout);
	if (pthread_create(&t, NULL, watch, &fd) != 0)
		return EX_OSERR;
	touch(&m, argc - 3, argv + 3, &wait);
	return wait ? wait_done() : 0;
}
