#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cpuwa.h"
#include "ctrlconf.h"
#include "file.h"
#include "jail.h"
#include "log.h"
#include "yconf.h"

/* PATH relative to the directory of the file FROM, unless absolute; made
 * absolute and clean, since ctrl hands paths to runners in jails
 * (vmjail(1) takes the runner by its absolute path, and binds no path
 * with a ".." in it) and to programs in other directories. */
static int
resolve(char *out, size_t n, const char *from, const char *path)
{
	char *copy = strdup(from), cwd[CTRL_PATH];
	const char *dir;
	int len;

	if (path[0] == '/' || copy == NULL) {
		len = snprintf(out, n, "%s", path);
	} else {
		dir = dirname(copy);
		if (dir[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
			len = snprintf(out, n, "%s/%s", dir, path);
		else if (strcmp(dir, ".") == 0)
			len = snprintf(out, n, "%s/%s", cwd, path);
		else
			len = snprintf(out, n, "%s/%s/%s", cwd, dir, path);
	}
	free(copy);
	if (len < 0 || (size_t)len >= n)
		return -1;
	/* vmjail(1) binds no path with a ".." in it. */
	file_path_clean(out);
	return 0;
}

static int
get_path(struct yconf *y, yaml_node_t *m, const char *key, bool required,
    char *out)
{
	char raw[CTRL_PATH];
	int rc = yconf_str(y, m, key, required, raw, sizeof(raw));

	if (rc == 0 && resolve(out, CTRL_PATH, y->path, raw) == -1) {
		yconf_error(y, yconf_get(y, m, key), key, "\"%s\": longer than "
		    "%d bytes from the directory of %s", raw, CTRL_PATH - 1,
		    y->path);
		return -1;
	}
	return rc;
}

static bool
valid_name(const char *s)
{
	return s[0] != '\0' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(s);
}

static const char *const fn_keys[] = { "name", "appfs", "memory", "vcpus",
	"concurrency", "timeout", "snapshot", "snapshots", "network",
	"idempotent", NULL };

static int
fn_layers(struct yconf *y, yaml_node_t *m, struct fn_conf *f)
{
	char raw[CTRL_MAX_LAYERS][256];
	int rc = yconf_strlist(y, m, "snapshot", raw, CTRL_MAX_LAYERS,
	    &f->nlayers);

	for (int i = 0; rc == 0 && i < f->nlayers; i++)
		if (resolve(f->layer[i], CTRL_PATH, y->path, raw[i]) == -1) {
			yconf_error(y, yconf_get(y, m, "snapshot"), "snapshot",
			    "\"%s\": longer than %d bytes from the directory "
			    "of %s", raw[i], CTRL_PATH - 1, y->path);
			rc = -1;
		}
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
	    yconf_uint(y, m, "timeout", false, 1, 86400000,
	    &f->timeout_ms) < 0 ||
	    yconf_bool(y, m, "snapshots", false, &f->snapshots) < 0 ||
	    yconf_bool(y, m, "network", false, &f->network) < 0 ||
	    yconf_bool(y, m, "idempotent", false, &f->idempotent) < 0 ||
	    fn_layers(y, m, f) == -1)
		return -1;
	if (f->network && !c->network) {
		yconf_error(y, yconf_get(y, m, "network"), "network", "true, "
		    "but ctrl.yaml has no network section");
		return -1;
	}
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
				yconf_error(y,
				    yaml_document_get_node(&y->doc, *it),
				    "name", "\"%s\" is defined twice",
				    fns[i].name);
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
	if ((root = yconf_root(&y)) != NULL &&
	    yconf_keys(&y, root, keys) == 0) {
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
	"log", "idle_timeout", "queue_limit", "functions", "snapshot_store",
	"snapshot_cache", "s3snap", "s3snap_config", "network", "tapnet",
	"console_ring", "console_rate", "http_connections", "http_buffer",
	"http_idle_timeout", "async_keep", "jail", "record_worksets",
	"cpu_template", "cpu_workarounds", "store_restore", "snappager", NULL };

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

/* The node of the i-th listen address, so that errors give its line. */
static yaml_node_t *
listen_node(struct yconf *y, yaml_node_t *m, int i)
{
	yaml_node_t *l = yconf_get(y, m, "listen");

	if (l != NULL && l->type == YAML_SEQUENCE_NODE)
		return yaml_document_get_node(&y->doc,
		    l->data.sequence.items.start[i]);
	return l;
}

/* "unix:PATH": the path resolved, and short enough for a socket address,
 * which the file system's limit on paths does not ensure. */
static int
listen_unix(struct yconf *y, const char *raw, char *out, size_t n,
    const char **why)
{
	struct sockaddr_un sa;
	char p[CTRL_PATH];

	if (raw[0] == '\0') {
		*why = "missing socket path";
		return -1;
	}
	if (resolve(p, sizeof(p), y->path, raw) == -1 ||
	    strlen(p) >= sizeof(sa.sun_path) || strlen(p) + 5 >= n) {
		*why = "the socket path is longer than 107 bytes";
		return -1;
	}
	snprintf(out, n, "unix:%s", p);
	return 0;
}

/* store_restore: lazy (the default) or download; and the page server's
 * program, found as s3snap is. */
static int
ctrl_store_restore(struct yconf *y, yaml_node_t *m, struct ctrl_conf *c)
{
	char how[16] = "lazy";

	snprintf(c->snappager, sizeof(c->snappager), "snappager");
	if (get_path(y, m, "snappager", false, c->snappager) < 0 ||
	    yconf_str(y, m, "store_restore", false, how, sizeof(how)) < 0)
		return -1;
	c->store_lazy = strcmp(how, "lazy") == 0;
	if (c->store_lazy || strcmp(how, "download") == 0)
		return 0;
	yconf_error(y, yconf_get(y, m, "store_restore"), "store_restore",
	    "\"%s\": expected lazy or download", how);
	return -1;
}

/* "s3://BUCKET[/PREFIX]", kept without a trailing slash.  s3snap(1)
 * checks the bucket name itself; here only what would make the layer
 * URLs ctrl builds from it wrong. */
static int
ctrl_store(struct yconf *y, yaml_node_t *m, struct ctrl_conf *c)
{
	size_t len;
	int rc;

	snprintf(c->s3snap, sizeof(c->s3snap), "s3snap");
	if (get_path(y, m, "s3snap", false, c->s3snap) < 0 ||
	    get_path(y, m, "s3snap_config", false, c->s3snap_config) < 0 ||
	    ctrl_store_restore(y, m, c) == -1 ||
	    (rc = yconf_str(y, m, "snapshot_store", false, c->store,
	    sizeof(c->store) - 64)) < 0)
		return -1;
	if (rc == 1)
		return 0;
	len = strlen(c->store);
	while (len > 5 && c->store[len - 1] == '/')
		c->store[--len] = '\0';
	if (strncmp(c->store, "s3://", 5) != 0 || len == 5 ||
	    c->store[5] == '/' || strpbrk(c->store, " \t?#") != NULL) {
		yconf_error(y, yconf_get(y, m, "snapshot_store"),
		    "snapshot_store", "\"%s\": expected s3://BUCKET or "
		    "s3://BUCKET/PREFIX", c->store);
		return -1;
	}
	return 0;
}

/* cpu_template is loaded now, so that --check finds a bad file; a
 * relative path is refused, since the runners read it in their jails,
 * where it is bound by its absolute path. */
static int
ctrl_cpu_template(struct yconf *y, yaml_node_t *m, struct ctrl_conf *c)
{
	struct cputmpl *t = malloc(sizeof(*t));
	int rc = -1;

	if (t == NULL)
		return -1;
	/* A built-in first: its name is no path, and the check below
	 * would refuse it as a relative one. */
	if (cputmpl_builtin(c->cpu_template, t) == 0)
		rc = 0;
	else if (c->cpu_template[0] != '/')
		yconf_error(y, yconf_get(y, m, "cpu_template"), "cpu_template",
		    "\"%s\": neither a built-in template (%s) nor an absolute "
		    "path", c->cpu_template, cputmpl_builtin_list);
	else if (cputmpl_load(c->cpu_template, t) != 0)
		yconf_error(y, yconf_get(y, m, "cpu_template"), "cpu_template",
		    "%s: not a usable template", c->cpu_template);
	else
		rc = 0;
	if (rc == 0)
		snprintf(c->cpu_name, sizeof(c->cpu_name), "%s", t->name);
	free(t);
	return rc;
}

static int
ctrl_cpu(struct yconf *y, yaml_node_t *m, struct ctrl_conf *c)
{
	enum cpuwa wa;

	snprintf(c->cpu_template, sizeof(c->cpu_template), "host");
	snprintf(c->cpu_workarounds, sizeof(c->cpu_workarounds), "%s",
	    cpuwa_word(CPUWA_AUTO));
	if (yconf_str(y, m, "cpu_template", false, c->cpu_template,
	    sizeof(c->cpu_template)) < 0 || ctrl_cpu_template(y, m, c) == -1)
		return -1;
	if (yconf_str(y, m, "cpu_workarounds", false, c->cpu_workarounds,
	    sizeof(c->cpu_workarounds)) < 0)
		return -1;
	if (cpuwa_parse(c->cpu_workarounds, &wa) == 0)
		return 0;
	yconf_error(y, yconf_get(y, m, "cpu_workarounds"), "cpu_workarounds",
	    "\"%s\": expected " CPUWA_WORDS, c->cpu_workarounds);
	return -1;
}

/* "A.B.C.D/P" for the bridge, with room after it in the subnet for one
 * address per VM slot and one for the builder. */
static int
net_cidr(const char *s, uint32_t *addr, int *prefix, const char **why)
{
	char a[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct in_addr in;
	uint32_t host_max;
	char *end;
	long p;

	*why = "expected A.B.C.D/PREFIX, the bridge's address in its subnet";
	if (slash == NULL || (size_t)(slash - s) >= sizeof(a))
		return -1;
	memcpy(a, s, (size_t)(slash - s));
	a[slash - s] = '\0';
	p = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, a, &in) != 1 || *end != '\0' ||
	    end == slash + 1 || p < 1 || p > 30)
		return -1;
	*addr = ntohl(in.s_addr);
	*prefix = (int)p;
	host_max = (uint32_t)((1ULL << (32 - p)) - 1);
	if ((*addr & host_max) == 0 ||
	    (uint64_t)(*addr & host_max) + CTRL_MAX_VMS + 2 > host_max) {
		*why = "the subnet must hold the bridge's address and 257 "
		    "more after it (a VM per slot and the builder): /23 or "
		    "wider, and not the network's own address";
		return -1;
	}
	return 0;
}

static const char *const net_keys[] = { "bridge", "address", "tap_prefix",
	NULL };

static bool
valid_prefix(const char *s)
{
	return s[0] != '\0' && strlen(s) <= 8 &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(s);
}

static int
ctrl_net(struct yconf *y, yaml_node_t *m, struct ctrl_conf *c)
{
	yaml_node_t *n = yconf_get(y, m, "network");
	const char *why;

	snprintf(c->tapnet, sizeof(c->tapnet), "tapnet");
	if (get_path(y, m, "tapnet", false, c->tapnet) < 0)
		return -1;
	if (n == NULL)
		return 0;
	if (n->type != YAML_MAPPING_NODE) {
		yconf_error(y, n, "network", "expected a mapping with bridge, "
		    "address and tap_prefix");
		return -1;
	}
	snprintf(c->tap_prefix, sizeof(c->tap_prefix), "svm");
	if (yconf_keys(y, n, net_keys) == -1 ||
	    yconf_str(y, n, "bridge", true, c->bridge, sizeof(c->bridge)) ||
	    yconf_str(y, n, "address", true, c->net_cidr,
	    sizeof(c->net_cidr)) ||
	    yconf_str(y, n, "tap_prefix", false, c->tap_prefix,
	    sizeof(c->tap_prefix)) < 0)
		return -1;
	if (net_cidr(c->net_cidr, &c->net_addr, &c->net_prefix, &why) == -1) {
		yconf_error(y, yconf_get(y, n, "address"), "address",
		    "\"%s\": %s", c->net_cidr, why);
		return -1;
	}
	if (!valid_prefix(c->tap_prefix)) {
		yconf_error(y, yconf_get(y, n, "tap_prefix"), "tap_prefix",
		    "\"%s\": 1 to 8 of a-z and 0-9", c->tap_prefix);
		return -1;
	}
	c->network = true;
	return 0;
}

static const char *const jail_keys[] = { "enabled", "uid", "base",
	"cgroup", "vmjail", "overhead", NULL };

/* A directory, for a key of the jail section; one that does not exist yet
 * is made when ctrl starts. */
static int
jail_dir(struct yconf *y, yaml_node_t *n, const char *key, const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1 && errno == ENOENT)
		return 0;
	if (stat(path, &st) == -1) {
		yconf_error(y, yconf_get(y, n, key), key, "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		yconf_error(y, yconf_get(y, n, key), key, "%s: not a directory",
		    path);
		return -1;
	}
	return 0;
}

