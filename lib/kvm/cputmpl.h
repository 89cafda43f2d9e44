/*
 * CPU templates: the CPUID bits a guest must not see, so that a snapshot
 * made on one host restores on any host that can give its guest the
 * template's features.  A template is a list of masks, each clearing bits
 * of one register of one CPUID leaf (one subleaf, or every subleaf).
 * Applying one also clears what cannot work without a cleared feature
 * (AVX2 without AVX, AVX-512 without AVX512F, AVX without XSAVE, ...)
 * and keeps leaf 0xd, the XSAVE state components, consistent: a
 * component whose feature is gone leaves the XCR0 (or XSS) bits KVM
 * offers, its subleaf is zeroed and the area sizes are recomputed.
 *
 * Templates are pure data: built-ins by name, or a file in the format of
 * snapvm-cpu-template(5), parsed with every bad line reported as
 * "FILE:LINE: FIELD: why".  Nothing here needs /dev/kvm.
 */
#ifndef SNAPVM_CPUTMPL_H
#define SNAPVM_CPUTMPL_H

#include <stddef.h>
#include <stdint.h>

#define CPUTMPL_NAME_MAX	64	/* with the NUL */
#define CPUTMPL_MAX_MASKS	256
#define CPUTMPL_ANY_SUBLEAF	UINT32_MAX
#define CPUTMPL_VERSION		1	/* of the file format */
#define CPUTMPL_LINE_MAX	256	/* a file's longest line, newline included */
#define CPUTMPL_FILE_MAX	(64 * 1024)

struct kvm_cpuid_entry2;

enum cputmpl_reg { CPUTMPL_EAX, CPUTMPL_EBX, CPUTMPL_ECX, CPUTMPL_EDX };

struct cputmpl_mask {
	uint32_t leaf;
	uint32_t subleaf;	/* or CPUTMPL_ANY_SUBLEAF */
	enum cputmpl_reg reg;
	uint32_t bits;		/* the bits cleared */
};

struct cputmpl {
	char name[CPUTMPL_NAME_MAX];	/* "host", a built-in's, a file's */
	int nmasks;
	struct cputmpl_mask mask[CPUTMPL_MAX_MASKS];
};

/* A feature by its Linux /proc/cpuinfo name: one bit of one register. */
struct cputmpl_feature {
	const char *name;
	uint32_t leaf, subleaf;
	enum cputmpl_reg reg;
	uint8_t bit;
};

/* The named feature, or NULL. */
const struct cputmpl_feature *cputmpl_feature(const char *name);
/* The feature at that bit, or NULL if it has no name here. */
const struct cputmpl_feature *cputmpl_feature_at(uint32_t leaf,
    uint32_t subleaf, enum cputmpl_reg reg, unsigned bit);
/* The entry for leaf and subleaf among n, or NULL. */
const struct kvm_cpuid_entry2 *cputmpl_find(const struct kvm_cpuid_entry2 *e,
    uint32_t n, uint32_t leaf, uint32_t subleaf);
/* Register r of e (for tests and the probe). */
uint32_t *cputmpl_reg(struct kvm_cpuid_entry2 *e, enum cputmpl_reg r);

/* Whether name is "host" or a built-in; fills t if so.  The built-ins:
 * host (no mask), x86-64-v2, x86-64-v3, x86-64-v4. */
int cputmpl_builtin(const char *name, struct cputmpl *t);
/* "host, x86-64-v2, x86-64-v3, x86-64-v4", for messages. */
extern const char cputmpl_builtin_list[];

/*
 * Parses a template file's text (len bytes, which need not end in a
 * NUL).  0, or -1 with each bad line reported as "file:LINE: FIELD: why"
 * (at most a few; the first is always among them).
 */
int cputmpl_parse(const char *text, size_t len, const char *file,
    struct cputmpl *t);
/*
 * --cpu-template ARG: a built-in's name, else a file.  0, or the exit
 * status (sysexits.h) after a message: EX_NOINPUT for a file that cannot
 * be read, EX_DATAERR for one that is not a valid template.
 */
int cputmpl_load(const char *arg, struct cputmpl *t);

/*
 * Masks n CPUID entries with t, then clears what depends on a cleared
 * feature and fixes leaf 0xd (see above).  NULL or an empty template
 * leaves the entries as they are.
 */
void cputmpl_apply(const struct cputmpl *t, struct kvm_cpuid_entry2 *e,
    uint32_t n);

#endif
