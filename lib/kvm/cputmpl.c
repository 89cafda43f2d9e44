/*
 * The features templates know by name, the built-in templates, and
 * applying a template to CPUID entries (see cputmpl.h and
 * snapvm-cpu-template(5)).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <linux/kvm.h>

#include "cputmpl.h"

#define A CPUTMPL_EAX
#define B CPUTMPL_EBX
#define C CPUTMPL_ECX
#define D CPUTMPL_EDX

/*
 * keep: the lowest x86-64 level whose built-in template keeps the
 * feature (2: every built-in keeps it; 5: none does).  A level keeps what
 * the psABI makes part of it and what every CPU of that generation has
 * (x86-64-v4 is the Skylake-SP and Zen 4 generation); it clears what
 * newer or one vendor's CPUs alone have, so that a guest of that level
 * restores on all of them.  System features the level does not name and
 * every such host has (pcid, x2apic, tsc-deadline, ...) are not listed:
 * templates leave them.
 */
static const struct {
	struct cputmpl_feature f;
	int keep;
} cputmpl_features[] = {
	{ { "pclmulqdq", 1, 0, C, 1 }, 2 },
	{ { "fma", 1, 0, C, 12 }, 3 },
	{ { "cx16", 1, 0, C, 13 }, 2 },
	{ { "sse4_1", 1, 0, C, 19 }, 2 },
	{ { "sse4_2", 1, 0, C, 20 }, 2 },
	{ { "movbe", 1, 0, C, 22 }, 3 },
	{ { "popcnt", 1, 0, C, 23 }, 2 },
	{ { "aes", 1, 0, C, 25 }, 2 },
	{ { "xsave", 1, 0, C, 26 }, 3 },
	{ { "osxsave", 1, 0, C, 27 }, 3 },
	{ { "avx", 1, 0, C, 28 }, 3 },
	{ { "f16c", 1, 0, C, 29 }, 3 },
	{ { "rdrand", 1, 0, C, 30 }, 3 },
	{ { "fsgsbase", 7, 0, B, 0 }, 3 },
	{ { "bmi1", 7, 0, B, 3 }, 3 },
	{ { "hle", 7, 0, B, 4 }, 5 },
	{ { "avx2", 7, 0, B, 5 }, 3 },
	{ { "smep", 7, 0, B, 7 }, 3 },
	{ { "bmi2", 7, 0, B, 8 }, 3 },
	{ { "invpcid", 7, 0, B, 10 }, 3 },
	{ { "rtm", 7, 0, B, 11 }, 5 },
	{ { "mpx", 7, 0, B, 14 }, 5 },
	{ { "avx512f", 7, 0, B, 16 }, 4 },
	{ { "avx512dq", 7, 0, B, 17 }, 4 },
	{ { "rdseed", 7, 0, B, 18 }, 4 },
	{ { "adx", 7, 0, B, 19 }, 4 },
	{ { "smap", 7, 0, B, 20 }, 4 },
	{ { "avx512ifma", 7, 0, B, 21 }, 5 },
	{ { "clflushopt", 7, 0, B, 23 }, 4 },
	{ { "clwb", 7, 0, B, 24 }, 4 },
	{ { "avx512pf", 7, 0, B, 26 }, 5 },
	{ { "avx512er", 7, 0, B, 27 }, 5 },
	{ { "avx512cd", 7, 0, B, 28 }, 4 },
	{ { "sha_ni", 7, 0, B, 29 }, 5 },
	{ { "avx512bw", 7, 0, B, 30 }, 4 },
	{ { "avx512vl", 7, 0, B, 31 }, 4 },
	{ { "avx512vbmi", 7, 0, C, 1 }, 5 },
	{ { "pku", 7, 0, C, 3 }, 4 },
	{ { "ospke", 7, 0, C, 4 }, 4 },
	{ { "waitpkg", 7, 0, C, 5 }, 5 },
	{ { "avx512_vbmi2", 7, 0, C, 6 }, 5 },
	{ { "user_shstk", 7, 0, C, 7 }, 5 },
	{ { "gfni", 7, 0, C, 8 }, 5 },
	{ { "vaes", 7, 0, C, 9 }, 5 },
	{ { "vpclmulqdq", 7, 0, C, 10 }, 5 },
	{ { "avx512_vnni", 7, 0, C, 11 }, 5 },
	{ { "avx512_bitalg", 7, 0, C, 12 }, 5 },
	{ { "avx512_vpopcntdq", 7, 0, C, 14 }, 5 },
	{ { "la57", 7, 0, C, 16 }, 5 },
	{ { "rdpid", 7, 0, C, 22 }, 5 },
	{ { "cldemote", 7, 0, C, 25 }, 5 },
	{ { "movdiri", 7, 0, C, 27 }, 5 },
	{ { "movdir64b", 7, 0, C, 28 }, 5 },
	{ { "avx512_4vnniw", 7, 0, D, 2 }, 5 },
	{ { "avx512_4fmaps", 7, 0, D, 3 }, 5 },
	{ { "avx512_vp2intersect", 7, 0, D, 8 }, 5 },
	{ { "serialize", 7, 0, D, 14 }, 5 },
	{ { "tsxldtrk", 7, 0, D, 16 }, 5 },
	{ { "ibt", 7, 0, D, 20 }, 5 },
	{ { "amx_bf16", 7, 0, D, 22 }, 5 },
	{ { "avx512_fp16", 7, 0, D, 23 }, 5 },
	{ { "amx_tile", 7, 0, D, 24 }, 5 },
	{ { "amx_int8", 7, 0, D, 25 }, 5 },
	{ { "avx_vnni", 7, 1, A, 4 }, 5 },
	{ { "avx512_bf16", 7, 1, A, 5 }, 5 },
	{ { "cmpccxadd", 7, 1, A, 7 }, 5 },
	{ { "amx_fp16", 7, 1, A, 21 }, 5 },
	{ { "avx_ifma", 7, 1, A, 23 }, 5 },
	{ { "avx_vnni_int8", 7, 1, D, 4 }, 5 },
	{ { "avx_ne_convert", 7, 1, D, 5 }, 5 },
	{ { "prefetchiti", 7, 1, D, 14 }, 5 },
	{ { "avx10", 7, 1, D, 19 }, 5 },
	{ { "apx", 7, 1, D, 21 }, 5 },
	{ { "xsaveopt", 0xd, 1, A, 0 }, 3 },
	{ { "xsavec", 0xd, 1, A, 1 }, 4 },
	{ { "xgetbv1", 0xd, 1, A, 2 }, 3 },
	{ { "xsaves", 0xd, 1, A, 3 }, 4 },
	{ { "lahf_lm", 0x80000001, 0, C, 0 }, 2 },
	{ { "abm", 0x80000001, 0, C, 5 }, 3 },
	{ { "sse4a", 0x80000001, 0, C, 6 }, 5 },
	{ { "misalignsse", 0x80000001, 0, C, 7 }, 5 },
	{ { "3dnowprefetch", 0x80000001, 0, C, 8 }, 4 },
	{ { "xop", 0x80000001, 0, C, 11 }, 5 },
	{ { "fma4", 0x80000001, 0, C, 16 }, 5 },
	{ { "tbm", 0x80000001, 0, C, 21 }, 5 },
	{ { "clzero", 0x80000008, 0, B, 0 }, 5 },
	{ { "wbnoinvd", 0x80000008, 0, B, 9 }, 5 },
};
#define NFEATURES (sizeof(cputmpl_features) / sizeof(cputmpl_features[0]))

