/*
 * ctrl's configuration (snapvm-config(5)) through libyaml and yconf.c:
 * the input is ctrl.yaml, then a NUL byte, then functions.yaml (which
 * the seeds' ctrl.yaml names), both written to the scratch directory
 * and loaded with ctrlconf_load(), as ctrl starts.
 */
#include <stdlib.h>
#include <string.h>

#include "ctrlconf.h"
#include "fuzz.h"

static struct ctrl_conf conf;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t first = nul ? (size_t)(nul - data) : size;
	char path[300];

	fz_init();
	fz_file("functions.yaml", data + first + (nul != NULL),
	    size - first - (nul != NULL), path, sizeof(path));
	fz_file("ctrl.yaml", data, first, path, sizeof(path));
	ctrlconf_load(&conf, path);
	return 0;
}
