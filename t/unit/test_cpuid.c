/*
 * The CPUID filter and the built-in templates, over the EPYC table of
 * cpuid_epyc.h.
 */
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "cpuid.h"
#include "cpuid_epyc.h"
#include "cputmpl.h"
#include "unit.h"
#include "vmconf.h"

#define N CPUID_EPYC_N

static struct kvm_cpuid2 *
table(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + sizeof(cpuid_epyc));

	c->nent = N;
	memcpy(c->entries, cpuid_epyc, sizeof(cpuid_epyc));
	return c;
}

static struct kvm_cpuid_entry2 *
entry(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t sub)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == leaf && c->entries[i].index == sub)
			return &c->entries[i];
	return NULL;
}

static int
has(struct kvm_cpuid2 *c, const char *name)
{
	const struct cputmpl_feature *f = cputmpl_feature(name);
	struct kvm_cpuid_entry2 *e = entry(c, f->leaf, f->subleaf);

	return e != NULL && (*cputmpl_reg(e, f->reg) >> f->bit & 1);
}

/* A guest of the template name, vCPU 0 of 1. */
static struct kvm_cpuid2 *
guest(const char *name)
{
	struct cputmpl t;
	struct kvm_cpuid2 *sup = table(), *c;

	CHECK_EQ(cputmpl_builtin(name, &t), 0);
	c = cpuid_guest(sup, &t, 0, 1);
	free(sup);
	return c;
}

static void
test_filter(void)
{
	struct kvm_cpuid2 *c = table();

	cpuid_filter(c->entries, c->nent, 1, 2);
	CHECK_EQ(entry(c, 1, 0)->ebx, 0x01020800);
	CHECK_EQ(entry(c, 1, 0)->ecx & (1U << 3), 0);		/* MONITOR */
	CHECK(entry(c, 1, 0)->ecx & (1U << 31));		/* hypervisor */
	CHECK(entry(c, 1, 0)->edx & (1U << 28));		/* HTT */
	CHECK_EQ(entry(c, 0xa, 0)->eax | entry(c, 0xa, 0)->edx, 0);
	CHECK_EQ(entry(c, 0xb, 0)->edx, 1);
	CHECK_EQ(entry(c, 0xb, 1)->edx, 1);
	CHECK_EQ(entry(c, 0xb, 1)->ecx, 0x201);
	/* Features pass as KVM reports them. */
	CHECK(memcmp(entry(c, 7, 0), &cpuid_epyc[2], sizeof(cpuid_epyc[2])) ==
	    0);
	CHECK(memcmp(entry(c, 0xd, 0), &cpuid_epyc[7], sizeof(cpuid_epyc[7])) ==
	    0);
	CHECK_EQ(entry(c, 1, 0)->ecx & ~0x80000008U,
	    cpuid_epyc[1].ecx & ~0x80000008U);
	cpuid_filter(c->entries, c->nent, 0, 1);
	CHECK_EQ(entry(c, 1, 0)->edx & (1U << 28), 0);		/* one vCPU */
	CHECK_EQ(entry(c, 1, 0)->ebx, 0x00010800);
	free(c);
}

static void
test_host(void)
{
	struct kvm_cpuid2 *c = guest("host"), *f = table();

	cpuid_filter(f->entries, f->nent, 0, 1);
	CHECK(memcmp(c, f, sizeof(*c) + sizeof(cpuid_epyc)) == 0);
	cputmpl_apply(NULL, f->entries, f->nent);
	CHECK(memcmp(c, f, sizeof(*c) + sizeof(cpuid_epyc)) == 0);
	free(c);
	free(f);
}

static void
check_all(struct kvm_cpuid2 *c, const char *const *names, int want)
{
	for (int i = 0; names[i] != NULL; i++)
		if (!has(c, names[i]) != !want) {
			unit_failed++;
			printf("#   %s: expected %s\n", names[i],
			    want ? "kept" : "cleared");
		}
}

static const char *const v2_keeps[] = { "sse4_1", "sse4_2", "popcnt",
	"cx16", "aes", "pclmulqdq", "lahf_lm", NULL };
static const char *const v3_keeps[] = { "avx", "avx2", "bmi1", "bmi2",
	"fma", "f16c", "movbe", "abm", "xsave", "xsaveopt", "rdrand",
	"fsgsbase", "smep", NULL };
static const char *const v4_keeps[] = { "avx512f", "avx512dq", "avx512cd",
	"avx512bw", "avx512vl", "clwb", "adx", "smap", "xsavec", NULL };
static const char *const never_kept[] = { "sha_ni", "gfni", "vaes",
	"vpclmulqdq", "avx512_vnni", "avx512vbmi", "avx512_vbmi2",
	"avx512_bitalg", "avx512_vpopcntdq", "avx512_bf16", "avx_vnni",
	"avx512ifma", "rdpid", "la57", NULL };

static void
test_v4(void)
{
	struct kvm_cpuid2 *c = guest("x86-64-v4");

	check_all(c, v2_keeps, 1);
	check_all(c, v3_keeps, 1);
	check_all(c, v4_keeps, 1);
	check_all(c, never_kept, 0);
	CHECK_EQ(entry(c, 0xd, 0)->eax, 0xe7);		/* AVX-512 state kept */
	CHECK_EQ(entry(c, 0xd, 0)->ecx, 0x980);
	CHECK_EQ(entry(c, 0xd, 7)->eax, 0x400);
	free(c);
}

