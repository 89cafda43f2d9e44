#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "s3conf.h"
#include "yconf.h"

#define MiB	(1024ULL * 1024)

/* Each setting's name in the config file and its environment variable. */
static const struct {
	const char *name, *env;
} settings[] = {
	{ "endpoint", "AWS_ENDPOINT_URL" },
	{ "region", "AWS_REGION" },
	{ "access_key_id", "AWS_ACCESS_KEY_ID" },
	{ "secret_access_key", "AWS_SECRET_ACCESS_KEY" },
	{ "session_token", "AWS_SESSION_TOKEN" },
	{ "addressing_style", "S3SNAP_ADDRESSING_STYLE" },
	{ "jobs", "S3SNAP_JOBS" },
	{ "retries", "S3SNAP_RETRIES" },
	{ "part_size", "S3SNAP_PART_SIZE" },
	{ "limit_rate", "S3SNAP_LIMIT_RATE" },
};
#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))
_Static_assert(NSETTINGS == S3CONF_NSETTINGS, "S3CONF_NSETTINGS");

void
s3conf_defaults(struct s3conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->region, sizeof(c->region), "us-east-1");
	c->jobs = 4;
	c->retries = 5;
	c->part_size = 8 * MiB;
}

const char *
s3conf_env_name(const char *name)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return settings[i].env;
	return NULL;
}

int
s3conf_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return -1;
	}
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* "http[s]://HOST[:PORT][/PATH][/]": a gateway may serve S3 below a
 * path of its own; buckets go below that. */
static int
set_endpoint(struct s3conf *c, const char *v)
{
	const char *host, *path;
	size_t n, plen;

	if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else
		return -1;
	n = strcspn(host, "/");
	path = host + n;
	plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	if (n == 0 || n >= sizeof(c->host) || plen >= sizeof(c->base) ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:[]") < n ||
	    strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-_~/") < plen || strstr(path, "//") != NULL)
		return -1;
	snprintf(c->scheme, sizeof(c->scheme), "%.*s", (int)(host - v - 3), v);
	snprintf(c->host, sizeof(c->host), "%.*s", (int)n, host);
	snprintf(c->base, sizeof(c->base), "%.*s", (int)plen, path);
	c->endpoint_set = true;
	return 0;
}

static int
set_style(struct s3conf *c, const char *v)
{
	if (strcmp(v, "auto") == 0)
		c->style = S3_STYLE_AUTO;
	else if (strcmp(v, "path") == 0)
		c->style = S3_STYLE_PATH;
	else if (strcmp(v, "virtual") == 0)
		c->style = S3_STYLE_VIRTUAL;
	else
		return -1;
	return 0;
}

static int
set_string(char *dst, size_t size, const char *v)
{
	if (v[0] == '\0' || strlen(v) >= size || strpbrk(v, "\r\n") != NULL)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int
set_number(uint64_t *dst, const char *v, uint64_t min, uint64_t max,
    uint64_t multiple)
{
	uint64_t x;

	if (s3conf_size(v, &x) == -1 || x < min || x > max || x % multiple != 0)
		return -1;
	*dst = x;
	return 0;
}

/* The numeric settings. */
static int
set_count(struct s3conf *c, const char *name, const char *v,
    const char **want)
{
	/* A part holds whole chunks of the index (s3layer.h, S3LAYER_CHUNK
	 * divides the multiple). */
	static const struct {
		const char *name, *want;
		size_t off;
		uint64_t min, max, multiple;
	} nums[] = {
		{ "jobs", "a number from 1 to 64",
		    offsetof(struct s3conf, jobs), 1, 64, 1 },
		{ "retries", "a number from 0 to 20",
		    offsetof(struct s3conf, retries), 0, 20, 1 },
		{ "part_size", "a size from 5M to 1G, a multiple of 256k",
		    offsetof(struct s3conf, part_size), 5 * MiB, 1024 * MiB,
		    MiB / 4 },
		{ "limit_rate", "bytes per second, such as 500k (0: no limit)",
		    offsetof(struct s3conf, limit_rate), 0, UINT64_MAX, 1 },
	};

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(name, nums[i].name) != 0)
			continue;
		*want = nums[i].want;
		return set_number((uint64_t *)((char *)c + nums[i].off), v,
		    nums[i].min, nums[i].max, nums[i].multiple);
	}
	*want = NULL;
	return -1;
}