/* What cannot work once another feature is gone: VEX and EVEX
 * instructions need the XSAVE-managed AVX state, AVX-512 its foundation,
 * AMX its tiles.  In order: a feature cleared here may itself be a
 * prerequisite further down. */
static const struct { const char *needs, *feature; } cputmpl_deps[] = {
	{ "xsave", "osxsave" }, { "xsave", "avx" }, { "xsave", "pku" },
	{ "xsave", "amx_tile" }, { "xsave", "xsaveopt" },
	{ "xsave", "xsavec" }, { "xsave", "xgetbv1" }, { "xsave", "xsaves" },
	{ "xsave", "apx" }, { "xsave", "mpx" },
	{ "pku", "ospke" },
	{ "avx", "fma" }, { "avx", "f16c" }, { "avx", "avx2" },
	{ "avx", "vaes" }, { "avx", "vpclmulqdq" }, { "avx", "avx_vnni" },
	{ "avx", "avx_ifma" }, { "avx", "avx_vnni_int8" },
	{ "avx", "avx_ne_convert" }, { "avx", "avx10" },
	{ "avx", "avx512f" }, { "avx", "fma4" }, { "avx", "xop" },
	{ "avx512f", "avx512dq" }, { "avx512f", "avx512ifma" },
	{ "avx512f", "avx512pf" }, { "avx512f", "avx512er" },
	{ "avx512f", "avx512cd" }, { "avx512f", "avx512bw" },
	{ "avx512f", "avx512vl" }, { "avx512f", "avx512vbmi" },
	{ "avx512f", "avx512_vbmi2" }, { "avx512f", "avx512_vnni" },
	{ "avx512f", "avx512_bitalg" }, { "avx512f", "avx512_vpopcntdq" },
	{ "avx512f", "avx512_4vnniw" }, { "avx512f", "avx512_4fmaps" },
	{ "avx512f", "avx512_vp2intersect" }, { "avx512f", "avx512_fp16" },
	{ "avx512f", "avx512_bf16" },
	{ "amx_tile", "amx_bf16" }, { "amx_tile", "amx_int8" },
	{ "amx_tile", "amx_fp16" },
};

