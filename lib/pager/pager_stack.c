/* The stack the runner restores, as it restores it: each layer checked,
 * the layers checked as one stack, the top layer's working set checked
 * against it, and which layer each page of memory comes from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "pager.h"
#include "snapstack.h"

bool
pager_spec_store(const char *spec)
{
	return strncmp(spec, "s3://", 5) == 0;
}

/* DIR, or s3://BUCKET/PREFIX=DIR: the last '=' ends the store's name (a
 * prefix may hold one, a directory should not). */
static int
parse_spec(struct pager_layer *l, const char *spec)
{
	char uri[sizeof(l->spec)];
	const char *eq = strrchr(spec, '='), *dir = spec;

	if (strlen(spec) >= sizeof(l->spec)) {
		log_warnx("%.64s...: too long", spec);
		return EX_USAGE;
	}
	snprintf(l->spec, sizeof(l->spec), "%s", spec);
	if ((l->store = pager_spec_store(spec))) {
		if (eq == NULL || eq[1] == '\0') {
			log_warnx("\"%s\": expected s3://BUCKET/PREFIX=DIR", spec);
			return EX_USAGE;
		}
		snprintf(uri, sizeof(uri), "%.*s", (int)(eq - spec), spec);
		if (s3_uri_parse(uri, true, &l->uri) == -1)
			return EX_USAGE;
		dir = eq + 1;
	}
	if (*dir == '\0' || strchr(dir, ',') != NULL) {
		log_warnx("\"%s\": a layer directory's name is not empty and "
		    "has no ',' (snaprestore's --load-dir takes a list)", spec);
		return EX_USAGE;
	}
	snprintf(l->dir, sizeof(l->dir), "%s", dir);
	return 0;
}

static int
find_owners(struct pager_stack *st)
{
	if ((st->owner = calloc(st->npages, 1)) == NULL) {
		log_warn("page owners");
		return EX_OSERR;
	}
	for (int i = 1; i < st->n; i++) {
		const uint8_t *bits = st->layer[i].pages;

		for (uint64_t p = 0; bits != NULL && p < st->npages; p++)
			if (bits[p / 8] >> (p % 8) & 1)
				st->owner[p] = (uint8_t)i;
	}
	return 0;
}

static int
load_workset(struct pager_stack *st, const struct snap_meta *m)
{
	struct pager_layer *top = &st->layer[st->n - 1];
	char name[PAGER_PATH_MAX + 32];

	if (!top->m.file[SNAP_WORKSET].present)
		return 0;
	snprintf(name, sizeof(name), "%s/%s", pager_layer_dir(top),
	    snap_file_name[SNAP_WORKSET]);
	if (snapmeta_load(pager_layer_dir(top), &top->m, SNAP_WORKSET,
	    &st->ws_data, &st->ws_len) == -1 ||
	    workset_parse(name, st->ws_data, st->ws_len, st->npages,
	    &st->ws) == -1)
		return EX_DATAERR;
	st->has_ws = true;
	return workset_check_stack(name, &st->ws, m, st->n) == 0 ? 0 :
	    EX_DATAERR;
}

static int
check_stack(struct pager_stack *st)
{
	struct snap_meta m[SNAP_MAX_LAYERS];
	char *dirs[SNAP_MAX_LAYERS];

	for (int i = 0; i < st->n; i++) {
		m[i] = st->layer[i].m;
		dirs[i] = st->layer[i].spec;
	}
	if (snapstack_check(dirs, m, st->n) == -1)
		return EX_DATAERR;
	st->npages = (m[0].mem_mib << 20) / PAGER_PAGE;
	return load_workset(st, m);
}

int
pager_stack_open(struct pager_stack *st, char *const *specs, int n)
{
	int rc;

	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->pace.rate = st->conf != NULL ? st->conf->limit_rate : 0;
	if (n < 1 || n > SNAP_MAX_LAYERS) {
		log_warnx("%d layers: a stack has 1 to %d", n, SNAP_MAX_LAYERS);
		return EX_USAGE;
	}
	for (st->n = 0; st->n < n; st->n++) {
		pager_layer_init(&st->layer[st->n]);
		if ((rc = parse_spec(&st->layer[st->n], specs[st->n])) != 0)
			return rc;
	}
	for (int i = 0; i < n; i++) {
		struct pager_layer *l = &st->layer[i];

		rc = l->store ? pager_store_open(l, st->conf, st->cancel,
		    &st->pace) : pager_local_open(l);
		if (rc != 0)
			return rc;
	}
	if (st->conf != NULL && (rc = pager_store_files(st->layer, st->n,
	    st->conf, st->cancel, &st->pace)) != 0)
		return rc;
	if ((rc = check_stack(st)) != 0)
		return rc;
	return find_owners(st);
}

void
pager_stack_free(struct pager_stack *st)
{
	for (int i = 0; i < st->n; i++)
		pager_layer_free(&st->layer[i]);
	st->n = 0;
	free(st->owner);
	st->owner = NULL;
	free(st->ws_data);
	st->ws_data = NULL;
	workset_free(&st->ws);
	st->has_ws = false;
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
}
