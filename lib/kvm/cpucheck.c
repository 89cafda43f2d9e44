#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <linux/kvm.h>

#include "cpucheck.h"
#include "cputmpl.h"
#include "hash.h"

/* The registers whose set bits each enable something the guest may use;
 * ignore: bits KVM rewrites at run time from the guest's own state. */
static const struct {
	uint32_t leaf, subleaf;
	enum cputmpl_reg reg;
	uint32_t ignore;
} cpucheck_regs[] = {
	{ 1, 0, CPUTMPL_ECX, 1U << 27 },	/* OSXSAVE: CR4.OSXSAVE */
	{ 1, 0, CPUTMPL_EDX, 0 },
	{ 7, 0, CPUTMPL_EBX, 0 },
	{ 7, 0, CPUTMPL_ECX, 1U << 4 },		/* OSPKE: CR4.PKE */
	{ 7, 0, CPUTMPL_EDX, 0 },
	{ 7, 1, CPUTMPL_EAX, 0 },
	{ 7, 1, CPUTMPL_EDX, 0 },
	{ 0xd, 0, CPUTMPL_EAX, 0 },		/* XCR0 components 0-31 */
	{ 0xd, 0, CPUTMPL_EDX, 0 },		/* and 32-63 */
	{ 0xd, 1, CPUTMPL_EAX, 0 },
	{ 0xd, 1, CPUTMPL_ECX, 0 },		/* XSS components */
	{ 0x80000001, 0, CPUTMPL_ECX, 0 },
	{ 0x80000001, 0, CPUTMPL_EDX, 0 },
	{ 0x80000008, 0, CPUTMPL_EBX, 0 },
};

static const char *const reg_name[] = { "EAX", "EBX", "ECX", "EDX" };

/* The names, as many as fit; the count goes on regardless. */
struct why {
	char *buf;
	size_t size, len;
	int n;
};

static void
why_add(struct why *w, const char *fmt, ...)
{
	char one[96];
	va_list ap;
	int k;

	va_start(ap, fmt);
	vsnprintf(one, sizeof(one), fmt, ap);
	va_end(ap);
	if (w->size == 0 || w->len + 1 >= w->size) {
		w->n++;
		return;
	}
	k = snprintf(w->buf + w->len, w->size - w->len, "%s%s",
	    w->n++ ? ", " : "", one);
	if (k >= 0 && (size_t)k < w->size - w->len) {
		w->len += (size_t)k;
	} else if (w->size >= 4) {
		memcpy(w->buf + w->size - 4, "...", 4);
		w->len = w->size - 1;
	}
}

static uint32_t
reg_of(const struct kvm_cpuid_entry2 *e, enum cputmpl_reg r)
{
	return r == CPUTMPL_EAX ? e->eax : r == CPUTMPL_EBX ? e->ebx :
	    r == CPUTMPL_ECX ? e->ecx : e->edx;
}

static void
name_bit(struct why *w, uint32_t leaf, uint32_t sub, enum cputmpl_reg r,
    unsigned bit)
{
	const struct cputmpl_feature *f = cputmpl_feature_at(leaf, sub, r, bit);

	if (f != NULL)
		why_add(w, "%s", f->name);
	else if (leaf == 0xd && (sub == 0 || r == CPUTMPL_ECX))
		why_add(w, "XSAVE component %u", r == CPUTMPL_EDX ? bit + 32 :
		    bit);
	else
		why_add(w, "CPUID 0x%x.%u %s bit %u", leaf, sub, reg_name[r],
		    bit);
}

/* Leaf 0's EBX, EDX, ECX: the vendor's twelve characters. */
static void
vendor(const struct kvm_cpuid_entry2 *e, uint32_t n, char out[13])
{
	const struct kvm_cpuid_entry2 *z = cputmpl_find(e, n, 0, 0);
	uint32_t r[3] = { 0, 0, 0 };

	if (z != NULL) {
		r[0] = z->ebx;
		r[1] = z->edx;
		r[2] = z->ecx;
	}
	memcpy(out, r, 12);
	out[12] = '\0';
	for (int i = 0; i < 12; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			out[i] = '?';
}

/* The features of one register the record has and the host lacks. */
static void
check_reg(struct why *w, size_t k, const struct kvm_cpuid_entry2 *rec,
    uint32_t nrec, const struct kvm_cpuid_entry2 *host, uint32_t nhost)
{
	uint32_t leaf = cpucheck_regs[k].leaf, sub = cpucheck_regs[k].subleaf;
	enum cputmpl_reg reg = cpucheck_regs[k].reg;
	const struct kvm_cpuid_entry2 *r = cputmpl_find(rec, nrec, leaf, sub);
	const struct kvm_cpuid_entry2 *h = cputmpl_find(host, nhost, leaf, sub);
	uint32_t lack;

	if (r == NULL)
		return;
	lack = reg_of(r, reg) & ~cpucheck_regs[k].ignore;
	if (h != NULL)
		lack &= ~reg_of(h, reg);
	for (unsigned bit = 0; bit < 32; bit++)
		if (lack >> bit & 1)
			name_bit(w, leaf, sub, reg, bit);
}

int
cpucheck_missing(const struct kvm_cpuid_entry2 *rec, uint32_t nrec,
    const struct kvm_cpuid_entry2 *host, uint32_t nhost, char *buf,
    size_t size)
{
	struct why w = { buf, size, 0, 0 };
	char rv[13], hv[13];

	if (size > 0)
		buf[0] = '\0';
	vendor(rec, nrec, rv);
	vendor(host, nhost, hv);
	if (strcmp(rv, hv) != 0)
		why_add(&w, "vendor %s (this host %s)", rv, hv);
	for (size_t k = 0; k < sizeof(cpucheck_regs) / sizeof(cpucheck_regs[0]);
	    k++)
		check_reg(&w, k, rec, nrec, host, nhost);
	return w.n;
}

void
cpucheck_fingerprint(const struct kvm_cpuid_entry2 *e, uint32_t n,
    char out[CPUCHECK_FP_LEN])
{
	unsigned char md[HASH_LEN];
	struct hash_ctx h;
	char v[13];

	hash_init(&h);
	vendor(e, n, v);
	hash_update(&h, v, 12);
	for (size_t k = 0; k < sizeof(cpucheck_regs) / sizeof(cpucheck_regs[0]);
	    k++) {
		const struct kvm_cpuid_entry2 *x = cputmpl_find(e, n,
		    cpucheck_regs[k].leaf, cpucheck_regs[k].subleaf);
		uint32_t r = x ? reg_of(x, cpucheck_regs[k].reg) &
		    ~cpucheck_regs[k].ignore : 0;
		unsigned char le[4] = { r & 0xff, r >> 8 & 0xff, r >> 16 & 0xff,
		    r >> 24 };

		hash_update(&h, le, sizeof(le));
	}
	hash_final(&h, md);
	snprintf(out, CPUCHECK_FP_LEN, "%02x%02x%02x%02x", md[0], md[1], md[2],
	    md[3]);
}