/* Every slot's uid and gid lie in uid .. uid + CTRL_MAX_VMS: none is root
 * or the "nobody" of an unset id. */
static int
jail_ids(struct yconf *y, yaml_node_t *n, struct ctrl_conf *c)
{
	if (yconf_uint(y, n, "uid", false, 0, UINT32_MAX, &c->jail_uid) == -1)
		return -1;
	if (c->jail_uid == 0 || c->jail_uid + CTRL_MAX_VMS >= UINT32_MAX) {
		yconf_error(y, yconf_get(y, n, "uid"), "uid", "%ju: the "
		    "runners take uids and gids %ju to %ju, which must not "
		    "include 0 (root) nor reach %u", (uintmax_t)c->jail_uid,
		    (uintmax_t)c->jail_uid, (uintmax_t)c->jail_uid +
		    CTRL_MAX_VMS, UINT32_MAX);
		return -1;
	}
	return 0;
}

static int
jail_cgroup(struct yconf *y, yaml_node_t *n, struct ctrl_conf *c)
{
	char why[256];
	int rc;

	if (yconf_str(y, n, "cgroup", false, c->jail_cgroup,
	    sizeof(c->jail_cgroup)) == 0 &&
	    strcmp(c->jail_cgroup, "delegated") == 0) {
		c->jail_delegated = true;
		if (jail_cgroup_self(c->jail_cgroup, sizeof(c->jail_cgroup),
		    why, sizeof(why)) == -1) {
			yconf_error(y, yconf_get(y, n, "cgroup"), "cgroup",
			    "delegated: %s", why);
			return -1;
		}
	} else if ((rc = get_path(y, n, "cgroup", false, c->jail_cgroup)) != 0)
		return rc < 0 ? -1 : 0;
	if (jail_cgroup_usable(c->jail_cgroup, why, sizeof(why)) == -1) {
		yconf_error(y, yconf_get(y, n, "cgroup"), "cgroup", "%s: %s",
		    c->jail_cgroup, why);
		return -1;
	}
	return 0;
}