static void
test_v3(void)
{
	struct kvm_cpuid2 *c = guest("x86-64-v3");

	check_all(c, v2_keeps, 1);
	check_all(c, v3_keeps, 1);
	check_all(c, v4_keeps, 0);
	check_all(c, never_kept, 0);
	CHECK_EQ(entry(c, 0xd, 0)->eax, 0x7);		/* x87, SSE, AVX */
	CHECK_EQ(entry(c, 0xd, 0)->ecx, 0x340);		/* 576 + 256 */
	CHECK_EQ(entry(c, 0xd, 0)->ebx, 0x340);
	CHECK_EQ(entry(c, 0xd, 2)->eax, 0x100);
	for (uint32_t s = 5; s <= 7; s++)
		CHECK_EQ(entry(c, 0xd, s)->eax | entry(c, 0xd, s)->ebx, 0);
	free(c);
}

static void
test_v2(void)
{
	struct kvm_cpuid2 *c = guest("x86-64-v2");

	check_all(c, v2_keeps, 1);
	check_all(c, v3_keeps, 0);
	check_all(c, v4_keeps, 0);
	check_all(c, never_kept, 0);
	CHECK(!has(c, "osxsave"));
	for (uint32_t s = 0; s <= 7; s++) {
		struct kvm_cpuid_entry2 *e = entry(c, 0xd, s);

		if (e != NULL)
			CHECK_EQ(e->eax | e->ebx | e->ecx | e->edx, 0);
	}
	/* What no template touches. */
	CHECK(entry(c, 1, 0)->ecx & (1U << 31));
	CHECK_EQ(entry(c, 0x80000008, 0)->eax, 0x3030);
	free(c);
}

/* A file's "clear avx" takes what needs AVX with it, and its state. */
static void
test_dependents(void)
{
	static const char text[] = "snapvm-cpu-template 1\nname no-avx\n"
	    "clear avx\n";
	struct cputmpl t;
	struct kvm_cpuid2 *sup = table(), *c;

	CHECK_EQ(cputmpl_parse(text, sizeof(text) - 1, "t", &t), 0);
	c = cpuid_guest(sup, &t, 0, 1);
	CHECK(!has(c, "avx") && !has(c, "avx2") && !has(c, "fma") &&
	    !has(c, "avx512f") && !has(c, "avx512vl") && !has(c, "f16c"));
	CHECK(has(c, "xsave") && has(c, "bmi2") && has(c, "popcnt"));
	CHECK_EQ(entry(c, 0xd, 0)->eax, 0x3);
	CHECK_EQ(entry(c, 0xd, 0)->ecx, 576);
	CHECK_EQ(entry(c, 0xd, 2)->eax, 0);
	free(c);
	free(sup);
}

static void
test_builtin_names(void)
{
	struct cputmpl t;

	CHECK_EQ(cputmpl_builtin("x86-64-v1", &t), -1);
	CHECK_EQ(cputmpl_builtin("x86-64-v44", &t), -1);
	CHECK_EQ(cputmpl_builtin("Host", &t), -1);
	CHECK_EQ(cputmpl_builtin("host", &t), 0);
	CHECK_EQ(t.nmasks, 0);
	CHECK_EQ(cputmpl_load("x86-64-v3", &t), 0);
	CHECK(strcmp(t.name, "x86-64-v3") == 0);
	CHECK(t.nmasks > 0);
}

/* noxsave and clearcpuid= only with the workarounds. */
static void
test_cmdline(void)
{
	struct vm_config cfg = { 0 };
	char line[2048];

	CHECK_EQ(vmconf_cmdline(&cfg, line, sizeof(line)), 0);
	CHECK(strstr(line, "noxsave") == NULL);
	CHECK(strstr(line, "clearcpuid") == NULL);
	CHECK(strstr(line, "console=ttyS0 reboot=t panic=-1 quiet") == line);
	cfg.cmdline_workarounds = true;
	CHECK_EQ(vmconf_cmdline(&cfg, line, sizeof(line)), 0);
	CHECK(strstr(line, " noxsave clearcpuid=cx16,popcnt,") != NULL);
	cfg.cmdline = "clearcpuid=avx";
	CHECK_EQ(vmconf_cmdline(&cfg, line, sizeof(line)), 0);
	CHECK(strstr(line, "clearcpuid=cx16") == NULL);
	CHECK(strstr(line, " noxsave clearcpuid=avx") != NULL);
}

static const struct unit_test tests[] = {
	{ "cpuid: the filter over a recorded table", test_filter },
	{ "cpuid: host passes what the filter passes", test_host },
	{ "cpuid: x86-64-v4 keeps AVX-512F/BW/CD/DQ/VL, not newer", test_v4 },
	{ "cpuid: x86-64-v3 keeps AVX2, BMI, FMA; no AVX-512 state", test_v3 },
	{ "cpuid: x86-64-v2 keeps SSE4.2, POPCNT; no XSAVE, AVX", test_v2 },
	{ "cpuid: clearing AVX clears what needs it", test_dependents },
	{ "cpuid: built-in names", test_builtin_names },
	{ "cpuid: emulator workarounds on the command line", test_cmdline },
};

UNIT_MAIN(tests)
