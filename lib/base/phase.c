#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "monotime.h"
#include "phase.h"

static const char *const phase_names[PHASE_N] = {
	"layers_checked", "memory_mapped", "workset_read",
	"kernel_loaded", "state_loaded",
	"first_run", "runtime_connected", "runtime_ready", "first_request",
	"first_response",
};

void
phase_start(struct phases *p, uint64_t t0_us)
{
	p->t0_us = t0_us;
}

void
phase_mark(struct phases *p, enum phase ph, bool faults)
{
	uint64_t none = 0;
	struct rusage ru;

	if (p == NULL || p->t0_us == 0 ||
	    __atomic_load_n(&p->at_us[ph], __ATOMIC_ACQUIRE) != 0)
		return;
	if (faults && getrusage(RUSAGE_SELF, &ru) == 0) {
		p->minflt[ph] = (uint64_t)ru.ru_minflt;
		p->majflt[ph] = (uint64_t)ru.ru_majflt;
		p->faults[ph] = true;
	}
	__atomic_compare_exchange_n(&p->at_us[ph], &none, mono_us(), false,
	    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

char *
phase_json(const struct phases *p)
{
	size_t cap = 64 + PHASE_N * 160, len;
	char *s = malloc(cap);
	const char *sep = "";

	if (s == NULL)
		return NULL;
	len = (size_t)snprintf(s, cap, "{\"timings\":[");
	for (int i = 0; i < PHASE_N; i++) {
		uint64_t at = __atomic_load_n(&p->at_us[i], __ATOMIC_ACQUIRE);

		if (at == 0)
			continue;
		at = at > p->t0_us ? at - p->t0_us : 0;
		len += (size_t)snprintf(s + len, cap - len,
		    "%s{\"phase\":\"%s\",\"ms\":%ju.%03ju", sep, phase_names[i],
		    (uintmax_t)(at / 1000), (uintmax_t)(at % 1000));
		if (p->faults[i])
			len += (size_t)snprintf(s + len, cap - len,
			    ",\"minflt\":%ju,\"majflt\":%ju",
			    (uintmax_t)p->minflt[i], (uintmax_t)p->majflt[i]);
		len += (size_t)snprintf(s + len, cap - len, "}");
		sep = ",";
	}
	snprintf(s + len, cap - len, "]}");
	return s;
}
