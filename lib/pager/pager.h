/*
 * snappager(1): a page server for a restore's guest memory
 * (snapvm-pager(5)).  The runner hands it a userfaultfd covering the
 * guest's memory; the server puts each page in when the guest first
 * touches it, from the layer that owns the page: the top-most diff whose
 * pages bit is set, else the base.  A layer is local (a complete
 * directory, its memory file checked as a restore checks it) or in a
 * store (s3snap(1)): then it is fetched, while the VM runs, into a
 * temporary directory beside its destination, chunk by chunk, each
 * chunk checked against the index's SHA-256 before any of it reaches
 * the guest; a guest's fault fetches its chunk ahead of the background
 * transfer.  Once every chunk is in, the files are checked against the
 * manifest, synced and given the destination's name.
 *
 * One header, a section per file, from the bottom up: err, uffd, layer,
 * local, store, stack, chunk, xfer, fault, ws, conn, done, run.  A file
 * calls only those before it.
 */
#ifndef SNAPVM_PAGER_H
#define SNAPVM_PAGER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pagerproto.h"
#include "s3.h"
#include "s3conf.h"
#include "s3layer.h"
#include "snapmeta.h"
#include "workset.h"

#define PAGER_PATH_MAX		4096
/* The largest chunk an index may ask the pager to hold in memory at
 * once (the store writes 256 KiB). */
#define PAGER_CHUNK_MAX		(16u << 20)
#define PAGER_XFER_MAX		16	/* background transfer threads */
#define PAGER_XFER_NICE		19	/* theirs: the restore goes first */
#define PAGER_GONE		(-1)	/* the runner went away */

/* ---- pager_err.c: a failure that may have to be told to the runner */

struct pager_err {
	int status;			/* a sysexits(3) status; 0: none */
	char msg[PAGER_MSG_MAX];	/* printable, for PAGER_ERROR */
};

/* Records the failure (the first one only: later ones are its
 * consequences) and logs it; returns status. */