/* XSAVE state components and the feature each belongs to; supervisor
 * components are in XSS (leaf 0xd.1 ECX), the others in XCR0 (0xd.0
 * EAX). */
static const struct { uint8_t bit; bool xss; const char *feature; }
cputmpl_components[] = {
	{ 2, false, "avx" }, { 3, false, "mpx" }, { 4, false, "mpx" },
	{ 5, false, "avx512f" }, { 6, false, "avx512f" },
	{ 7, false, "avx512f" }, { 9, false, "pku" },
	{ 11, true, "user_shstk" }, { 12, true, "user_shstk" },
	{ 17, false, "amx_tile" }, { 18, false, "amx_tile" },
	{ 19, false, "apx" },
};

/* Leaves that describe one feature alone, zeroed without it. */
static const struct { uint32_t leaf; const char *feature; }
cputmpl_leaves[] = {
	{ 0xd, "xsave" }, { 0x1d, "amx_tile" }, { 0x1e, "amx_tile" },
	{ 0x24, "avx10" },
};

#define XSAVE_LEGACY_SIZE	576	/* legacy area and header */

const char cputmpl_builtin_list[] = "host, x86-64-v2, x86-64-v3, x86-64-v4";

const struct cputmpl_feature *
cputmpl_feature(const char *name)
{
	for (size_t i = 0; i < NFEATURES; i++)
		if (strcmp(cputmpl_features[i].f.name, name) == 0)
			return &cputmpl_features[i].f;
	return NULL;
}

const struct cputmpl_feature *
cputmpl_feature_at(uint32_t leaf, uint32_t subleaf, enum cputmpl_reg reg,
    unsigned bit)
{
	for (size_t i = 0; i < NFEATURES; i++) {
		const struct cputmpl_feature *f = &cputmpl_features[i].f;

		if (f->leaf == leaf && f->subleaf == subleaf && f->reg == reg &&
		    f->bit == bit)
			return f;
	}
	return NULL;
}

uint32_t *
cputmpl_reg(struct kvm_cpuid_entry2 *e, enum cputmpl_reg r)
{
	return r == CPUTMPL_EAX ? &e->eax : r == CPUTMPL_EBX ? &e->ebx :
	    r == CPUTMPL_ECX ? &e->ecx : &e->edx;
}

static void
builtin_level(int level, struct cputmpl *t)
{
	for (size_t i = 0; i < NFEATURES; i++) {
		const struct cputmpl_feature *f = &cputmpl_features[i].f;

		if (cputmpl_features[i].keep <= level)
			continue;
		t->mask[t->nmasks++] = (struct cputmpl_mask){ f->leaf,
		    f->subleaf, f->reg, 1U << f->bit };
	}
}

int
cputmpl_builtin(const char *name, struct cputmpl *t)
{
	int level = 0;

	if (strcmp(name, "host") != 0 && (strncmp(name, "x86-64-v", 8) != 0 ||
	    name[8] < '2' || name[8] > '4' || name[9] != '\0'))
		return -1;
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	if (name[0] == 'x')
		level = name[8] - '0';
	if (level != 0)
		builtin_level(level, t);
	return 0;
}

static bool
mask_matches(const struct cputmpl_mask *m, const struct kvm_cpuid_entry2 *e)
{
	return m->leaf == e->function && (m->subleaf == CPUTMPL_ANY_SUBLEAF ||
	    m->subleaf == e->index);
}