/* The setting; -1 with *want saying what it takes (NULL: no such one). */
static int
set_one(struct s3conf *c, const char *name, const char *v, const char **want)
{
	*want = "a value of at most 255 characters";
	if (strcmp(name, "access_key_id") == 0)
		return set_string(c->access_key, sizeof(c->access_key), v);
	if (strcmp(name, "secret_access_key") == 0)
		return set_string(c->secret_key, sizeof(c->secret_key), v);
	if (strcmp(name, "session_token") == 0) {
		*want = "a token of at most 2047 characters";
		return set_string(c->session_token, sizeof(c->session_token), v);
	}
	if (strcmp(name, "endpoint") == 0) {
		*want = "http[s]://HOST[:PORT][/PATH]";
		return set_endpoint(c, v);
	}
	if (strcmp(name, "region") == 0) {
		*want = "a region name such as us-east-1";
		if (strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
		    strlen(v))
			return -1;
		return set_string(c->region, sizeof(c->region), v);
	}
	if (strcmp(name, "addressing_style") == 0) {
		*want = "auto, path or virtual";
		return set_style(c, v);
	}
	return set_count(c, name, v, want);
}

int
s3conf_set(struct s3conf *c, const char *name, const char *value,
    const char *from)
{
	const char *want;
	bool secret = strstr(name, "secret") || strstr(name, "token") ||
	    strstr(name, "key_id");

	if (set_one(c, name, value, &want) == 0) {
		for (size_t i = 0; i < NSETTINGS; i++)
			if (strcmp(settings[i].name, name) == 0)
				snprintf(c->from[i], sizeof(c->from[i]), "%s", from);
		return 0;
	}
	if (want == NULL)
		log_warnx("%s: unknown setting \"%s\"", from, name);
	else if (secret)	/* never echo a credential */
		log_warnx("%s: %s: expected %s", from, name, want);
	else
		log_warnx("%s: %s: \"%s\": expected %s", from, name, value,
		    want);
	return -1;
}

static int
file_settings(struct yconf *y, yaml_node_t *root, struct s3conf *c)
{
	const char *known[NSETTINGS + 1];
	char value[2048], from[4200];

	for (size_t i = 0; i < NSETTINGS; i++)
		known[i] = settings[i].name;
	known[NSETTINGS] = NULL;
	if (yconf_keys(y, root, known) == -1)
		return -1;
	for (size_t i = 0; i < NSETTINGS; i++) {
		yaml_node_t *n = yconf_get(y, root, settings[i].name);
		int rc = yconf_str(y, root, settings[i].name, false, value,
		    sizeof(value));

		if (rc == 1)
			continue;
		snprintf(from, sizeof(from), "%s:%lu", y->path, yconf_line(n));
		if (rc == -1 || s3conf_set(c, settings[i].name, value, from) == -1)
			return -1;
	}
	return 0;
}

int
s3conf_file(struct s3conf *c, const char *path)
{
	struct yconf y;
	yaml_node_t *root;
	struct stat st;
	int rc = -1;

	if (yconf_load(&y, path) == -1)
		return -1;
	if ((root = yconf_root(&y)) != NULL)
		rc = file_settings(&y, root, c);
	if (rc == 0 && yconf_get(&y, root, "secret_access_key") != NULL &&
	    stat(path, &st) == 0 && (st.st_mode & 044) != 0)
		log_warnx("%s: holds a secret key but others may read it "
		    "(chmod 600)", path);
	yconf_free(&y);
	return rc;
}

/* Setting i's value in the environment, and the variable it came from:
 * the AWS CLI's S3-only endpoint beats its general one, and
 * AWS_DEFAULT_REGION stands in for AWS_REGION. */