int pager_fail(struct pager_err *e, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same, but not logged, for s3layer_get_chunk's failure at chunk c
 * of object key: a message that keeps the chunk, its bytes and the
 * reason when the key is too long for it. */
int pager_fail_chunk(struct pager_err *e, int status, const char *bucket,
    const char *key, size_t c, uint64_t at, size_t len);

/* ---- pager_uffd.c: pages into the runner's memory */

struct pager_mem {
	int uffd;
	uint64_t base, bytes;		/* the runner's mapping (its HELLO) */
	uint64_t *installed;		/* a bit per page put in */
};

/* Puts npages pages from src at page first: pages already there
 * (EEXIST) are left as they are, an interrupted copy (EAGAIN) goes on.
 * 0 or -1 with errno (ESRCH: the runner is gone). */
int pager_uffd_copy(struct pager_mem *pm, uint64_t first, uint64_t npages,
    const void *src);
/* Pages of zeros, the same way. */
int pager_uffd_zero(struct pager_mem *pm, uint64_t first, uint64_t npages);
/* Wakes whoever waits on page p (it may have been put in already). */
int pager_uffd_wake(const struct pager_mem *pm, uint64_t p);
bool pager_installed(const struct pager_mem *pm, uint64_t p);

/* ---- pager_layer.c: one layer of the stack */

enum pager_chunk_state { PAGER_ABSENT, PAGER_BUSY, PAGER_PRESENT };
/* Who fetches a chunk, for the counts. */
enum pager_by { PAGER_BY_FAULT, PAGER_BY_XFER, PAGER_BY_N };

struct pager_layer {
	char spec[PAGER_PATH_MAX];	/* as given, for messages */
	char dir[PAGER_PATH_MAX];	/* the layer's directory (a store
					 * layer's destination) */
	bool store;			/* being fetched into tmp */
	struct s3_uri uri;
	char tmp[PAGER_PATH_MAX];	/* the temporary directory, or "" */
	struct snap_meta m;
	/* The memory file's extents and chunks: a store layer's index; for
	 * a local layer, one made from the file (every chunk present). */
	struct s3layer idx;
	struct s3file *mf;
	char mem_key[PAGER_PATH_MAX + 32];	/* its object or path, for
						 * messages */
	int mem_fd;
	uint8_t *pages;			/* a diff's bitmap */
	uint8_t *chunk;			/* enum pager_chunk_state per chunk */
	struct s3 s3;			/* the fault path's connection */
	bool s3_open;
	/* What was fetched, for -v (pager_layer_summary): every request
	 * for the layer, the transfer's too; and under the stack's mu,
	 * per chunk whether a fetch of it began, and the fetches begun by
	 * each, of chunks fetched before too. */
	struct s3_count net;
	uint8_t *fetched;
	uint64_t fetches[PAGER_BY_N], again[PAGER_BY_N];
	uint64_t files;			/* fetched whole before listening */
};

/* An empty layer (nothing open) for spec, bottom first. */
void pager_layer_init(struct pager_layer *l);
/* What the runner loads: the temporary directory while there is one. */
const char *pager_layer_dir(const struct pager_layer *l);
/* The chunk holding page p of the layer's memory file: false if the page
 * is a hole (zeros). */
bool pager_layer_chunk(const struct pager_layer *l, uint64_t p, size_t *c);
/* The pages of memory chunk c: extent by extent, [first, first+n). */
typedef int (*pager_run_fn)(uint64_t first, uint64_t n, void *arg);
int pager_layer_chunk_pages(const struct pager_layer *l, size_t c,
    pager_run_fn fn, void *arg);
/* The memory file's chunks made from its extents (chunk_size, nchunks);
 * chunk states for them, all state st.  0 or EX_OSERR. */
int pager_layer_chunks(struct pager_layer *l, enum pager_chunk_state st);
/* Whether l->dir holds the layer of the store's index l->idx (its
 * manifest.json is the index's). */
bool pager_layer_holds(const struct pager_layer *l);
/* A diff's pages bitmap, read from dir and checked. */
int pager_layer_bitmap(struct pager_layer *l, const char *dir);
/* Logs (at -v) what was fetched for a stored layer: requests, retries
 * and bytes against its objects' size, chunk fetches by faults and by
 * the transfer and those of a chunk fetched before, files fetched whole.
 * Once no thread fetches any more. */
void pager_layer_summary(const struct pager_layer *l);
/* Closes everything; the temporary directory removed if it is left. */
void pager_layer_free(struct pager_layer *l);

/* ---- pager_local.c */

/* A complete layer in l->dir: manifest read, memory file opened and
 * checked as a restore does, a diff's bitmap.  0 or a sysexits status,
 * logged. */
int pager_local_open(struct pager_layer *l);

/* ---- pager_store.c */

/* A layer in a store, l->uri, for l->dir: if l->dir holds it already it
 * is opened as a local one (l->store false); else its index read
 * (version 3 or later), the temporary directory made and manifest.json
 * fetched and checked against the index, over the layer's connection,
 * the fault path's, which goes at pace's rate.  0 or a sysexits status,
 * logged. */
int pager_store_open(struct pager_layer *l, const struct s3conf *conf,
    const volatile sig_atomic_t *cancel, struct s3_pace *pace);
/* Then, for every layer of ls[0..nl-1] still in a store: every file but
 * manifest.json and memory fetched whole and checked, all of them at
 * once on conf's jobs connections at pace's rate (each layer's requests
 * counted on its net; stopped when *cancel is set); memory made at its
 * full size, a hole until fetched, and a diff's bitmap read.  0 or a
 * sysexits status, logged (the temporary directories are partial then:
 * pager_layer_free removes them). */
int pager_store_files(struct pager_layer *ls, int nl,
    const struct s3conf *conf, const volatile sig_atomic_t *cancel,
    struct s3_pace *pace);

/* ---- pager_stack.c */

struct pager_stack {
	int n;
	struct pager_layer layer[SNAP_MAX_LAYERS];
	const struct s3conf *conf;	/* NULL when no layer is in a store */
	const volatile sig_atomic_t *cancel;
	/* limit_rate, shared by every fetch: the files before listening,
	 * faults and the transfer (a fault's chunk shares the link with
	 * the transfer's chunks in flight; it starts no other meanwhile). */
	struct s3_pace pace;
	uint64_t npages;
	uint8_t *owner;			/* per page: the layer it comes from */
	/* The top layer's working set, if it has one. */
	bool has_ws;
	uint8_t *ws_data;
	size_t ws_len;
	struct workset ws;
	/* Chunk states of every layer, shared with the transfer. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int next_li;			/* the transfer's cursor: under mu */
	size_t next_c;
	bool rescan;			/* a fault moved it: under mu */
	int faulting;			/* faults fetching: the transfer
					 * starts no chunk meanwhile; under mu */
};

/* st zeroed but for conf and cancel; specs[0..n-1], bottom first: DIR
 * or s3://BUCKET/PREFIX=DIR.  Every
 * layer opened, the stack checked as a restore checks it, the owner of
 * each page found, the working set read and checked.  0 or a sysexits
 * status, logged. */
int pager_stack_open(struct pager_stack *st, char *const *specs, int n);
/* Whether a spec names a layer in a store. */
bool pager_spec_store(const char *spec);
/* After pager_stack_open, whatever it returned. */
void pager_stack_free(struct pager_stack *st);

/* ---- pager_chunk.c: the chunks of the layers' memory files */

/* Makes chunk c of layer l present in its memory file, fetched over s
 * and checked, unless it is there already or a transfer thread is
 * fetching it (then waits for that); the transfer then goes on after
 * it.  0, or a status with e set. */
int pager_chunk_get(struct pager_stack *st, struct pager_layer *l,
    size_t c, struct s3 *s, struct pager_err *e);
/* Claims the next absent chunk, *c of layer *li, in layer and chunk
 * order from the transfer's cursor, which moves on (and starts again
 * once from the first chunk after a fault moved it).  False when none is
 * left. */
bool pager_chunk_claim(struct pager_stack *st, int *li, size_t *c);
/* Fetches a claimed chunk (counted as by's); it is absent again if that
 * fails. */
int pager_chunk_fetch(struct pager_stack *st, struct pager_layer *l,
    size_t c, enum pager_by by, struct s3 *s, struct pager_err *e);
/* Chunks not present over the stack, once no fetch is in flight. */
size_t pager_chunk_missing(struct pager_stack *st);

/* ---- pager_xfer.c: the background transfer */

struct pager_xfer {
	struct pager_stack *st;
	pthread_t t[PAGER_XFER_MAX];
	int nthreads, running;		/* running: under st->mu */
	atomic_int stop;
	int efd;			/* readable once every thread ended */
	struct pager_err err;		/* the first failure: under st->mu */
	bool checked;			/* every file checked and synced */
};

/* Starts fetching every absent chunk, in object order, on conf's jobs
 * threads; then checks every file of each fetched layer against its
 * manifest and syncs it.  0 or EX_OSERR. */
int pager_xfer_start(struct pager_xfer *x, struct pager_stack *st);
/* Stops the threads (at their next request) and waits for them. */
void pager_xfer_stop(struct pager_xfer *x);
/* Waits for the threads to end by themselves: 0 when the transfer is
 * complete and checked, else its status (x->err). */
int pager_xfer_wait(struct pager_xfer *x);

/* ---- pager_fault.c: one missing page */

struct pager_srv {
	struct pager_stack *st;
	struct pager_mem mem;
	uint8_t *buf;			/* a chunk's pages, page-aligned */
	size_t buflen;
	uint64_t faults, copied;	/* counts, for the log */
};

/* Puts in the page at address addr and the rest of its chunk that the
 * same layer owns (fetched over the layer's connection if it must be):
 * 0; PAGER_GONE if the runner is; or a status with e set (the guest must
 * not run on). */
int pager_fault(struct pager_srv *sv, uint64_t addr, struct pager_err *e);

/* ---- pager_ws.c */

/* The working set's pages put in, before the guest runs: 0, PAGER_GONE,
 * or a status with e set; *n the pages put in. */
int pager_ws_install(struct pager_srv *sv, uint64_t *n,
    struct pager_err *e);

/* ---- pager_conn.c: the runner's socket */

/* A SOCK_SEQPACKET socket listening at path, mode 0600 (a socket left
 * there is replaced, anything else refused): the fd, or -1 logged. */
int pager_listen(const char *path);
/* The runner's connection and its HELLO, checked against the stack,
 * with its userfaultfd: 0, or a status with e set (c_fd may be open, to
 * send the ERROR on). */
int pager_accept(int lfd, const struct pager_stack *st,
    const volatile sig_atomic_t *cancel, int *c_fd, struct pager_mem *pm,
    struct pager_err *e);
/* Sends a reply: 0 or -1 (logged). */
int pager_send(int c_fd, enum pager_type type, int status, uint64_t pages,
    const char *msg);

/* ---- pager_done.c: the transfer's end */

/* Gives every fetched layer its destination's name (a layer that
 * appeared there meanwhile is kept if it is this one).  0 or a status,
 * logged. */
int pager_done_publish(struct pager_stack *st);

/* ---- pager_run.c: the program */

struct pager_opts {
	const struct s3conf *conf;	/* NULL: no layer is in a store */
	const char *socket;
	char *const *layers;
	int nlayers;
	const volatile sig_atomic_t *cancel;	/* SIGTERM and friends */
};

/* Serves one runner; 0 once it has hung up and every layer is complete
 * locally, else a sysexits status (snappager(1), EXIT STATUS). */
int pager_run(const struct pager_opts *o);

#endif
