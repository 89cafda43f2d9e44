/*
 * Just enough XML for S3's answers: the text of the first element of a
 * name within a range of a document, and iteration over the elements of
 * a name.  S3 documents have no comments, CDATA or nested elements of
 * the same name where these are used, so a scan for tags is exact.
 */
#ifndef SNAPVM_S3XML_H
#define SNAPVM_S3XML_H

#include <stddef.h>

/*
 * The next element <tag>...</tag> in [p, end): its content in
 * [*inner, *inner_end) and the position after it, or NULL if none.
 */
const char *s3xml_next(const char *p, const char *end, const char *tag,
    const char **inner, const char **inner_end);
/* The first <tag>'s text in [p, end), entities decoded: 0, or -1 if
 * there is none or it does not fit in size. */
int s3xml_text(const char *p, const char *end, const char *tag, char *out,
    size_t size);
/* Writes s with &, <, >, " and ' escaped; -1 if out is too small. */
int s3xml_escape(const char *s, char *out, size_t size);

#endif
