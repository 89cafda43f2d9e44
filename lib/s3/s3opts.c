#include <stdlib.h>

#include "log.h"
#include "s3opts.h"

static const struct {
	int ch;
	const char *name, *flag;
} flags[] = {
	{ 'E', "endpoint", "--endpoint" },
	{ 'R', "region", "--region" },
	{ 'A', "addressing_style", "--addressing-style" },
	{ 'j', "jobs", "--jobs" },
	{ 'r', "retries", "--retries" },
	{ 'P', "part_size", "--part-size" },
	{ 'L', "limit_rate", "--limit-rate" },
};

bool
s3opts_take(struct s3opts *o, int ch, const char *arg)
{
	if (ch == 'c') {
		o->config = arg;
		return true;
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (flags[i].ch != ch)
			continue;
		if (o->nset < S3OPTS_MAX) {
			o->set[o->nset].name = flags[i].name;
			o->set[o->nset].value = arg;
			o->set[o->nset++].flag = flags[i].flag;
		}
		return true;
	}
	return false;
}

static const char *
env(const char *name)
{
	return getenv(name);
}

int
s3opts_configure(const struct s3opts *o, struct s3conf *c)
{
	const char *file = o->config ? o->config : getenv("S3SNAP_CONFIG");

	s3conf_defaults(c);
	if (s3conf_aws(c, env) == -1)
		return -1;
	if (file != NULL && *file != '\0' && s3conf_file(c, file) == -1)
		return -1;
	if (s3conf_env(c, env) == -1)
		return -1;
	for (int i = 0; i < o->nset; i++)
		if (s3conf_set(c, o->set[i].name, o->set[i].value,
		    o->set[i].flag) == -1)
			return -1;
	s3conf_report(c);
	return s3conf_finish(c);
}
