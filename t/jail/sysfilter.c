/*
 * sysfilter FILE CMD [ARG...]: runs CMD under a seccomp allow-list as
 * systemd applies a unit's SystemCallFilter= (without
 * SystemCallErrorNumber=): the system calls named in FILE, one per line,
 * are allowed, any other kills the process, and only the native
 * architecture's calls are allowed (SystemCallArchitectures=native).
 * Names this libseccomp does not know are skipped, as systemd skips them.
 * For the tests of etc/snapvm-ctrl.service's filter (t/ctrl.bats).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

static int
allow_listed(scmp_filter_ctx f, const char *path)
{
	char name[128];
	FILE *in = fopen(path, "re");
	int n = 0, nr;

	if (in == NULL) {
		perror(path);
		return -1;
	}
	while (fgets(name, sizeof(name), in) != NULL) {
		name[strcspn(name, " \t\r\n")] = '\0';
		if (name[0] == '\0' ||
		    (nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
			continue;
		if (seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0) != 0) {
			fprintf(stderr, "sysfilter: %s: cannot allow\n", name);
			n = -1;
			break;
		}
		n++;
	}
	fclose(in);
	return n;
}

int
main(int argc, char **argv)
{
	scmp_filter_ctx f;
	int n;

	if (argc < 3) {
		fprintf(stderr, "usage: sysfilter FILE CMD [ARG...]\n");
		return 64;
	}
	if ((f = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		return 70;
	if ((n = allow_listed(f, argv[1])) <= 0 || seccomp_load(f) != 0) {
		fprintf(stderr, "sysfilter: %s: no filter loaded\n", argv[1]);
		return 70;
	}
	seccomp_release(f);
	execvp(argv[2], argv + 2);
	perror(argv[2]);
	return 127;
}
