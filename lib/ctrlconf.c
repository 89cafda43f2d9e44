#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrlconf.h"
#include "log.h"
#include "yconf.h"

/* PATH relative to the directory of the file FROM, unless absolute. */
static void
resolve(char *out, size_t n, const char *from, const char *path)
{
	char *copy = strdup(from);

	if (path[0] == '/' || copy == NULL)
		snprintf(out, n, "%s", path);
	else
		snprintf(out, n, "%s/%s", dirname(copy), path);
	free(copy);
}

static int
get_path(struct yconf *y, yaml_node_t *m, const char *key, bool required,
    char *out)
{
	char raw[CTRL_PATH];
	int rc = yconf_str(y, m, key, required, raw, sizeof(raw));

	if (rc == 0)
		resolve(out, CTRL_PATH, y->path, raw);
	return rc;
}

static bool
valid_name(const char *s)
{
	return s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") ==
	    strlen(s);
}

static const char *const fn_keys[] = { "name", "appfs", "memory", "vcpus",
	"concurrency", "timeout", "snapshot", "snapshots", NULL };

static int
fn_layers(struct yconf *y, yaml_node_t *m, struct fn_conf *f)
{
	char raw[CTRL_MAX_LAYERS][256];
	int rc = yconf_strlist(y, m, "snapshot", raw, CTRL_MAX_LAYERS,
	    &f->nlayers);

	for (int i = 0; rc == 0 && i < f->nlayers; i++)
		resolve(f->layer[i], CTRL_PATH, y->path, raw[i]);
	return rc < 0 ? -1 : 0;
}

static int
fn_parse(struct yconf *y, yaml_node_t *m, struct fn_conf *f,
    const struct ctrl_conf *c)
{
	uint64_t v;

	memset(f, 0, sizeof(*f));
	f->memory_mib = 128;
	f->vcpus = 1;
	f->concurrency = 4;
	f->timeout_ms = 30000;
	f->snapshots = true;
	if (m->type != YAML_MAPPING_NODE) {
		yconf_error(y, m, "functions", "each function is a mapping");
		return -1;
	}
	if (yconf_keys(y, m, fn_keys) == -1 ||
	    yconf_str(y, m, "name", true, f->name, sizeof(f->name)) == -1)
		return -1;
	if (!valid_name(f->name)) {
		yconf_error(y, yconf_get(y, m, "name"), "name", "\"%s\": use "
		    "a-z, 0-9, _ and - only", f->name);
		return -1;
	}
	if (get_path(y, m, "appfs", false, f->appfs) == 1)
		snprintf(f->appfs, sizeof(f->appfs), "%.900s/%s.ext2",
		    c->appfs_dir, f->name);
	if (yconf_uint(y, m, "memory", false, 16, 65536, &f->memory_mib) < 0 ||
	    yconf_uint(y, m, "timeout", false, 1, 86400000, &f->timeout_ms) < 0 ||
	    yconf_bool(y, m, "snapshots", false, &f->snapshots) < 0 ||
	    fn_layers(y, m, f) == -1)
		return -1;
	v = (uint64_t)f->vcpus;
	if (yconf_uint(y, m, "vcpus", false, 1, 8, &v) < 0)
		return -1;
	f->vcpus = (int)v;
	v = (uint64_t)f->concurrency;
	if (yconf_uint(y, m, "concurrency", false, 1, 1024, &v) < 0)
		return -1;
	f->concurrency = (int)v;
	return 0;
}

static int
fn_list(struct yconf *y, yaml_node_t *list, const struct ctrl_conf *c,
    struct fn_conf *fns, int *n)
{
	*n = 0;
	for (yaml_node_item_t *it = list->data.sequence.items.start;
	    it < list->data.sequence.items.top; it++) {
		if (*n == CTRL_MAX_FUNCS) {
			yconf_error(y, list, "functions", "more than %d",
			    CTRL_MAX_FUNCS);
			return -1;
		}
		if (fn_parse(y, yaml_document_get_node(&y->doc, *it), &fns[*n],
		    c) == -1)
			return -1;
		for (int i = 0; i < *n; i++)
			if (strcmp(fns[i].name, fns[*n].name) == 0) {
				yconf_error(y, yaml_document_get_node(&y->doc, *it),
				    "name", "\"%s\" is defined twice", fns[i].name);
				return -1;
			}
		(*n)++;
	}
	return 0;
}

int
ctrlconf_load_functions(const struct ctrl_conf *c, const char *path,
    struct fn_conf *fns, int *nfuncs)
{
	static const char *const keys[] = { "functions", NULL };
	struct yconf y;
	yaml_node_t *root, *list;
	int rc = -1;

