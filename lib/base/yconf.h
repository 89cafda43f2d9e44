/*
 * Reading YAML configuration files with libyaml: typed fields of mappings,
 * unknown keys refused, every error as "FILE:LINE: FIELD: problem".
 */
#ifndef SNAPVM_YCONF_H
#define SNAPVM_YCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

struct yconf {
	yaml_document_t doc;
	bool loaded;
	const char *path;
};

int yconf_load(struct yconf *y, const char *path);
void yconf_free(struct yconf *y);
/* The top-level mapping, or NULL (reported) if the file holds another. */
yaml_node_t *yconf_root(struct yconf *y);
unsigned long yconf_line(const yaml_node_t *n);
void yconf_error(const struct yconf *y, const yaml_node_t *n,
    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Each key of map must be in known (NULL-terminated). */
int yconf_keys(struct yconf *y, yaml_node_t *map, const char *const *known);
yaml_node_t *yconf_get(struct yconf *y, yaml_node_t *map, const char *key);

/* Getters: 0 and *out set; 1 when the key is absent and not required
 * (*out untouched); -1 after reporting the problem. */
int yconf_str(struct yconf *y, yaml_node_t *map, const char *key,
    bool required, char *out, size_t size);
int yconf_uint(struct yconf *y, yaml_node_t *map, const char *key,
    bool required, uint64_t min, uint64_t max, uint64_t *out);
int yconf_bool(struct yconf *y, yaml_node_t *map, const char *key,
    bool required, bool *out);
/* A sequence (or a single scalar, taken as a one-item list) of strings. */
int yconf_strlist(struct yconf *y, yaml_node_t *map, const char *key,
    char (*out)[256], int max, int *n);

#endif
