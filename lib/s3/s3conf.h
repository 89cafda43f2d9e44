/*
 * s3snap's configuration (s3snap(1)): where the store is and how to talk
 * to it.  Every setting has one name, and is taken from the AWS CLI's
 * shared files, then s3snap's config file, then the environment, then the
 * command line, each overriding the one before.  Also the s3://BUCKET/PREFIX
 * names of layers in a store.
 */
#ifndef SNAPVM_S3CONF_H
#define SNAPVM_S3CONF_H

#include <stdbool.h>
#include <stdint.h>

#define S3_BUCKET_MAX	64	/* 63 characters and a NUL */
#define S3_PREFIX_MAX	900	/* leaves room for a layer's object names */

enum s3_style { S3_STYLE_AUTO, S3_STYLE_PATH, S3_STYLE_VIRTUAL };

#define S3CONF_NSETTINGS	10

struct s3conf {
	char scheme[8];			/* "http" or "https" */
	char host[256];			/* host[:port] of the endpoint */
	char base[256];			/* its path ("/s3"), or "" */
	bool endpoint_set;		/* false: AWS's endpoint of region */
	char region[64];
	char access_key[128];
	char secret_key[256];
	char session_token[2048];
	enum s3_style style;
	uint64_t jobs;			/* transfers at once */
	uint64_t retries;		/* after the first attempt */
	uint64_t part_size;		/* bytes of a multipart part or range */
	uint64_t limit_rate;		/* bytes/s, all transfers; 0: none */
	char from[S3CONF_NSETTINGS][160];	/* where each came from */
};

/* A layer's place in a store. */
struct s3_uri {
	char bucket[S3_BUCKET_MAX];
	char prefix[S3_PREFIX_MAX];	/* no leading or trailing '/' */
};

void s3conf_defaults(struct s3conf *c);
/*
 * Sets setting name (as in the config file) to value; "from" names where
 * the value came from for the message when it is refused.  0 or -1.
 */
int s3conf_set(struct s3conf *c, const char *name, const char *value,
    const char *from);
/* The settings in a YAML file: a mapping of the names above. */
int s3conf_file(struct s3conf *c, const char *path);
/* The settings in the environment, through get (getenv but for tests). */
int s3conf_env(struct s3conf *c, const char *(*get)(const char *));
/* The AWS CLI's shared credentials and config files (s3aws.c), for the
 * profile $AWS_PROFILE or "default"; missing files are no error. */
int s3conf_aws(struct s3conf *c, const char *(*get)(const char *));
/* Says, at log level info (-v), where each setting came from. */
void s3conf_report(const struct s3conf *c);
/* Fills in what depends on other settings; -1 if credentials are missing. */
int s3conf_finish(struct s3conf *c);
/* The environment variable of a setting, for messages and the manual. */
const char *s3conf_env_name(const char *name);

/* "s3://BUCKET[/PREFIX]"; need_prefix: a layer's name is required. */
int s3_uri_parse(const char *s, bool need_prefix, struct s3_uri *u);
/* "123", "8M", "1G", "100k": binary multiples; -1 if not such a size. */
int s3conf_size(const char *s, uint64_t *out);

#endif
