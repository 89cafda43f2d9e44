/*
 * ctrl's configuration (snapvm-config(5)): ctrl.yaml for the service,
 * functions.yaml for the functions it runs.  Relative paths are taken
 * from the directory of the file that holds them.
 */
#ifndef SNAPVM_CTRLCONF_H
#define SNAPVM_CTRLCONF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cputmpl.h"

#define CTRL_MAX_FUNCS		64
#define CTRL_MAX_VMS		256
/* The snapshot builder's slot: its uid, tap and jail come after the VMs'. */
#define CTRL_BUILDER_SLOT	CTRL_MAX_VMS
#define CTRL_MAX_LISTEN		4
#define CTRL_MAX_LAYERS		8
#define CTRL_PATH		1024
/* The first uid (and gid) of the runners by default: in the range that
 * systemd leaves unused (above its container ranges, below 2^31). */
#define CTRL_JAIL_UID		2000000000
/* HTTP: connections past http_connections that are still accepted, to be
 * told 503; and what ctrl sets aside for each connection (libmicrohttpd's
 * 32 KiB memory pool and the rest of its state and ours). */
#define CTRL_HTTP_EXTRA		16
#define CTRL_HTTP_CONN_KIB	64

struct fn_conf {
	char name[64];
	char appfs[CTRL_PATH];
	uint64_t memory_mib;
	int vcpus;
	int concurrency;		/* VMs of this function at once */
	uint64_t timeout_ms;		/* per request */
	int nlayers;			/* 0: ctrl makes and uses its own */
	char layer[CTRL_MAX_LAYERS][CTRL_PATH];
	bool snapshots;			/* false: cold boots only */
	bool network;			/* its VMs on ctrl's bridge */
	bool idempotent;		/* a request whose runner died may
					 * run again, once */
};

struct ctrl_conf {
	char kernel[CTRL_PATH], rootfs[CTRL_PATH];
	char snapshot_dir[CTRL_PATH];
	char vmrun[CTRL_PATH], snaprestore[CTRL_PATH];
	char store[CTRL_PATH];		/* "s3://BUCKET/PREFIX" or "" */
	char s3snap[CTRL_PATH], s3snap_config[CTRL_PATH];
	/* store_restore: layers missing here but in the store are restored
	 * lazily through a page server (true, "lazy") or downloaded whole
	 * first ("download") */
	bool store_lazy;
	char snappager[CTRL_PATH];
	uint64_t cache_mib;		/* snapshot_dir's limit; 0: none */
	bool record_worksets;		/* its diffs' working sets, from the
					 * first request of each */
	/* the guests' CPU: cpu_template as given (a built-in's name or an
	 * absolute path), the name of the template it holds, and
	 * cpu_workarounds as given ("auto", "on", "noxsave" or "off") */
	char cpu_template[CTRL_PATH];
	char cpu_name[CPUTMPL_NAME_MAX];
	char cpu_workarounds[16];
	/* network: a bridge for the VMs of functions with network: true */
	bool network;
	char bridge[16], tap_prefix[8];
	char net_cidr[24];		/* the bridge's address, A.B.C.D/P */
	uint32_t net_addr;		/* the same, host byte order */
	int net_prefix;
	char tapnet[CTRL_PATH];
	/* jail: each runner through vmjail(1) */
	bool jail;
	uint64_t jail_uid;		/* slot i runs as uid and gid jail_uid + i */
	uint64_t jail_overhead_mib;	/* memory.max: the guest's and this */
	char jail_base[CTRL_PATH], jail_cgroup[CTRL_PATH];	/* "": none */
	char vmjail[CTRL_PATH];
	bool jail_delegated;		/* jail_cgroup is ctrl's own */
	uint64_t budget_mib;
	int nlisten;
	char listen[CTRL_MAX_LISTEN][256];	/* "HOST:PORT" or "unix:PATH" */
	char log[CTRL_PATH];			/* "stderr" or a file */
	uint64_t idle_timeout_ms;
	uint64_t queue_limit;
	uint64_t console_ring;			/* bytes of stderr kept per VM */
	uint64_t console_rate;			/* lines a second per VM */
	uint64_t http_connections;
	uint64_t http_buffer;			/* bytes */
	uint64_t http_idle_s;
	uint64_t async_keep_s;			/* 0: no asynchronous calls */
	char functions[CTRL_PATH];
	char appfs_dir[CTRL_PATH];
	int nfuncs;
	struct fn_conf fn[CTRL_MAX_FUNCS];
};

/* ctrl.yaml, then the functions file it names. */
int ctrlconf_load(struct ctrl_conf *c, const char *path);
/* functions.yaml alone (SIGHUP): into fns, leaving c as it is. */
int ctrlconf_load_functions(const struct ctrl_conf *c, const char *path,
    struct fn_conf *fns, int *nfuncs);
/* The part of memory_budget set aside for HTTP, in MiB: 0 without a
 * listen address. */
uint64_t ctrlconf_http_mib(const struct ctrl_conf *c);
const struct fn_conf *ctrlconf_find(const struct ctrl_conf *c,
    const char *name);
/* A TCP listen address, "A.B.C.D:PORT" or "[IPv6]:PORT", numbers only
 * (no name is looked up): 0 and the address in sa, or -1 and why not. */
int ctrlconf_inet(const char *s, struct sockaddr_storage *sa, socklen_t *len,
    const char **why);

#endif