const struct kvm_cpuid_entry2 *
cputmpl_find(const struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t leaf,
    uint32_t subleaf)
{
	for (uint32_t i = 0; i < n; i++)
		if (e[i].function == leaf && e[i].index == subleaf)
			return &e[i];
	return NULL;
}

/* The same, to change: e is the caller's own. */
static struct kvm_cpuid_entry2 *
find_entry(struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t leaf,
    uint32_t subleaf)
{
	return (struct kvm_cpuid_entry2 *)cputmpl_find(e, n, leaf, subleaf);
}

static bool
has_feature(struct kvm_cpuid_entry2 *e, uint32_t n, const char *name)
{
	const struct cputmpl_feature *f = cputmpl_feature(name);
	struct kvm_cpuid_entry2 *x = find_entry(e, n, f->leaf, f->subleaf);

	return x != NULL && (*cputmpl_reg(x, f->reg) >> f->bit & 1) != 0;
}

static void
clear_feature(struct kvm_cpuid_entry2 *e, uint32_t n, const char *name)
{
	const struct cputmpl_feature *f = cputmpl_feature(name);
	struct kvm_cpuid_entry2 *x = find_entry(e, n, f->leaf, f->subleaf);

	if (x != NULL)
		*cputmpl_reg(x, f->reg) &= ~(1U << f->bit);
}

static void
clear_dependents(struct kvm_cpuid_entry2 *e, uint32_t n)
{
	for (size_t i = 0; i < sizeof(cputmpl_deps) / sizeof(cputmpl_deps[0]);
	    i++)
		if (!has_feature(e, n, cputmpl_deps[i].needs))
			clear_feature(e, n, cputmpl_deps[i].feature);
}

/* The largest standard-format area the components left in XCR0 need. */
static uint32_t
xsave_size(struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t xcr0)
{
	uint32_t size = XSAVE_LEGACY_SIZE;

	for (uint32_t c = 2; c < 32; c++) {
		struct kvm_cpuid_entry2 *x = find_entry(e, n, 0xd, c);

		if ((xcr0 >> c & 1) && x != NULL && x->ebx + x->eax > size)
			size = x->ebx + x->eax;
	}
	return size;
}

static void
fix_xsave_components(struct kvm_cpuid_entry2 *e, uint32_t n)
{
	struct kvm_cpuid_entry2 *d0 = find_entry(e, n, 0xd, 0),
	    *d1 = find_entry(e, n, 0xd, 1), *x;

	if (d0 == NULL)
		return;
	for (size_t i = 0; i < sizeof(cputmpl_components) /
	    sizeof(cputmpl_components[0]); i++) {
		uint32_t bit = 1U << cputmpl_components[i].bit;

		if (has_feature(e, n, cputmpl_components[i].feature))
			continue;
		if (cputmpl_components[i].xss && d1 != NULL)
			d1->ecx &= ~bit;
		else if (!cputmpl_components[i].xss)
			d0->eax &= ~bit;
		if ((x = find_entry(e, n, 0xd, cputmpl_components[i].bit)))
			x->eax = x->ebx = x->ecx = x->edx = 0;
	}
	d0->ecx = xsave_size(e, n, d0->eax);
	if (d0->ebx > d0->ecx)
		d0->ebx = d0->ecx;
}

static void
zero_orphan_leaves(struct kvm_cpuid_entry2 *e, uint32_t n)
{
	for (size_t i = 0; i < sizeof(cputmpl_leaves) / sizeof(cputmpl_leaves[0]);
	    i++) {
		if (has_feature(e, n, cputmpl_leaves[i].feature))
			continue;
		for (uint32_t j = 0; j < n; j++)
			if (e[j].function == cputmpl_leaves[i].leaf)
				e[j].eax = e[j].ebx = e[j].ecx = e[j].edx = 0;
	}
}

void
cputmpl_apply(const struct cputmpl *t, struct kvm_cpuid_entry2 *e,
    uint32_t n)
{
	if (t == NULL || t->nmasks == 0)
		return;
	for (uint32_t i = 0; i < n; i++)
		for (int m = 0; m < t->nmasks; m++)
			if (mask_matches(&t->mask[m], &e[i]))
				*cputmpl_reg(&e[i], t->mask[m].reg) &=
				    ~t->mask[m].bits;
	clear_dependents(e, n);
	fix_xsave_components(e, n);
	zero_orphan_leaves(e, n);
}
