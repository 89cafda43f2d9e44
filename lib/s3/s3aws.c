/*
 * The AWS CLI's shared files, read as it reads them: the profile is
 * $AWS_PROFILE or "default"; ~/.aws/credentials ($AWS_SHARED_CREDENTIALS_FILE)
 * holds [NAME] sections, ~/.aws/config ($AWS_CONFIG_FILE) holds [default]
 * and [profile NAME] ones; a key may be followed by indented "sub = value"
 * lines (an "s3 =" block's addressing_style and endpoint_url).  What the
 * credentials file says beats what the config file says.  Missing files
 * are no error; a malformed line is, named by file and line.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "s3conf.h"

/* The AWS names of the settings, in a profile and in its "s3" block. */
static const struct {
	const char *aws, *name;
	bool in_s3;
} s3aws_keys[] = {
	{ "aws_access_key_id", "access_key_id", false },
	{ "aws_secret_access_key", "secret_access_key", false },
	{ "aws_session_token", "session_token", false },
	{ "region", "region", false },
	{ "endpoint_url", "endpoint", false },
	{ "endpoint_url", "endpoint", true },
	{ "addressing_style", "addressing_style", true },
};

static char *
s3aws_trim(char *s)
{
	char *e = s + strlen(s);

	while (isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Whether a "[...]" header names the profile (config files say
 * "[profile NAME]" but for "[default]"). */
static bool
s3aws_section(const char *head, const char *profile, bool config)
{
	char want[300];

	if (config && strcmp(profile, "default") != 0)
		snprintf(want, sizeof(want), "profile %s", profile);
	else
		snprintf(want, sizeof(want), "%s", profile);
	return strcmp(head, want) == 0;
}

static int
s3aws_pair(struct s3conf *c, const char *key, const char *value, bool in_s3,
    const char *from)
{
	for (size_t i = 0; i < sizeof(s3aws_keys) / sizeof(s3aws_keys[0]); i++)
		if (s3aws_keys[i].in_s3 == in_s3 &&
		    strcmp(key, s3aws_keys[i].aws) == 0)
			return s3conf_set(c, s3aws_keys[i].name, value, from);
	return 0;		/* the CLI's other settings are not ours */
}

/* One line of the profile's section: "key = value", or an indented
 * "sub = value" below "s3 =". */
static int
s3aws_line(struct s3conf *c, char *line, bool *in_s3, const char *from)
{
	bool indented = isspace((unsigned char)line[0]);
	char *eq = strchr(line, '='), *key, *value;

	if (eq == NULL) {
		log_warnx("%s: expected KEY = VALUE", from);
		return -1;
	}
	*eq = '\0';
	key = s3aws_trim(line);
	value = s3aws_trim(eq + 1);
	if (!indented)
		*in_s3 = strcmp(key, "s3") == 0 && *value == '\0';
	if (*value == '\0')
		return 0;
	return s3aws_pair(c, key, value, indented && *in_s3, from);
}

static int
s3aws_file(struct s3conf *c, const char *path, const char *profile,
    bool config)
{
	FILE *f = fopen(path, "re");
	char line[4096], from[4200], *t;
	bool mine = false, in_s3 = false;
	unsigned long n = 0;
	int rc = 0;

	if (f == NULL)
		return 0;
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		n++;
		line[strcspn(line, "\r\n")] = '\0';
		t = s3aws_trim(line);
		if (*t == '\0' || *t == '#' || *t == ';')
			continue;
		snprintf(from, sizeof(from), "%s:%lu", path, n);
		if (*t == '[') {
			t[strcspn(t, "]")] = '\0';
			mine = s3aws_section(s3aws_trim(t + 1), profile, config);
			in_s3 = false;
		} else if (mine) {
			rc = s3aws_line(c, line, &in_s3, from);
		}
	}
	fclose(f);
	return rc;
}

int
s3conf_aws(struct s3conf *c, const char *(*get)(const char *))
{
	const char *home = get("HOME"), *profile = get("AWS_PROFILE");
	const char *cred = get("AWS_SHARED_CREDENTIALS_FILE");
	const char *conf = get("AWS_CONFIG_FILE");
	char cred_path[4096] = "", conf_path[4096] = "";

	if (profile == NULL || *profile == '\0')
		profile = "default";
	if (cred != NULL && *cred != '\0')
		snprintf(cred_path, sizeof(cred_path), "%s", cred);
	else if (home != NULL && *home != '\0')
		snprintf(cred_path, sizeof(cred_path), "%s/.aws/credentials", home);
	if (conf != NULL && *conf != '\0')
		snprintf(conf_path, sizeof(conf_path), "%s", conf);
	else if (home != NULL && *home != '\0')
		snprintf(conf_path, sizeof(conf_path), "%s/.aws/config", home);
	if ((conf_path[0] && s3aws_file(c, conf_path, profile, true) == -1) ||
	    (cred_path[0] && s3aws_file(c, cred_path, profile, false) == -1))
		return -1;
	return 0;
}