static int
ctrl_jail(struct yconf *y, yaml_node_t *m, struct ctrl_conf *c)
{
	yaml_node_t *n = yconf_get(y, m, "jail");

	snprintf(c->vmjail, sizeof(c->vmjail), "vmjail");
	snprintf(c->jail_base, sizeof(c->jail_base), "/srv/snapvm/jail");
	c->jail_overhead_mib = 64;
	c->jail_uid = CTRL_JAIL_UID;
	/* On by default where it can be: as root. */
	c->jail = geteuid() == 0;
	if (n == NULL)
		return 0;
	if (n->type != YAML_MAPPING_NODE) {
		yconf_error(y, n, "jail", "expected a mapping with enabled, "
		    "uid, base and cgroup");
		return -1;
	}
	if (yconf_keys(y, n, jail_keys) == -1 ||
	    yconf_bool(y, n, "enabled", false, &c->jail) < 0 ||
	    get_path(y, n, "vmjail", false, c->vmjail) < 0 ||
	    get_path(y, n, "base", false, c->jail_base) < 0 ||
	    yconf_uint(y, n, "overhead", false, 16, 4096,
	    &c->jail_overhead_mib) < 0)
		return -1;
	if (!c->jail)
		return 0;
	if (jail_ids(y, n, c) == -1 ||
	    jail_dir(y, n, "base", c->jail_base) == -1)
		return -1;
	return jail_cgroup(y, n, c);
}

