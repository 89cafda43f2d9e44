/* A minimal TAP producer for the C unit tests of lib/. */
#ifndef SNAPVM_UNIT_H
#define SNAPVM_UNIT_H

#include <stdio.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

extern int unit_failed;	/* checks failed in the current test */

#define CHECK(cond) do { \
	if (!(cond)) { \
		unit_failed++; \
		printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, \
		    #cond); \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	unsigned long long a_ = (unsigned long long)(a); \
	unsigned long long b_ = (unsigned long long)(b); \
	if (a_ != b_) { \
		unit_failed++; \
		printf("#   %s:%d: %s == %#llx, expected %s == %#llx\n", \
		    __FILE__, __LINE__, #a, a_, #b, b_); \
	} \
} while (0)

int unit_main(const struct unit_test *tests, int n);

/* The current test cannot run on this host (why): it is reported as a
 * skip, and its checks, if any fail, still count. */
void unit_skip(const char *why);

/* Sends stderr, with warnings on, to a file until unit_release_stderr(),
 * which puts both back and returns how many lines contain what. */
void unit_catch_stderr(void);
int unit_release_stderr(const char *what);

/* rm -rf dir, checked: a test's temporary tree. */
void unit_remove_tree(const char *dir);

/* How many descriptors this process has open (-1 if it cannot tell):
 * what a leak raises. */
int unit_open_fds(void);

#define UNIT_MAIN(tests) \
	int main(void) { \
		return unit_main(tests, (int)(sizeof(tests) / sizeof(tests[0]))); \
	}

#endif
