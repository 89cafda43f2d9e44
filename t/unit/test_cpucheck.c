/*
 * Whether a host can give a restored guest its recorded CPU: over the
 * EPYC table (cpuid_epyc.h), masked by the built-in templates to play
 * older hosts and older records.
 */
#include <string.h>

#include <linux/kvm.h>

#include "cpucheck.h"
#include "cpuid_epyc.h"
#include "cputmpl.h"
#include "unit.h"

#define N CPUID_EPYC_N

static void
masked(const char *template, struct kvm_cpuid_entry2 out[N])
{
	struct cputmpl t;

	memcpy(out, cpuid_epyc, sizeof(cpuid_epyc));
	if (cputmpl_builtin(template, &t) == 0)
		cputmpl_apply(&t, out, N);
}

static struct kvm_cpuid_entry2 *
entry(struct kvm_cpuid_entry2 *e, uint32_t leaf, uint32_t sub)
{
	for (uint32_t i = 0; i < N; i++)
		if (e[i].function == leaf && e[i].index == sub)
			return &e[i];
	return NULL;
}

/* A record made under a template restores where the host has more. */
static void
test_covered(void)
{
	struct kvm_cpuid_entry2 rec[N], host[N];
	char why[256];

	masked("host", host);
	for (int level = 2; level <= 4; level++) {
		char name[16];

		snprintf(name, sizeof(name), "x86-64-v%d", level);
		masked(name, rec);
		CHECK(cpucheck_missing(rec, N, host, N, why, sizeof(why)) == 0);
		CHECK(why[0] == '\0');
	}
	CHECK(cpucheck_missing(cpuid_epyc, N, cpuid_epyc, N, why,
	    sizeof(why)) == 0);
}

/* A host of an older level lacks what the record has, each named. */
static void
test_missing(void)
{
	struct kvm_cpuid_entry2 host[N];
	char why[512];
	int n;

	masked("x86-64-v3", host);
	n = cpucheck_missing(cpuid_epyc, N, host, N, why, sizeof(why));
	printf("# %d missing: %s\n", n, why);
	CHECK(n > 5);
	CHECK(strstr(why, "avx512f") != NULL);
	CHECK(strstr(why, "avx512bw") != NULL);
	CHECK(strstr(why, "XSAVE component 5") != NULL);	/* opmask */
	CHECK(strstr(why, "avx2") == NULL);
	masked("x86-64-v2", host);
	CHECK(cpucheck_missing(cpuid_epyc, N, host, N, why, sizeof(why)) > n);
	CHECK(strstr(why, "avx2") != NULL && strstr(why, "movbe") != NULL);
}

/* Bits KVM keeps in step with CR4 are no features; an unnamed bit is
 * named by its place; another vendor is refused. */
static void
test_special(void)
{
	struct kvm_cpuid_entry2 rec[N], host[N];
	char why[256];

	masked("host", rec);
	masked("host", host);
	entry(host, 1, 0)->ecx &= ~(1U << 27);		/* OSXSAVE */
	entry(host, 7, 0)->ecx &= ~(1U << 4);		/* OSPKE */
	CHECK(cpucheck_missing(rec, N, host, N, why, sizeof(why)) == 0);
	entry(rec, 7, 0)->edx |= 1U << 30;
	CHECK(cpucheck_missing(rec, N, host, N, why, sizeof(why)) == 1);
	CHECK(strcmp(why, "CPUID 0x7.0 EDX bit 30") == 0);
	masked("host", rec);
	entry(host, 0, 0)->ebx = 0x756e6547;		/* "Genu" */
	CHECK(cpucheck_missing(rec, N, host, N, why, sizeof(why)) == 1);
	CHECK(strstr(why, "vendor AuthenticAMD (this host Genu") == why);
}

/* A leaf the host lacks lacks every feature in it; a short buffer is cut
 * with "...", and the count stays whole. */
static void
test_short(void)
{
	struct kvm_cpuid_entry2 host[N];
	char why[24];
	int n;

	masked("host", host);
	entry(host, 7, 0)->function = 0x40;
	n = cpucheck_missing(cpuid_epyc, N, host, N, why, sizeof(why));
	CHECK(n > 10);
	CHECK(strlen(why) == sizeof(why) - 1);
	CHECK(strcmp(why + sizeof(why) - 4, "...") == 0);
	CHECK(cpucheck_missing(cpuid_epyc, N, host, N, NULL, 0) == n);
}

/* One fingerprint for CPUIDs that pass against each other, another when
 * a compared bit differs; CR4-driven bits and descriptive fields do not
 * count. */
static void
test_fingerprint(void)
{
	struct kvm_cpuid_entry2 a[N], b[N];
	char fa[CPUCHECK_FP_LEN], fb[CPUCHECK_FP_LEN];

	masked("host", a);
	masked("host", b);
	cpucheck_fingerprint(a, N, fa);
	CHECK(strlen(fa) == 8 && strspn(fa, "0123456789abcdef") == 8);
	entry(b, 1, 0)->ecx ^= 1U << 27;		/* OSXSAVE */
	entry(b, 1, 0)->eax ^= 0x10;			/* stepping */
	cpucheck_fingerprint(b, N, fb);
	CHECK(strcmp(fa, fb) == 0);
	masked("x86-64-v3", b);
	cpucheck_fingerprint(b, N, fb);
	CHECK(strcmp(fa, fb) != 0);
	masked("host", b);
	entry(b, 0x80000008, 0)->ebx ^= 1U << 9;	/* wbnoinvd */
	cpucheck_fingerprint(b, N, fb);
	CHECK(strcmp(fa, fb) != 0);
}

static const struct unit_test tests[] = {
	{ "cpucheck: records under a template fit a fuller host",
	  test_covered },
	{ "cpucheck: an older host's missing features are named",
	  test_missing },
	{ "cpucheck: CR4-driven bits, unnamed bits, another vendor",
	  test_special },
	{ "cpucheck: a leaf missing; a short buffer", test_short },
	{ "cpucheck: the fingerprint follows what is compared",
	  test_fingerprint },
};

UNIT_MAIN(tests)
