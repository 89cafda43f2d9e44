#include "log.h"
#include "unit.h"

int unit_failed;

int
unit_main(const struct unit_test *tests, int n)
{
	int bad = 0;

	log_init("unit", LOG_QUIET);	/* the tests provoke errors on purpose */
	printf("1..%d\n", n);
	for (int i = 0; i < n; i++) {
		unit_failed = 0;
		tests[i].fn();
		printf("%sok %d - %s\n", unit_failed ? "not " : "", i + 1,
		    tests[i].name);
		bad += unit_failed != 0;
	}
	fflush(stdout);
	return bad ? 1 : 0;
}