	if (yconf_load(&y, path) == -1)
		return -1;
	if ((root = yconf_root(&y)) != NULL && yconf_keys(&y, root, keys) == 0) {
		list = yconf_get(&y, root, "functions");
		if (list == NULL || list->type != YAML_SEQUENCE_NODE)
			yconf_error(&y, list ? list : root, "functions",
			    "expected a list of functions");
		else
			rc = fn_list(&y, list, c, fns, nfuncs);
	}
	yconf_free(&y);
	return rc;
}

static const char *const ctrl_keys[] = { "kernel", "rootfs", "appfs_dir",
	"snapshot_dir", "vmrun", "snaprestore", "memory_budget", "listen",
	"log", "idle_timeout", "queue_limit", "functions", NULL };

static int
ctrl_paths(struct yconf *y, yaml_node_t *m, struct ctrl_conf *c)
{
	if (get_path(y, m, "kernel", true, c->kernel) == -1 ||
	    get_path(y, m, "rootfs", true, c->rootfs) == -1 ||
	    get_path(y, m, "appfs_dir", true, c->appfs_dir) == -1 ||
	    get_path(y, m, "snapshot_dir", true, c->snapshot_dir) == -1 ||
	    get_path(y, m, "functions", true, c->functions) == -1)
		return -1;
	snprintf(c->vmrun, sizeof(c->vmrun), "vmrun");
	snprintf(c->snaprestore, sizeof(c->snaprestore), "snaprestore");
	if (get_path(y, m, "vmrun", false, c->vmrun) < 0 ||
	    get_path(y, m, "snaprestore", false, c->snaprestore) < 0)
		return -1;
	snprintf(c->log, sizeof(c->log), "stderr");
	if (yconf_str(y, m, "log", false, c->log, sizeof(c->log)) < 0)
		return -1;
	if (strcmp(c->log, "stderr") != 0 && get_path(y, m, "log", true,
	    c->log) == -1)
		return -1;
	return 0;
}

static int
ctrl_listen(struct yconf *y, yaml_node_t *m, struct ctrl_conf *c)
{
	char raw[CTRL_MAX_LISTEN][256];
	int rc = yconf_strlist(y, m, "listen", raw, CTRL_MAX_LISTEN, &c->nlisten);

	for (int i = 0; rc == 0 && i < c->nlisten; i++) {
		if (strncmp(raw[i], "unix:", 5) == 0) {
			char p[CTRL_PATH];

			resolve(p, sizeof(p), y->path, raw[i] + 5);
			snprintf(c->listen[i], sizeof(c->listen[i]), "unix:%.240s", p);
		} else if (strrchr(raw[i], ':') == NULL) {
			yconf_error(y, yconf_get(y, m, "listen"), "listen",
			    "\"%s\": expected HOST:PORT or unix:PATH", raw[i]);
			return -1;
		} else {
			memcpy(c->listen[i], raw[i], sizeof(raw[i]));
		}
	}
	return rc < 0 ? -1 : 0;
}

int
ctrlconf_load(struct ctrl_conf *c, const char *path)
{
	struct yconf y;
	yaml_node_t *m;
	uint64_t idle_s = 60;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	c->budget_mib = 1024;
	c->queue_limit = 256;
	if (yconf_load(&y, path) == -1)
		return -1;
	if ((m = yconf_root(&y)) != NULL && yconf_keys(&y, m, ctrl_keys) == 0 &&
	    ctrl_paths(&y, m, c) == 0 && ctrl_listen(&y, m, c) == 0 &&
	    yconf_uint(&y, m, "memory_budget", false, 16, 1 << 24,
	    &c->budget_mib) >= 0 &&
	    yconf_uint(&y, m, "idle_timeout", false, 1, 86400, &idle_s) >= 0 &&
	    yconf_uint(&y, m, "queue_limit", false, 1, 100000,
	    &c->queue_limit) >= 0)
		rc = 0;
	c->idle_timeout_ms = idle_s * 1000;
	yconf_free(&y);
	if (rc == 0)
		rc = ctrlconf_load_functions(c, c->functions, c->fn, &c->nfuncs);
	return rc;
}

const struct fn_conf *
ctrlconf_find(const struct ctrl_conf *c, const char *name)
{
	for (int i = 0; i < c->nfuncs; i++)
		if (strcmp(c->fn[i].name, name) == 0)
			return &c->fn[i];
	return NULL;
}
