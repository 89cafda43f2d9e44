/* A layer fetched whole and checked takes its destination's name, in one
 * step: nothing partial ever has that name. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "file.h"
#include "log.h"
#include "pager.h"

/* Somebody else put a layer there meanwhile (s3snap get, another
 * pager): if it is this one, ours goes. */
static int
taken(struct pager_layer *l)
{
	int rc = 0;

	if (!pager_layer_holds(l)) {
		log_warnx("%s: appeared meanwhile and is not the layer %s; the "
		    "layer fetched is dropped", l->dir, l->spec);
		rc = EX_CANTCREAT;
	}
	snapmeta_remove(l->tmp);
	l->tmp[0] = '\0';
	return rc;
}

static int
publish(struct pager_layer *l)
{
	char parent[PAGER_PATH_MAX];

	if (file_rename_noreplace(l->tmp, l->dir) == -1) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			return taken(l);
		log_warn("rename %s to %s", l->tmp, l->dir);
		return EX_IOERR;
	}
	l->tmp[0] = '\0';
	snprintf(parent, sizeof(parent), "%s", l->dir);
	if (file_sync_dir(dirname(parent)) == -1) {
		log_warn("%s", l->dir);
		return EX_IOERR;
	}
	log_info("%s: complete, from s3://%s/%s", l->dir, l->uri.bucket,
	    l->uri.prefix);
	return 0;
}

int
pager_done_publish(struct pager_stack *st)
{
	int rc = 0, r;

	for (int i = 0; i < st->n; i++)
		if (st->layer[i].tmp[0] != '\0' &&
		    (r = publish(&st->layer[i])) != 0 && rc == 0)
			rc = r;
	return rc;
}
