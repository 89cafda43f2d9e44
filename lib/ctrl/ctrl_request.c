/* Requests in ctrl: parsed, queued, answered exactly once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrl.h"
#include "log.h"
#include "monotime.h"
#include "reqid.h"

static const char *const outcome_type[OUT_N] = {
	"ok", "FunctionError", "BadRequest", "NotFound", "OverCapacity",
	"Timeout", "RunnerFailed", "ShuttingDown",
};

/* An HTTP exchange owns its request; the server frees both. */
void
ctrl_request_free(struct request *r)
{
	if (r == NULL || r->src == SRC_HTTP)
		return;
	json_object_put(r->id);
	free(r->payload);
	free(r);
}

/* A request line's members: the runner's, and "time" of ctrl's own. */
static const char *const request_members[] = { "id", "function", "payload",
	"time", NULL };

/* "time": whole milliseconds of a double, which holds integers exactly
 * up to 2^53; beyond, or not a number, it is refused (a cast of a
 * larger double to an integer is undefined). */
#define TIME_MAX_MS	9007199254740992.0

static int
request_time(json_object *o, uint64_t *ms, char *why, size_t n)
{
	json_object *t;
	double v;

	*ms = 0;
	if (!json_object_object_get_ex(o, "time", &t))
		return 0;
	v = json_object_get_double(t);
	if ((!json_object_is_type(t, json_type_int) &&
	    !json_object_is_type(t, json_type_double)) ||
	    !(v >= 0 && v <= TIME_MAX_MS)) {
		snprintf(why, n, "time: expected milliseconds from 0 to 2^53");
		return -1;
	}
	*ms = (uint64_t)v;
	return 0;
}

/* A request line; NULL with why filled if it is malformed.  *fn_missing
 * tells an unknown function (404) from other faults (400). */
struct request *
ctrl_request_parse(struct ctrl *c, const char *line, char *why, size_t n,
    int *fn_missing)
{
	json_object *o = json_tokener_parse(line), *f = NULL, *id, *p;
	struct request *r = NULL;
	const struct fn_conf *fc;
	uint64_t at_ms;

	*fn_missing = 0;
	if (o == NULL || !json_object_is_type(o, json_type_object))
		snprintf(why, n, "not a JSON object");
	else if (reqid_members(o, request_members, why, n) == 0 &&
	    (!json_object_object_get_ex(o, "function", &f) ||
	    !json_object_is_type(f, json_type_string)))
		snprintf(why, n, "function: expected the name of a function");
	else if (f != NULL && (fc = ctrlconf_find(&c->conf,
	    json_object_get_string(f))) == NULL) {
		snprintf(why, n, "no function \"%.60s\"",
		    json_object_get_string(f));
		*fn_missing = 1;
	} else if (f != NULL && request_time(o, &at_ms, why, n) == 0 &&
	    (r = calloc(1, sizeof(*r))) != NULL) {
		r->fn = (int)(fc - c->conf.fn);
		snprintf(r->fn_name, sizeof(r->fn_name), "%s", fc->name);
		r->at_ms = at_ms;
		if (json_object_object_get_ex(o, "id", &id))
			r->id = json_object_get(id);
		p = json_object_object_get_ex(o, "payload", &p) ? p : NULL;
		r->payload = strdup(p ? json_object_to_json_string_ext(p,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) :
		    "null");
	}
	json_object_put(o);
	return r;
}

enum outcome
ctrl_request_refusal(const struct ctrl *c)
{
	if (c->draining)
		return OUT_SHUTDOWN;
	if (c->queued >= c->conf.queue_limit)
		return OUT_OVER_CAPACITY;
	return OUT_OK;
}

void
ctrl_request_enqueue(struct ctrl *c, struct request *r)
{
	enum outcome o = ctrl_request_refusal(c);

	if (r->seq == 0) {		/* the HTTP gateway numbers its own */
		r->seq = ++c->seq;
		r->arrived_ms = mono_ms();
	}
	r->deadline_ms = r->arrived_ms + c->conf.fn[r->fn].timeout_ms;
	if (r->payload != NULL && strlen(r->payload) > CTRL_MAX_PAYLOAD) {
		ctrl_request_fail(c, r, OUT_BAD_REQUEST, "BadRequest",
		    "the payload is larger than " CTRL_MAX_PAYLOAD_TEXT);
		return;
	}
	if (o != OUT_OK) {
		ctrl_request_fail(c, r, o, outcome_type[o], o == OUT_SHUTDOWN ?
		    "ctrl is shutting down" : "the request queue is full");
		return;
	}
	r->next = NULL;
	*c->queue_tail = r;
	c->queue_tail = &r->next;
	c->queued++;
}

void
ctrl_request_requeue(struct ctrl *c, struct request *r)
{
	r->next = c->queue;
	if (c->queue == NULL)
		c->queue_tail = &r->next;
	c->queue = r;
	c->queued++;
}