static const char *
env_value(const char *(*get)(const char *), size_t i, const char **var)
{
	static const struct { const char *name, *first, *then; } alt[] = {
		{ "endpoint", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL" },
		{ "region", "AWS_REGION", "AWS_DEFAULT_REGION" },
	};
	const char *v;

	for (size_t k = 0; k < sizeof(alt) / sizeof(alt[0]); k++) {
		if (strcmp(settings[i].name, alt[k].name) != 0)
			continue;
		*var = alt[k].first;
		if ((v = get(*var)) != NULL && *v != '\0')
			return v;
		*var = alt[k].then;
		return get(*var);
	}
	*var = settings[i].env;
	return get(*var);
}

int
s3conf_env(struct s3conf *c, const char *(*get)(const char *))
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *var, *v = env_value(get, i, &var);

		if (v != NULL && *v != '\0' &&
		    s3conf_set(c, settings[i].name, v, var) == -1)
			return -1;
	}
	return 0;
}

void
s3conf_report(const struct s3conf *c)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		log_info("%s: %s", settings[i].name,
		    c->from[i][0] ? c->from[i] : "the default");
}

int
s3conf_finish(struct s3conf *c)
{
	if (!c->endpoint_set) {
		snprintf(c->scheme, sizeof(c->scheme), "https");
		snprintf(c->host, sizeof(c->host), "s3.%s.amazonaws.com",
		    c->region);
	}
	if (c->style == S3_STYLE_AUTO)
		c->style = c->endpoint_set ? S3_STYLE_PATH : S3_STYLE_VIRTUAL;
	if (c->access_key[0] == '\0' || c->secret_key[0] == '\0') {
		log_warnx("no credentials: set AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY, a profile in ~/.aws/credentials "
		    "(AWS_PROFILE), or access_key_id and "
		    "secret_access_key in the config file");
		return -1;
	}
	return 0;
}

static bool
bucket_ok(const char *b, size_t n)
{
	const char *ok = "abcdefghijklmnopqrstuvwxyz0123456789";

	return n >= 3 && n < S3_BUCKET_MAX && strchr(ok, b[0]) != NULL &&
	    strchr(ok, b[n - 1]) != NULL &&
	    strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") >= n;
}

/* Segments that are empty, "." or "..", or hold control characters, name
 * no object the same way on every store and every file system. */
static bool
prefix_ok(const char *p)
{
	for (const char *s = p; *s != '\0'; s += strcspn(s, "/") +
	    (s[strcspn(s, "/")] == '/')) {
		size_t n = strcspn(s, "/");

		if (n == 0 || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
	}
	for (const unsigned char *s = (const unsigned char *)p; *s; s++)
		if (*s < 0x20 || *s == 0x7f || *s == '\\')
			return false;
	return true;
}

int
s3_uri_parse(const char *s, bool need_prefix, struct s3_uri *u)
{
	const char *b = s + 5, *p;
	size_t n, plen;

	memset(u, 0, sizeof(*u));
	if (strncmp(s, "s3://", 5) != 0) {
		log_warnx("\"%s\": expected s3://BUCKET/PREFIX", s);
		return -1;
	}
	n = strcspn(b, "/");
	if (!bucket_ok(b, n)) {
		log_warnx("\"%s\": bucket names have 3 to 63 characters: "
		    "a-z, 0-9, '.' and '-'", s);
		return -1;
	}
	memcpy(u->bucket, b, n);
	for (p = b + n; *p == '/'; p++)
		;
	plen = strlen(p);
	while (plen > 0 && p[plen - 1] == '/')
		plen--;
	if (plen >= sizeof(u->prefix)) {
		log_warnx("\"%s\": prefix longer than %zu bytes", s,
		    sizeof(u->prefix) - 1);
		return -1;
	}
	memcpy(u->prefix, p, plen);
	if (!prefix_ok(u->prefix)) {
		log_warnx("\"%s\": prefix has an empty, \".\" or \"..\" part "
		    "or a control character", s);
		return -1;
	}
	if (need_prefix && plen == 0) {
		log_warnx("\"%s\": name a layer: s3://BUCKET/PREFIX", s);
		return -1;
	}
	return 0;
}
