/*
 * A --cpu-template file, as an operator (or a store) brings it: parsed
 * by cputmpl_parse(); one that passes is applied to a CPUID table made
 * of the rest of the input, which must stay within the table.
 */
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "cputmpl.h"
#include "fuzz.h"

static struct cputmpl tmpl;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvm_cpuid_entry2 e[24];

	fz_init();
	if (cputmpl_parse((const char *)data, size, "fuzz", &tmpl) == -1)
		return 0;
	if (tmpl.nmasks < 0 || tmpl.nmasks > CPUTMPL_MAX_MASKS ||
	    memchr(tmpl.name, '\0', sizeof(tmpl.name)) == NULL)
		abort();
	/* The leaves templates touch, every bit set. */
	memset(e, 0, sizeof(e));
	for (uint32_t i = 0; i < 24; i++) {
		e[i].function = i < 16 ? 0xd : i < 18 ? 7 : i < 20 ? 1 :
		    0x80000000 + i - 19;
		e[i].index = i < 16 ? i : i < 18 ? i - 16 : 0;
		e[i].eax = e[i].ebx = e[i].ecx = e[i].edx = 0xffffffff;
	}
	cputmpl_apply(&tmpl, e, 24);
	return 0;
}