static int
ctrl_listen(struct yconf *y, yaml_node_t *m, struct ctrl_conf *c)
{
	char raw[CTRL_MAX_LISTEN][256];
	struct sockaddr_storage sa;
	socklen_t len;
	const char *why = "";
	int rc = yconf_strlist(y, m, "listen", raw, CTRL_MAX_LISTEN,
	    &c->nlisten);

	for (int i = 0; rc == 0 && i < c->nlisten; i++) {
		if (strncmp(raw[i], "unix:", 5) == 0)
			rc = listen_unix(y, raw[i] + 5, c->listen[i],
			    sizeof(c->listen[i]), &why);
		else if ((rc = ctrlconf_inet(raw[i], &sa, &len, &why)) == 0)
			memcpy(c->listen[i], raw[i], sizeof(raw[i]));
		if (rc == -1)
			yconf_error(y, listen_node(y, m, i), "listen",
			    "\"%s\": %s", raw[i], why);
	}
	return rc < 0 ? -1 : 0;
}

uint64_t
ctrlconf_http_mib(const struct ctrl_conf *c)
{
	/* Each listener's server takes up to that many connections. */
	uint64_t conn_kib = (uint64_t)c->nlisten * (c->http_connections +
	    CTRL_HTTP_EXTRA) * CTRL_HTTP_CONN_KIB;

	if (c->nlisten == 0)
		return 0;
	return (c->http_buffer >> 20) + (conn_kib + 1023) / 1024;
}

