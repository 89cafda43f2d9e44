/*
 * Template files (snapvm-cpu-template(5)), read as untrusted input: every
 * line is checked whole, and every bad one is reported with its file,
 * line and field, so that an operator fixes a file in one go.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cputmpl.h"
#include "ident.h"
#include "log.h"

#define MAX_FIELDS	6
#define MAX_REPORTS	20	/* bad lines reported; the rest counted */

struct parse {
	const char *file;
	int line;
	int errors;
	bool header, named;
	struct cputmpl *t;
};

static void
bad(struct parse *p, const char *field, const char *fmt, const char *arg)
{
	char why[160];

	if (++p->errors > MAX_REPORTS)
		return;
	snprintf(why, sizeof(why), fmt, arg);
	log_warnx("%s:%d: %s: %s", p->file, p->line, field, why);
}

/* A whole unsigned number, decimal or 0x hexadecimal, at most 32 bits. */
static bool
parse_u32(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoull(s, &end, s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ?
	    16 : 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static void
line_header(struct parse *p, char **f, int nf)
{
	uint32_t v;

	if (p->header) {
		bad(p, "snapvm-cpu-template", "%s", "a second header line");
		return;
	}
	p->header = true;
	if (nf != 2)
		bad(p, "snapvm-cpu-template", "%s",
		    "expected one field after it, the format version");
	else if (!parse_u32(f[1], &v) || v != CPUTMPL_VERSION)
		bad(p, "version", "\"%s\": this snapvm reads version 1 only",
		    f[1]);
}

static void
line_name(struct parse *p, char **f, int nf)
{
	struct cputmpl b;

	if (p->named)
		bad(p, "name", "%s", "given twice");
	else if (nf != 2)
		bad(p, "name", "%s", "expected one field, the template's name");
	else if (!ident_ok(f[1], CPUTMPL_NAME_MAX))
		bad(p, "name", "\"%s\": up to 63 letters, digits, '.', '_' and "
		    "'-', the first a letter or digit", f[1]);
	else if (cputmpl_builtin(f[1], &b) == 0)
		bad(p, "name", "\"%s\" is a built-in template's name", f[1]);
	else
		snprintf(p->t->name, sizeof(p->t->name), "%s", f[1]);
	p->named = true;
}

static bool
parse_reg(const char *s, enum cputmpl_reg *r)
{
	static const char *const regs[] = { "eax", "ebx", "ecx", "edx" };

	for (int i = 0; i < 4; i++)
		if (strcmp(s, regs[i]) == 0) {
			*r = (enum cputmpl_reg)i;
			return true;
		}
	return false;
}

static void
add_mask(struct parse *p, struct cputmpl_mask m)
{
	if (p->t->nmasks == CPUTMPL_MAX_MASKS) {
		bad(p, "clear", "more than %s clear lines", "256");
		return;
	}
	p->t->mask[p->t->nmasks++] = m;
}

/* clear FEATURE */
static void
clear_named(struct parse *p, const char *name)
{
	const struct cputmpl_feature *f = cputmpl_feature(name);

	if (f == NULL) {
		bad(p, "feature", "\"%s\": no such feature (see "
		    "snapvm-cpu-template(5) for the names)", name);
		return;
	}
	add_mask(p, (struct cputmpl_mask){ f->leaf, f->subleaf, f->reg,
	    1U << f->bit });
}

/* clear LEAF SUBLEAF REGISTER BITS */
static void
clear_raw(struct parse *p, char **f)
{
	struct cputmpl_mask m;
	int before = p->errors;

	if (!parse_u32(f[1], &m.leaf))
		bad(p, "leaf", "\"%s\": expected a number up to 0xffffffff", f[1]);
	if (strcmp(f[2], "*") == 0)
		m.subleaf = CPUTMPL_ANY_SUBLEAF;
	else if (!parse_u32(f[2], &m.subleaf) || m.subleaf == UINT32_MAX)
		bad(p, "subleaf", "\"%s\": expected * or a number below "
		    "0xffffffff", f[2]);
	if (!parse_reg(f[3], &m.reg))
		bad(p, "register", "\"%s\": expected eax, ebx, ecx or edx", f[3]);
	if (!parse_u32(f[4], &m.bits) || m.bits == 0)
		bad(p, "bits", "\"%s\": expected a mask from 0x1 to 0xffffffff",
		    f[4]);
	if (p->errors == before)
		add_mask(p, m);
}

static void
line_clear(struct parse *p, char **f, int nf)
{
	if (nf == 2)
		clear_named(p, f[1]);
	else if (nf == 5)
		clear_raw(p, f);
	else
		bad(p, "clear", "%s", "expected a feature's name, or LEAF "
		    "SUBLEAF REGISTER BITS");
}

static int
split(char *s, char **f)
{
	int n = 0;

	for (char *tok = strtok(s, " \t"); tok != NULL;
	    tok = strtok(NULL, " \t")) {
		if (n == MAX_FIELDS)
			return n + 1;
		f[n++] = tok;
	}
	return n;
}

static void
parse_line(struct parse *p, char *s)
{
	char *f[MAX_FIELDS];
	int nf = split(s, f);

	if (nf == 0 || f[0][0] == '#')
		return;
	if (strcmp(f[0], "snapvm-cpu-template") == 0)
		line_header(p, f, nf);
	else if (!p->header)
		bad(p, f[0], "%s", "the first line must be "
		    "\"snapvm-cpu-template 1\"");
	else if (nf > 5)
		bad(p, f[0], "%s", "too many fields");
	else if (strcmp(f[0], "name") == 0)
		line_name(p, f, nf);
	else if (strcmp(f[0], "clear") == 0)
		line_clear(p, f, nf);
	else
		bad(p, "keyword", "\"%s\": expected name or clear", f[0]);
}

/* One line: no NUL or control character but tab, not too long. */
static bool
line_text_ok(struct parse *p, const char *s, size_t len)
{
	if (len >= CPUTMPL_LINE_MAX) {
		bad(p, "line", "%s", "longer than 255 bytes");
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t' &&
		    !(s[i] == '\r' && i == len - 1)) {
			bad(p, "line", "%s", "a control character");
			return false;
		}
	return true;
}

int
cputmpl_parse(const char *text, size_t len, const char *file,
    struct cputmpl *t)
{
	struct parse p = { .file = file, .t = t };
	char buf[CPUTMPL_LINE_MAX];

	memset(t, 0, sizeof(*t));
	for (size_t off = 0; off < len; ) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;

		p.line++;
		if (line_text_ok(&p, text + off, n)) {
			memcpy(buf, text + off, n);
			buf[n] = '\0';
			buf[strcspn(buf, "\r")] = '\0';
			parse_line(&p, buf);
		}
		off += n + (nl != NULL);
	}
	p.line = p.line ? p.line : 1;
	if (!p.header)
		bad(&p, "snapvm-cpu-template", "%s", "no header line: the file "
		    "must begin \"snapvm-cpu-template 1\"");
	else if (!p.named)
		bad(&p, "name", "%s", "no name line");
	if (p.errors > MAX_REPORTS)
		log_warnx("%s: %d more bad lines", file, p.errors - MAX_REPORTS);
	return p.errors ? -1 : 0;
}

static int
read_file(const char *path, char *buf, size_t size, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -1;
	*len = 0;
	while ((n = read(fd, buf + *len, size - *len)) > 0)
		*len += (size_t)n;
	close(fd);
	if (n == -1)
		return -1;
	if (*len == size) {
		errno = EFBIG;
		return -1;
	}
	return 0;
}

int
cputmpl_load(const char *arg, struct cputmpl *t)
{
	char *buf;
	size_t len;
	int rc;

	if (cputmpl_builtin(arg, t) == 0)
		return 0;
	if ((buf = malloc(CPUTMPL_FILE_MAX)) == NULL)
		return EX_OSERR;
	if (read_file(arg, buf, CPUTMPL_FILE_MAX, &len) == -1) {
		log_warn("--cpu-template %s: not a built-in template (%s), and "
		    "as a file", arg, cputmpl_builtin_list);
		free(buf);
		return errno == EFBIG ? EX_DATAERR : EX_NOINPUT;
	}
	rc = cputmpl_parse(buf, len, arg, t) == 0 ? 0 : EX_DATAERR;
	free(buf);
	return rc;
}