static void
write_line(struct ctrl *c, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	/* Written when the reader takes it (ctrl_sink.c): never lost, and
	 * never waited for. */
	ctrl_sink_ensure(c);
	ctrl_sink_put(&c->out, s, strlen(s));
	ctrl_sink_put(&c->out, "\n", 1);
}

/* The answer: one line for the lines gateway, one HTTP response else. */
static void
deliver(struct ctrl *c, struct request *r, enum outcome o, json_object *body)
{
	static const int http_status[OUT_N] = { 200, 500, 400, 404, 503, 504,
		500, 503 };
	json_object *out = json_object_new_object(), *v;

	json_object_object_add(out, "id", json_object_get(r->id));
	json_object_object_add(out, "function", r->fn_name[0] ?
	    json_object_new_string(r->fn_name) : NULL);
	json_object_object_add(out, "status", json_object_new_string(
	    o == OUT_OK ? "ok" : "error"));
	if (json_object_object_get_ex(body, o == OUT_OK ? "response" : "error",
	    &v))
		json_object_object_add(out, o == OUT_OK ? "response" : "error",
		    json_object_get(v));
	json_object_object_add(out, "cold", json_object_new_boolean(r->cold));
	json_object_object_add(out, "latency_ms", json_object_new_int64(
	    (int64_t)(mono_ms() - r->arrived_ms)));
	if (r->respond != NULL)
		r->respond(c, r, http_status[o], json_object_to_json_string_ext(
		    json_object_object_get_ex(out, o == OUT_OK ? "response" :
		    "error", &v) ? v : out, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		write_line(c, out);
	json_object_put(out);
}

/* The caller's own id, for the log: ,"request_id":... (at most about
 * 128 bytes of it), or "". */
static const char *
client_id(const struct request *r, char *buf, size_t n)
{
	char id[160];
	const char *s = NULL;

	if (r->client_id[0] != '\0')
		s = ctrl_log_jstr(id, sizeof(id), r->client_id);
	else if (r->id != NULL && !json_object_is_type(r->id, json_type_null)) {
		s = json_object_to_json_string_ext(r->id,
		    JSON_C_TO_STRING_PLAIN);
		if (json_object_is_type(r->id, json_type_string))
			s = ctrl_log_jstr(id, sizeof(id),
			    json_object_get_string(r->id));
	}
	if (s == NULL)
		return "";
	snprintf(buf, n, ",\"request_id\":%s", s);
	return buf;
}

void
ctrl_request_fail(struct ctrl *c, struct request *r, enum outcome o,
    const char *type, const char *msg)
{
	char cid[200];
	json_object *body = json_object_new_object();
	json_object *e = json_object_new_object();

	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(body, "error", e);
	ctrl_log(c, "request_failed", r->seq, "\"outcome\":\"%s\"%s",
	    outcome_type[o], client_id(r, cid, sizeof(cid)));
	ctrl_metrics_observe(c, r, o);
	deliver(c, r, o, body);
	json_object_put(body);
	ctrl_request_free(r);
}

/* The error object comes from the guest's runtime as it sent it: its
 * members may be null, which json_object_get_string() gives as NULL. */
static bool
is_string(json_object *o, const char *s)
{
	return json_object_is_type(o, json_type_string) &&
	    strcmp(json_object_get_string(o), s) == 0;
}

/* The runner's response line answers the request. */
void
ctrl_request_finish(struct ctrl *c, struct request *r, enum outcome o,
    const char *line)
{
	json_object *body = json_tokener_parse(line), *st, *e, *t;
	char cid[200];

	if (body != NULL && json_object_object_get_ex(body, "status", &st) &&
	    is_string(st, "error")) {
		o = OUT_FUNCTION_ERROR;
		if (json_object_object_get_ex(body, "error", &e) &&
		    json_object_object_get_ex(e, "type", &t) &&
		    is_string(t, "Timeout"))
			o = OUT_TIMEOUT;
	}
	ctrl_log(c, "request_done", r->seq, "\"outcome\":\"%s\",\"cold\":%s%s",
	    outcome_type[o], r->cold ? "true" : "false",
	    client_id(r, cid, sizeof(cid)));
	ctrl_metrics_observe(c, r, o);
	deliver(c, r, o, body);
	json_object_put(body);
	ctrl_request_free(r);
}

/* Requests that waited past their deadline in the queue. */
void
ctrl_request_expire(struct ctrl *c)
{
	uint64_t now = mono_ms();

	for (struct request **pp = &c->queue; *pp != NULL; ) {
		struct request *r = *pp;

		if (r->deadline_ms > now) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		c->queued--;
		ctrl_request_fail(c, r, OUT_OVER_CAPACITY, "OverCapacity",
		    "no VM could be started for this request before its "
		    "deadline");
	}
	c->queue_tail = &c->queue;
	while (*c->queue_tail != NULL)
		c->queue_tail = &(*c->queue_tail)->next;
}
