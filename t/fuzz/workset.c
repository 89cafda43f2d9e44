/*
 * A layer's working set, as a shared store brings it: the header and
 * tables checked by workset_parse() for a memory of 16 MiB (4096 pages).
 * One that passes must hold only runs inside that memory, in order, and
 * exactly as many pages as its size says.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "workset.h"

#define FZ_PAGES	4096

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct workset ws;
	uint64_t next = 0, sum = 0;

	fz_init();
	if (workset_parse("workset", data, size, FZ_PAGES, &ws) == -1)
		return 0;
	for (uint32_t i = 0; i < ws.nruns; i++) {
		if (ws.run[i].first < next || ws.run[i].count == 0 ||
		    ws.run[i].first + ws.run[i].count > FZ_PAGES)
			abort();
		next = ws.run[i].first + ws.run[i].count;
		sum += ws.run[i].count;
	}
	if (sum != ws.npages || ws.data_off % WORKSET_PAGE != 0 ||
	    ws.data_off + ws.npages * WORKSET_PAGE != size) {
		fprintf(stderr, "workset: a working set passed that does not "
		    "add up\n");
		abort();
	}
	workset_free(&ws);
	return 0;
}
