#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "yconf.h"

unsigned long
yconf_line(const yaml_node_t *n)
{
	return n ? (unsigned long)n->start_mark.line + 1 : 0;
}

void
yconf_error(const struct yconf *y, const yaml_node_t *n, const char *field,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (field != NULL)
		log_warnx("%s:%lu: %s: %s", y->path, yconf_line(n), field, msg);
	else
		log_warnx("%s:%lu: %s", y->path, yconf_line(n), msg);
}

static const char *scalar(const yaml_node_t *n);

/* A key given twice in one mapping: YAML forbids it, and libyaml would
 * let the first win in silence where a reader expects the last. */
static int
yconf_map_unique(struct yconf *y, yaml_node_t *map)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;

	for (yaml_node_pair_t *pr = start; pr < map->data.mapping.pairs.top;
	    pr++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pr->key);
		const char *key = scalar(k);

		for (yaml_node_pair_t *q = start; key != NULL && q < pr; q++) {
			yaml_node_t *first = yaml_document_get_node(&y->doc,
			    q->key);

			if (scalar(first) != NULL && strcmp(scalar(first), key) == 0) {
				yconf_error(y, k, key, "given again (first at "
				    "line %lu)", yconf_line(first));
				return -1;
			}
		}
	}
	return 0;
}

static int
yconf_unique(struct yconf *y)
{
	for (yaml_node_t *n = y->doc.nodes.start; n < y->doc.nodes.top; n++)
		if (n->type == YAML_MAPPING_NODE && yconf_map_unique(y, n) == -1)
			return -1;
	return 0;
}

int
yconf_load(struct yconf *y, const char *path)
{
	yaml_parser_t p;
	FILE *f;
	int ok;

	memset(y, 0, sizeof(*y));
	y->path = path;
	if ((f = fopen(path, "r")) == NULL) {
		log_warn("%s", path);
		return -1;
	}
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	ok = yaml_parser_load(&p, &y->doc);
	if (!ok)
		log_warnx("%s:%lu: %s", path, (unsigned long)p.problem_mark.line + 1,
		    p.problem ? p.problem : "not YAML");
	yaml_parser_delete(&p);
	fclose(f);
	y->loaded = ok;
	if (ok && yconf_unique(y) == -1) {
		yconf_free(y);
		return -1;
	}
	return ok ? 0 : -1;
}

void
yconf_free(struct yconf *y)
{
	if (y->loaded)
		yaml_document_delete(&y->doc);
	y->loaded = false;
}

yaml_node_t *
yconf_root(struct yconf *y)
{
	yaml_node_t *n = yaml_document_get_root_node(&y->doc);

	if (n == NULL || n->type != YAML_MAPPING_NODE) {
		yconf_error(y, n, NULL, "expected a mapping of settings");
		return NULL;
	}
	return n;
}

static const char *
scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ?
	    (const char *)n->data.scalar.value : NULL;
}

int
yconf_keys(struct yconf *y, yaml_node_t *map, const char *const *known)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
	    pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pr->key);
		const char *key = scalar(k);
		size_t i;

		for (i = 0; key != NULL && known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (key == NULL || known[i] == NULL) {
			yconf_error(y, k, key ? key : "?", "unknown key");
			return -1;
		}
	}
	return 0;
}

yaml_node_t *
yconf_get(struct yconf *y, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
	    pr < map->data.mapping.pairs.top; pr++) {
		const char *k = scalar(yaml_document_get_node(&y->doc, pr->key));

		if (k != NULL && strcmp(k, key) == 0)
			return yaml_document_get_node(&y->doc, pr->value);
	}
	return NULL;
}

/* The scalar at key; 1 if absent and optional, -1 if missing or not a
 * scalar (reported). */
static int
get_scalar(struct yconf *y, yaml_node_t *map, const char *key, bool required,
    const char *want, yaml_node_t **node, const char **s)
{
	*node = yconf_get(y, map, key);
	if (*node == NULL) {
		if (!required)
			return 1;
		yconf_error(y, map, key, "missing (%s)", want);
		return -1;
	}
	if ((*s = scalar(*node)) == NULL) {
		yconf_error(y, *node, key, "expected %s", want);
		return -1;
	}
	return 0;
}

int
yconf_str(struct yconf *y, yaml_node_t *map, const char *key, bool required,
    char *out, size_t size)
{
	yaml_node_t *n;
	const char *s;
	int rc = get_scalar(y, map, key, required, "a string", &n, &s);

	if (rc != 0)
		return rc;
	if (s[0] == '\0' || strlen(s) >= size) {
		yconf_error(y, n, key, "expected a string of 1 to %zu characters",
		    size - 1);
		return -1;
	}
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

int
yconf_uint(struct yconf *y, yaml_node_t *map, const char *key, bool required,
    uint64_t min, uint64_t max, uint64_t *out)
{
	yaml_node_t *n;
	const char *s;
	char *end;
	unsigned long long v;
	int rc = get_scalar(y, map, key, required, "a whole number", &n, &s);

	if (rc != 0)
		return rc;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < min ||
	    v > max) {
		yconf_error(y, n, key, "expected a%s integer from %ju to %ju, got "
		    "\"%s\"", min > 0 ? " positive" : "n", (uintmax_t)min,
		    (uintmax_t)max, s);
		return -1;
	}
	*out = v;
	return 0;
}

int
yconf_bool(struct yconf *y, yaml_node_t *map, const char *key, bool required,
    bool *out)
{
	yaml_node_t *n;
	const char *s;
	int rc = get_scalar(y, map, key, required, "true or false", &n, &s);

	if (rc != 0)
		return rc;
	if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0) {
		yconf_error(y, n, key, "expected true or false, got \"%s\"", s);
		return -1;
	}
	*out = s[0] == 't';
	return 0;
}

int
yconf_strlist(struct yconf *y, yaml_node_t *map, const char *key,
    char (*out)[256], int max, int *n)
{
	yaml_node_t *l = yconf_get(y, map, key);

	*n = 0;
	if (l == NULL)
		return 1;
	if (scalar(l) != NULL)
		return yconf_str(y, map, key, true, out[(*n)++], 256);
	if (l->type != YAML_SEQUENCE_NODE) {
		yconf_error(y, l, key, "expected a list of strings");
		return -1;
	}
	for (yaml_node_item_t *it = l->data.sequence.items.start;
	    it < l->data.sequence.items.top; it++) {
		const char *s = scalar(yaml_document_get_node(&y->doc, *it));

		if (s == NULL || s[0] == '\0' || strlen(s) >= 256 || *n == max) {
			yconf_error(y, l, key, "expected a list of at most %d "
			    "strings of 1 to 255 characters", max);
			return -1;
		}
		snprintf(out[(*n)++], 256, "%s", s);
	}
	return 0;
}
