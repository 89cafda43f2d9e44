/*
 * Asynchronous invocations (Prefer: respond-async): the exchange is
 * answered 202 at once, the request runs as any other, and its answer is
 * kept for GET /v1/invocations/ID.  What they keep is bounded: at most
 * CTRL_ASYNC_MAX of them, and of http_buffer at most half (the rest stays
 * for exchanges waiting on their answer); an answer that does not fit is
 * kept as a 500 AnswerDropped.  Kept answers live in ctrl's memory only:
 * a restart loses them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ctrl.h"
#include "monotime.h"

static bool
async_hold(struct ctrl *c, struct async_inv *a, uint64_t n, bool small)
{
	if (!small && c->async_bytes + n > c->conf.http_buffer / 2)
		return false;
	if (!ctrl_hold(c, &a->held, n, small))
		return false;
	c->async_bytes += n;
	return true;
}

static void
async_let_go(struct ctrl *c, struct async_inv *a)
{
	c->async_bytes -= a->held;
	ctrl_let_go(c, &a->held, a->held);
}

/* The answer arrives (r->respond): kept, if it fits. */
static void
async_respond(struct ctrl *c, struct request *r, int status, const char *body)
{
	static const char over[] = "{\"type\":\"AnswerDropped\",\"message\":"
	    "\"the function ran, but its answer does not fit in ctrl's HTTP "
	    "buffer\"}";
	struct async_inv *a = r->http;

	async_let_go(c, a);		/* the payload's */
	if (!async_hold(c, a, strlen(body), false)) {
		status = 500;
		body = over;
		async_hold(c, a, sizeof(over), true);
	}
	a->body = strdup(body);
	a->status = a->body != NULL ? status : 500;
	a->cold = r->cold;
	a->done = true;
	a->done_ms = mono_ms();
	c->async_n[0]--;
	c->async_n[1]++;
}

static bool
async_new_id(char *out)
{
	unsigned char b[CTRL_ASYNC_ID / 2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return false;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return true;
}

const struct async_inv *
ctrl_async_submit(struct ctrl *c, struct request *r, uint64_t held)
{
	struct async_inv *a;
	struct request *q;

	if (c->async_n[0] + c->async_n[1] >= CTRL_ASYNC_MAX ||
	    c->async_bytes + held > c->conf.http_buffer / 2 ||
	    (a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	if ((q = calloc(1, sizeof(*q))) == NULL || !async_new_id(a->id)) {
		free(q);
		free(a);
		return NULL;
	}
	memcpy(a->fn_name, r->fn_name, sizeof(a->fn_name));
	memcpy(a->client_id, r->client_id, sizeof(a->client_id));
	a->arrived_ms = r->arrived_ms;
	a->held = held;			/* the exchange's until now */
	c->async_bytes += held;
	a->next = c->async;
	c->async = a;
	c->async_n[0]++;
	*q = *r;
	q->src = SRC_ASYNC;
	q->id = json_object_get(r->id);
	q->respond = async_respond;
	q->http = a;
	q->next = NULL;
	r->payload = NULL;		/* q's now */
	ctrl_request_enqueue(c, q);
	return a;
}

static bool
async_expired(const struct ctrl *c, const struct async_inv *a, uint64_t now)
{
	return a->done && now - a->done_ms >= c->conf.async_keep_s * 1000;
}

const struct async_inv *
ctrl_async_find(const struct ctrl *c, const char *id)
{
	uint64_t now = mono_ms();

	for (const struct async_inv *a = c->async; a != NULL; a = a->next)
		if (strcmp(a->id, id) == 0)
			return async_expired(c, a, now) ? NULL : a;
	return NULL;
}

static void
async_drop(struct ctrl *c, struct async_inv **pp)
{
	struct async_inv *a = *pp;

	*pp = a->next;
	async_let_go(c, a);
	c->async_n[a->done ? 1 : 0]--;
	free(a->body);
	free(a);
}

void
ctrl_async_expire(struct ctrl *c)
{
	uint64_t now = mono_ms();

	for (struct async_inv **pp = &c->async; *pp != NULL; )
		if (async_expired(c, *pp, now))
			async_drop(c, pp);
		else
			pp = &(*pp)->next;
}

/* At exit, with no request left to answer. */
void
ctrl_async_free_all(struct ctrl *c)
{
	while (c->async != NULL)
		async_drop(c, &c->async);
}
