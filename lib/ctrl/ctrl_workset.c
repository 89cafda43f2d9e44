/*
 * Working sets of ctrl's own diffs (snapvm-snapshot(5), "Working sets"):
 * the first restore of a function whose diff has none answers its first
 * real request with --record-workset, so that the pages that request
 * touched are recorded; once it has answered, ctrl takes the page bitmap
 * it wrote, and the builder's slot runs snaprestore --add-workset on a
 * copy of it (no VM), which replaces the diff in one step.  The new
 * layer then goes to the store like a new build.
 *
 * The recording runner is as untrusted as any: it only chooses pages (the
 * contents come from the checked layers), and its bitmap is taken with
 * O_NOFOLLOW, as a plain file of exactly the size one of its memory has,
 * into a file of ctrl's own before anything reads it.  A function is
 * recorded at most once per run of ctrl, and not again when adding failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctrl.h"
#include "log.h"
#include "monotime.h"

#define WS_DIR	".record"
/* A page bitmap's bytes per MiB of guest memory: a bit per 4 KiB page. */
#define WS_BITMAP_PER_MIB	32

/* The slot's directory, which its runner may write: one per slot, so
 * that a jailed runner gets its own. */
static void
slot_dir(const struct ctrl *c, int slot, char *out, size_t n)
{
	snprintf(out, n, "%.900s/" WS_DIR "/%d", c->conf.snapshot_dir, slot);
}

static void
taken_path(const struct ctrl *c, int fn, char *out, size_t n)
{
	snprintf(out, n, "%.900s/" WS_DIR "/%s.touched", c->conf.snapshot_dir,
	    c->conf.fn[fn].name);
}

