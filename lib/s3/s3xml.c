#include <stdlib.h>
#include <string.h>

#include "s3xml.h"

/* The next "<tag>" or "<tag attr...>" at or after p, or NULL. */
static const char *
open_tag(const char *p, const char *end, const char *tag, const char **body,
    int *empty)
{
	size_t n = strlen(tag);

	for (; p != NULL && p + n + 2 <= end;
	    p = memchr(p + 1, '<', (size_t)(end - p - 1))) {
		const char *gt;

		if (*p != '<' || strncmp(p + 1, tag, n) != 0 ||
		    strchr("> /", p[n + 1]) == NULL || p[n + 1] == '\0')
			continue;
		if ((gt = memchr(p, '>', (size_t)(end - p))) == NULL)
			return NULL;
		*empty = gt[-1] == '/';		/* <tag/> */
		*body = gt + 1;
		return p;
	}
	return NULL;
}

const char *
s3xml_next(const char *p, const char *end, const char *tag,
    const char **inner, const char **inner_end)
{
	const char *body, *q;
	size_t n = strlen(tag);
	int empty;

	if (open_tag(p, end, tag, &body, &empty) == NULL)
		return NULL;
	*inner = body;
	if (empty) {
		*inner_end = body;
		return body;
	}
	for (q = body; q != NULL && q + n + 3 <= end;
	    q = memchr(q + 1, '<', (size_t)(end - q - 1))) {
		if (q[0] == '<' && q[1] == '/' && strncmp(q + 2, tag, n) == 0 &&
		    q[n + 2] == '>') {
			*inner_end = q;
			return q + n + 3;
		}
	}
	return NULL;
}

/* One entity at s (after '&'): its character, and how long it was. */
static int
entity(const char *s, const char *end, size_t *len)
{
	static const struct { const char *name; char c; } named[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' },
		{ "quot;", '"' }, { "apos;", '\'' },
	};
	const char *semi = memchr(s, ';', (size_t)(end - s));
	char *stop;
	long v;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		size_t n = strlen(named[i].name);

		if ((size_t)(end - s) >= n && strncmp(s, named[i].name, n) == 0) {
			*len = n;
			return (unsigned char)named[i].c;
		}
	}
	if (semi == NULL || s[0] != '#')
		return -1;
	v = s[1] == 'x' ? strtol(s + 2, &stop, 16) : strtol(s + 1, &stop, 10);
	if (stop != semi || v <= 0 || v > 0x7f)	/* ASCII is all S3 needs */
		return -1;
	*len = (size_t)(semi - s) + 1;
	return (int)v;
}

int
s3xml_text(const char *p, const char *end, const char *tag, char *out,
    size_t size)
{
	const char *in, *in_end;
	size_t n = 0, len;
	int c;

	if (s3xml_next(p, end, tag, &in, &in_end) == NULL)
		return -1;
	while (in < in_end) {
		if (n + 1 >= size)
			return -1;
		if (*in != '&') {
			out[n++] = *in++;
			continue;
		}
		if ((c = entity(in + 1, in_end, &len)) == -1)
			return -1;
		out[n++] = (char)c;
		in += len + 1;
	}
	out[n] = '\0';
	return 0;
}

int
s3xml_escape(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		const char *e = NULL;
		char one[2] = { *s, '\0' };

		switch (*s) {
		case '&': e = "&amp;"; break;
		case '<': e = "&lt;"; break;
		case '>': e = "&gt;"; break;
		case '"': e = "&quot;"; break;
		case '\'': e = "&apos;"; break;
		default: e = one; break;
		}
		if (n + strlen(e) >= size)
			return -1;
		memcpy(out + n, e, strlen(e));
		n += strlen(e);
	}
	out[n] = '\0';
	return 0;
}