/* Runners' consoles and the HTTP gateway's limits. */
static int
ctrl_limits(struct yconf *y, yaml_node_t *m, struct ctrl_conf *c)
{
	uint64_t ring_kib = 64, buffer_mib = 32;

	c->console_rate = 10;
	c->http_connections = 128;
	c->http_idle_s = 30;
	c->async_keep_s = 600;
	if (yconf_uint(y, m, "console_ring", false, 0, 1024, &ring_kib) < 0 ||
	    yconf_uint(y, m, "console_rate", false, 0, 10000,
	    &c->console_rate) < 0 ||
	    yconf_uint(y, m, "http_connections", false, 1, 10000,
	    &c->http_connections) < 0 ||
	    yconf_uint(y, m, "http_buffer", false, 1, 65536, &buffer_mib) < 0 ||
	    yconf_uint(y, m, "http_idle_timeout", false, 1, 3600,
	    &c->http_idle_s) < 0 ||
	    yconf_uint(y, m, "async_keep", false, 0, 604800,
	    &c->async_keep_s) < 0)
		return -1;
	c->console_ring = ring_kib << 10;
	c->http_buffer = buffer_mib << 20;
	/* VMs get what the HTTP gateway leaves of the budget. */
	if (c->budget_mib < ctrlconf_http_mib(c) + 16) {
		yconf_error(y, yconf_get(y, m, "memory_budget") ?
		    yconf_get(y, m, "memory_budget") : m, "memory_budget",
		    "%ju MiB leaves less than 16 MiB for VMs once %ju MiB are "
		    "set aside for HTTP (http_buffer, and %d KiB for each of "
		    "http_connections + %d per listen address)",
		    (uintmax_t)c->budget_mib,
		    (uintmax_t)ctrlconf_http_mib(c), CTRL_HTTP_CONN_KIB,
		    CTRL_HTTP_EXTRA);
		return -1;
	}
	return 0;
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
	c->record_worksets = true;
	if (yconf_load(&y, path) == -1)
		return -1;
	if ((m = yconf_root(&y)) != NULL && yconf_keys(&y, m, ctrl_keys) == 0 &&
	    ctrl_paths(&y, m, c) == 0 && ctrl_listen(&y, m, c) == 0 &&
	    yconf_uint(&y, m, "memory_budget", false, 16, 1 << 24,
	    &c->budget_mib) >= 0 &&
	    yconf_uint(&y, m, "idle_timeout", false, 1, 86400, &idle_s) >= 0 &&
	    yconf_uint(&y, m, "queue_limit", false, 1, 100000,
	    &c->queue_limit) >= 0 && ctrl_store(&y, m, c) == 0 &&
	    ctrl_net(&y, m, c) == 0 && ctrl_jail(&y, m, c) == 0 &&
	    yconf_uint(&y, m, "snapshot_cache", false, 0, 1 << 24,
	    &c->cache_mib) >= 0 && ctrl_limits(&y, m, c) == 0 &&
	    yconf_bool(&y, m, "record_worksets", false,
	    &c->record_worksets) >= 0 && ctrl_cpu(&y, m, c) == 0)
		rc = 0;
	c->idle_timeout_ms = idle_s * 1000;
	yconf_free(&y);
	if (rc == 0)
		rc = ctrlconf_load_functions(c, c->functions, c->fn,
		    &c->nfuncs);
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

/* A port: 1 to 65535, decimal digits only. */
static int
inet_port(const char *s, in_port_t *port, const char **why)
{
	unsigned long v;

	if (s[0] == '\0') {
		*why = "missing port";
		return -1;
	}
	v = strspn(s, "0123456789") == strlen(s) && strlen(s) <= 5 ?
	    strtoul(s, NULL, 10) : 0;
	if (v == 0 || v > 65535) {
		*why = "the port must be a number from 1 to 65535";
		return -1;
	}
	*port = htons((in_port_t)v);
	return 0;
}

/* Splits "HOST:PORT" or "[HOST]:PORT"; *v6 if bracketed. */
static int
inet_split(const char *s, char *host, size_t n, const char **port, bool *v6,
    const char **why)
{
	const char *h = s + (s[0] == '['), *end;

	*v6 = s[0] == '[';
	end = *v6 ? strchr(h, ']') : strrchr(h, ':');
	if (end == NULL) {
		*why = *v6 ? "missing ] after the IPv6 address" :
		    "missing port";
		return -1;
	}
	if (!*v6 && strchr(h, ':') != end) {
		*why = "an IPv6 address goes in brackets: [ADDRESS]:PORT";
		return -1;
	}
	*port = end + (*v6 ? 1 : 0);
	if (**port != ':') {
		*why = **port == '\0' ? "missing port" :
		    "expected [ADDRESS]:PORT";
		return -1;
	}
	(*port)++;
	if (end == h || (size_t)(end - h) >= n) {
		*why = end == h ? "missing address (0.0.0.0 or [::] for all)" :
		    "not a numeric address";
		return -1;
	}
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = '\0';
	return 0;
}

/* Numbers only, with inet_pton(3): inet_aton(3) would take "1:80" as
 * 0.0.0.1 and a name would be looked up at every start. */
int
ctrlconf_inet(const char *s, struct sockaddr_storage *sa, socklen_t *len,
    const char **why)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
	char host[INET6_ADDRSTRLEN];
	const char *port;
	bool v6;

	memset(sa, 0, sizeof(*sa));
	if (inet_split(s, host, sizeof(host), &port, &v6, why) == -1)
		return -1;
	if (v6 ? inet_pton(AF_INET6, host, &in6->sin6_addr) != 1 :
	    inet_pton(AF_INET, host, &in->sin_addr) != 1) {
		*why = v6 ? "not a numeric IPv6 address" : "not a numeric IPv4 "
		    "address (host names are not looked up; IPv6 goes in "
		    "brackets)";
		return -1;
	}
	if (inet_port(port, v6 ? &in6->sin6_port : &in->sin_port, why) == -1)
		return -1;
	sa->ss_family = v6 ? AF_INET6 : AF_INET;
	*len = v6 ? sizeof(*in6) : sizeof(*in);
	return 0;
}
