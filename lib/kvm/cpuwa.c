/* The CPU workarounds setting: its words and auto (cpuwa.h). */
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "cpuwa.h"

static const char *const cpuwa_words[] = {
	[CPUWA_AUTO] = "auto",
	[CPUWA_ON] = "on",
	[CPUWA_NOXSAVE] = "noxsave",
	[CPUWA_OFF] = "off",
};

int
cpuwa_parse(const char *word, enum cpuwa *w)
{
	for (size_t i = 0; i < sizeof(cpuwa_words) / sizeof(cpuwa_words[0]);
	    i++)
		if (strcmp(word, cpuwa_words[i]) == 0) {
			*w = (enum cpuwa)i;
			return 0;
		}
	return -1;
}

const char *
cpuwa_word(enum cpuwa w)
{
	return cpuwa_words[w];
}

enum cpuwa
cpuwa_auto(const char *kvm_path, enum cpuprobe_answer *answer)
{
	enum cpuprobe_answer a = CPUPROBE_NOKVM;

	if (access(kvm_path, R_OK | W_OK) == 0)
		a = cpuprobe_answer(kvm_path);
	if (answer != NULL)
		*answer = a;
	switch (a) {
	case CPUPROBE_NATIVE:
		return CPUWA_OFF;
	case CPUPROBE_NOXSAVE:
		return CPUWA_NOXSAVE;
	default:		/* emulated, no answer, no KVM */
		return CPUWA_ON;
	}
}
