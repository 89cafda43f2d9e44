/*
 * The guests' CPU (cpu_template and cpu_workarounds in ctrl.yaml),
 * settled once at start.  A layer's guest kernel chose its instructions
 * under the template and the command-line workarounds it booted with, so
 * layers made under other settings are other snapshots: ctrl keeps its
 * own in a directory that names both, SNAPSHOT_DIR/cpu-TEMPLATE-WA (the
 * host template with its CPU's fingerprint, cpu-host.FP-WA), and the
 * store's keys follow (ctrl_store.c).  For that name to mean the same
 * on every run, auto is resolved here, as vmrun's auto would be, and the
 * answer is what every runner gets.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "cpucheck.h"
#include "cpuid.h"
#include "cpuwa.h"
#include "ctrl.h"

#define CTRL_CPU_KVM	"/dev/kvm"

/*
 * The host template passes this host's CPU as it is, so its layers are
 * named by a fingerprint of that CPU (cpucheck.h): hosts of other CPUs
 * sharing a store never fetch them, only to have snaprestore refuse
 * them.  "" without KVM, where nothing restores either.
 */
static void
ctrl_cpu_fingerprint(char out[CPUCHECK_FP_LEN])
{
	int fd = open(CTRL_CPU_KVM, O_RDWR | O_CLOEXEC);
	struct kvm_cpuid2 *s = NULL, *g = NULL;

	out[0] = '\0';
	if (fd == -1)
		return;
	if ((s = cpuid_supported(fd)) != NULL &&
	    (g = cpuid_guest(s, NULL, 0, 1)) != NULL)
		cpucheck_fingerprint(g->entries, g->nent, out);
	free(g);
	free(s);
	close(fd);
}

void
ctrl_cpu_settle(struct ctrl *c)
{
	const char *w = c->conf.cpu_workarounds;
	char fp[CPUCHECK_FP_LEN] = "";
	enum cpuwa wa;

	/* What vmrun --cpu-workarounds auto boots with on this host. */
	if (cpuwa_parse(w, &wa) == 0 && wa == CPUWA_AUTO)
		w = cpuwa_word(cpuwa_auto(CTRL_CPU_KVM, NULL));
	snprintf(c->cpu_workarounds, sizeof(c->cpu_workarounds), "%s", w);
	if (strcmp(c->conf.cpu_template, "host") == 0)
		ctrl_cpu_fingerprint(fp);
	/* Template names are letters, digits, '.', '_' and '-'
	 * (snapvm-cpu-template(5)), and so is a fingerprint: safe in a path
	 * and an S3 key. */
	snprintf(c->cpu_dir, sizeof(c->cpu_dir), "%.900s/cpu-%s%s%s-%s",
	    c->conf.snapshot_dir, c->conf.cpu_name, fp[0] ? "." : "", fp,
	    c->cpu_workarounds);
}

void
ctrl_cpu_start(struct ctrl *c)
{
	const char *w = c->conf.cpu_workarounds;
	char jt[CTRL_PATH + 16], jd[CTRL_PATH + 16];

	ctrl_cpu_settle(c);
	ctrl_log(c, "cpu", 0, "\"template\":%s,\"name\":\"%s\","
	    "\"workarounds\":\"%s\",\"configured\":\"%s\",\"dir\":%s",
	    ctrl_log_jstr(jt, sizeof(jt), c->conf.cpu_template),
	    c->conf.cpu_name, c->cpu_workarounds, w,
	    ctrl_log_jstr(jd, sizeof(jd), c->cpu_dir));
}

void
ctrl_cpu_mkdirs(const struct ctrl *c)
{
	char diffs[CTRL_PATH];

	ctrl_state_diff_dir(c, diffs, sizeof(diffs));
	mkdir(c->conf.snapshot_dir, 0755);
	mkdir(c->cpu_dir, 0755);
	mkdir(diffs, 0755);
}

void
ctrl_cpu_argv(const struct ctrl *c, char **argv, int *i)
{
	argv[(*i)++] = "--cpu-template";
	argv[(*i)++] = (char *)c->conf.cpu_template;
	argv[(*i)++] = "--cpu-workarounds";
	argv[(*i)++] = (char *)c->cpu_workarounds;
	argv[*i] = NULL;
}