static bool
has_workset(const struct ctrl *c, int fn)
{
	char dir[CTRL_PATH], path[CTRL_PATH + 16];
	struct stat st;

	ctrl_state_own_layer(c, fn, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/workset", dir);
	return stat(path, &st) == 0;
}

/* An empty directory for the slot's runner, its own when jailed. */
static int
slot_prepare(const struct ctrl *c, int slot, char *dir, size_t n)
{
	char top[CTRL_PATH], file[CTRL_PATH + 16];
	uid_t id = (uid_t)(c->conf.jail_uid + (uint64_t)slot);

	snprintf(top, sizeof(top), "%.900s/" WS_DIR, c->conf.snapshot_dir);
	slot_dir(c, slot, dir, n);
	if ((mkdir(top, 0700) == -1 && errno != EEXIST) ||
	    (mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    lchown(dir, geteuid(), getegid()) == -1) {
		log_warn("%s", dir);
		return -1;
	}
	snprintf(file, sizeof(file), "%s/touched", dir);
	if (unlink(file) == -1 && errno != ENOENT)
		return -1;
	if (c->conf.jail && chown(dir, id, id) == -1) {
		log_warn("%s", dir);
		return -1;
	}
	return 0;
}

const char *
ctrl_ws_arm(struct ctrl *c, int fn, int slot, bool restore)
{
	struct vm_slot *v = &c->vm[slot];
	char dir[CTRL_PATH];

	v->recording = false;
	if (!restore || !c->conf.record_worksets ||
	    c->conf.fn[fn].nlayers > 0 || c->ws[fn] != WS_NONE ||
	    has_workset(c, fn) ||
	    slot_prepare(c, slot, dir, sizeof(dir)) == -1)
		return NULL;
	snprintf(v->ws_path, sizeof(v->ws_path), "%s/touched", dir);
	v->recording = true;
	c->ws[fn] = WS_RECORDING;
	return v->ws_path;
}

/* Copies the runner's bitmap, len bytes exactly, to a file of ctrl's. */
static int
take(const char *from, const char *to, uint64_t len)
{
	char tmp[CTRL_PATH + 32], *buf = malloc(len ? len : 1);
	struct stat st;
	int in = -1, out = -1, rc = -1;

	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	if (buf == NULL ||
	    (in = open(from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1 || fstat(in, &st) == -1) {
		log_warn("%s", from);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != len) {
		log_warnx("%s: not a page bitmap of %ju bytes", from,
		    (uintmax_t)len);
		goto out;
	}
	if (read(in, buf, len) != (ssize_t)len ||
	    (out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1 || write(out, buf, len) != (ssize_t)len ||
	    fsync(out) == -1 || rename(tmp, to) == -1) {
		log_warn("%s", to);
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	if (out != -1)
		close(out);
	if (in != -1)
		close(in);
	free(buf);
	return rc;
}

void
ctrl_ws_answered(struct ctrl *c, struct vm_slot *v)
{
	char to[CTRL_PATH + 16], j[CTRL_PATH + 16];
	int fn = v->fn;

	if (!v->recording)
		return;
	v->recording = false;
	if (fn < 0)
		return;
	taken_path(c, fn, to, sizeof(to));
	if (take(v->ws_path, to, v->guest_mib * WS_BITMAP_PER_MIB) == -1) {
		c->ws[fn] = WS_DONE;
		ctrl_log(c, "workset_failed", 0, "\"function\":\"%s\","
		    "\"why\":\"the recording runner wrote no page bitmap\"",
		    c->conf.fn[fn].name);
		return;
	}
	unlink(v->ws_path);
	c->ws[fn] = WS_TAKEN;
	ctrl_log(c, "workset_recorded", 0, "\"function\":\"%s\",\"bitmap\":%s",
	    c->conf.fn[fn].name, ctrl_log_jstr(j, sizeof(j), to));
	if (c->builder.pid <= 0)	/* else when the builder is done */
		ctrl_ws_next(c);
}

void
ctrl_ws_vm_gone(struct ctrl *c, struct vm_slot *v)
{
	/* It ended before its first answer: the next restore records. */
	if (v->recording && v->fn >= 0 && c->ws[v->fn] == WS_RECORDING)
		c->ws[v->fn] = WS_NONE;
	v->recording = false;
}

bool
ctrl_ws_next(struct ctrl *c)
{
	static char add[] = "--add-workset", load[] = "--load-dir";
	char *argv[8];
	int fn;

	for (fn = 0; fn < c->conf.nfuncs && c->ws[fn] != WS_TAKEN; fn++)
		;
	if (fn == c->conf.nfuncs)
		return false;
	if (!ctrl_state_load_dirs(c, fn, c->ws_layers, sizeof(c->ws_layers))) {
		c->ws[fn] = WS_DONE;	/* its layers went meanwhile */
		return false;
	}
	taken_path(c, fn, c->ws_bitmap, sizeof(c->ws_bitmap));
	argv[0] = c->conf.snaprestore;
	argv[1] = load;
	argv[2] = c->ws_layers;
	argv[3] = add;
	argv[4] = c->ws_bitmap;
	argv[5] = NULL;
	c->ws[fn] = WS_ADDING;
	if (runproc_spawn(&c->builder, argv, RUNPROC_PIPE) == -1) {
		c->ws[fn] = WS_DONE;
		ctrl_log(c, "workset_failed", 0, "\"function\":\"%s\","
		    "\"why\":\"could not start snaprestore\"",
		    c->conf.fn[fn].name);
		return false;
	}
	runproc_close_input(&c->builder);
	ctrl_console_open(c, &c->builder_con, c->builder.pid,
	    c->conf.fn[fn].name);
	c->ws_fn = fn;
	c->builder_started_ms = mono_ms();
	return true;
}

void
ctrl_ws_added(struct ctrl *c, int status)
{
	int fn = c->ws_fn;
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	char dir[CTRL_PATH], *tail;
	size_t len;

	tail = ctrl_console_finish(c, &c->builder_con, &c->builder, !ok, &len);
	runproc_release(&c->builder);
	c->builder.pid = 0;
	c->ws_fn = -1;
	unlink(c->ws_bitmap);
	if (fn < 0) {			/* its function went meanwhile */
		free(tail);
		return;
	}
	c->ws[fn] = WS_DONE;
	if (!ok)
		ctrl_log_text(c, "workset_failed", 0, tail ? "console" : NULL,
		    tail, len, "\"function\":\"%s\",\"why\":\"snaprestore "
		    "--add-workset failed\",\"status\":%d", c->conf.fn[fn].name,
		    runproc_exit_code(status));
	free(tail);
	if (!ok)
		return;
	ctrl_log(c, "workset_added", 0, "\"function\":\"%s\",\"ms\":%ju",
	    c->conf.fn[fn].name,
	    (uintmax_t)(mono_ms() - c->builder_started_ms));
	ctrl_state_own_layer(c, fn, dir, sizeof(dir));
	ctrl_store_upload(c, dir);
}
