/*
 * The bytes HTTP clients make ctrl hold (c->http_bytes, at most
 * http_buffer): counted by the server's threads as bodies arrive and by
 * the main loop for payloads, answers and kept results, so atomically.
 */
#include "ctrl.h"

bool
ctrl_hold(struct ctrl *c, uint64_t *held, uint64_t n, bool small)
{
	uint64_t cur = __atomic_load_n(&c->http_bytes, __ATOMIC_SEQ_CST);

	do {
		if (!small && cur + n > c->conf.http_buffer)
			return false;
	} while (!__atomic_compare_exchange_n(&c->http_bytes, &cur, cur + n,
	    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	*held += n;
	return true;
}

void
ctrl_let_go(struct ctrl *c, uint64_t *held, uint64_t n)
{
	n = n < *held ? n : *held;
	__atomic_sub_fetch(&c->http_bytes, n, __ATOMIC_SEQ_CST);
	*held -= n;
}
