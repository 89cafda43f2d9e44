/*
 * Reading a working set's header and tables: every field checked against
 * the file's size and the memory it is for before any of it is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "workset.h"

static uint64_t
round_page(uint64_t n)
{
	return (n + WORKSET_PAGE - 1) / WORKSET_PAGE * WORKSET_PAGE;
}

uint64_t
workset_max_size(uint64_t mem_pages)
{
	return WORKSET_TABLE_MAX + mem_pages * WORKSET_PAGE;
}

static uint64_t
table_end(uint32_t nlayers, uint32_t nruns)
{
	return WORKSET_HDR + (uint64_t)nlayers * sizeof(struct workset_layer) +
	    (uint64_t)nruns * sizeof(struct workset_run);
}

static int
hdr_counts(const char *name, const struct workset_hdr *h, uint64_t mem_pages)
{
	if (memcmp(h->magic, WORKSET_MAGIC, 8) != 0) {
		log_warnx("%s: not a working set (no SNAPVMWS)", name);
		return -1;
	}
	if (h->version != WORKSET_VERSION) {
		log_warnx("%s: working set version %u, this program reads %d",
		    name, h->version, WORKSET_VERSION);
		return -1;
	}
	if (h->nlayers < 1 || h->nlayers > SNAP_MAX_LAYERS) {
		log_warnx("%s: field nlayers: %u, 1 to %d", name, h->nlayers,
		    SNAP_MAX_LAYERS);
		return -1;
	}
	if (h->nruns < 1 || h->nruns > WORKSET_MAX_RUNS) {
		log_warnx("%s: field nruns: %u, 1 to %d", name, h->nruns,
		    WORKSET_MAX_RUNS);
		return -1;
	}
	if (h->npages < h->nruns || h->npages > mem_pages) {
		log_warnx("%s: field npages: %ju, %u to %ju", name,
		    (uintmax_t)h->npages, h->nruns, (uintmax_t)mem_pages);
		return -1;
	}
	return 0;
}

int
workset_parse_hdr(const char *name, const void *hdr, uint64_t file_size,
    uint64_t mem_pages, struct workset *ws, size_t *table)
{
	static const uint8_t zero[24];
	struct workset_hdr h;
	uint64_t off;

	memset(ws, 0, sizeof(*ws));
	memcpy(&h, hdr, sizeof(h));
	if (hdr_counts(name, &h, mem_pages) == -1)
		return -1;
	if (h.reserved != 0 || memcmp(h.zero, zero, sizeof(zero)) != 0) {
		log_warnx("%s: reserved header bytes are not zero", name);
		return -1;
	}
	off = round_page(table_end(h.nlayers, h.nruns));
	if (h.data_off != off) {
		log_warnx("%s: field data_off: %ju, the tables end at %ju", name,
		    (uintmax_t)h.data_off, (uintmax_t)off);
		return -1;
	}
	if (file_size != off + h.npages * WORKSET_PAGE) {
		log_warnx("%s: %ju bytes, %ju for %ju pages (truncated or "
		    "padded)", name, (uintmax_t)file_size,
		    (uintmax_t)(off + h.npages * WORKSET_PAGE),
		    (uintmax_t)h.npages);
		return -1;
	}
	ws->nlayers = h.nlayers;
	ws->nruns = h.nruns;
	ws->npages = h.npages;
	ws->data_off = h.data_off;
	*table = (size_t)off;
	return 0;
}

/* Runs in ascending order, each inside memory, none touching the next
 * (a builder joins those), their lengths adding up to npages. */
static int
check_runs(const char *name, const struct workset *ws, uint64_t mem_pages)
{
	uint64_t sum = 0, next = 0;

	for (uint32_t i = 0; i < ws->nruns; i++) {
		const struct workset_run *r = &ws->run[i];

		if (r->count == 0 || r->first < next || r->first >= mem_pages ||
		    r->count > mem_pages - r->first ||
		    (i > 0 && r->first == next)) {
			log_warnx("%s: run %u (page %ju, %ju pages): empty, out of "
			    "order, joining the one before or past the end of "
			    "memory (%ju pages)", name, i, (uintmax_t)r->first,
			    (uintmax_t)r->count, (uintmax_t)mem_pages);
			return -1;
		}
		next = r->first + r->count;
		sum += r->count;
	}
	if (sum != ws->npages) {
		log_warnx("%s: the runs hold %ju pages, field npages says %ju",
		    name, (uintmax_t)sum, (uintmax_t)ws->npages);
		return -1;
	}
	return 0;
}

int
workset_parse_table(const char *name, const uint8_t *table,
    uint64_t mem_pages, struct workset *ws)
{
	const uint8_t *p = table + WORKSET_HDR, *end = table + ws->data_off;
	size_t runs = (size_t)ws->nruns * sizeof(struct workset_run);

	memcpy(ws->layer, p, ws->nlayers * sizeof(struct workset_layer));
	p += ws->nlayers * sizeof(struct workset_layer);
	if ((ws->run = malloc(runs)) == NULL) {
		log_warn("%s", name);
		return -1;
	}
	memcpy(ws->run, p, runs);
	for (p += runs; p < end; p++)
		if (*p != 0) {
			log_warnx("%s: the padding before the pages is not zero",
			    name);
			return -1;
		}
	return check_runs(name, ws, mem_pages);
}

int
workset_parse(const char *name, const uint8_t *buf, size_t len,
    uint64_t mem_pages, struct workset *ws)
{
	size_t table;

	if (len < WORKSET_HDR) {
		log_warnx("%s: %zu bytes, too short for a working set", name,
		    len);
		return -1;
	}
	if (workset_parse_hdr(name, buf, len, mem_pages, ws, &table) == -1)
		return -1;
	if (workset_parse_table(name, buf, mem_pages, ws) == -1) {
		workset_free(ws);
		return -1;
	}
	return 0;
}

void
workset_free(struct workset *ws)
{
	free(ws->run);
	ws->run = NULL;
}

static void
hex(const uint8_t bin[32], char out[DIGEST_HEX])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", bin[i]);
}

int
workset_check_stack(const char *name, const struct workset *ws,
    const struct snap_meta *m, int n)
{
	char id[DIGEST_HEX], mem[DIGEST_HEX];

	if ((int)ws->nlayers != n) {
		log_warnx("%s: made on a stack of %u layers, restored on %d "
		    "(stale working set)", name, ws->nlayers, n);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		hex(ws->layer[i].id, id);
		hex(ws->layer[i].memory, mem);
		if (strcmp(id, m[i].id) != 0 ||
		    strcmp(mem, m[i].file[SNAP_MEMORY].sha256) != 0) {
			log_warnx("%s: made on layer %.12s (memory %.12s) as layer "
			    "%d, the stack has %.12s (memory %.12s) there (stale "
			    "working set)", name, id, mem, i, m[i].id,
			    m[i].file[SNAP_MEMORY].sha256);
			return -1;
		}
	}
	return 0;
}
