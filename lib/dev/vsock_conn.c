/*
 * The host side of virtio-vsock (vsock_conn.h): the connection table, its
 * Unix sockets, and the timer that gives up on a peer that stays silent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "file.h"
#include "monotime.h"
#include "vsock_conn.h"

#define CONN_EVENTS	(EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
#define SHUT_FLAG_RCV	1
#define SHUT_FLAG_SEND	2

static void vsock_conn_event(void *opaque, int fd, uint32_t events);

/* Connections the guest can address by their ports. */
struct vsock_conn *
vsock_conn_find(struct vsock_conn_table *ct, uint32_t host_port,
    uint32_t guest_port)
{
	for (int i = 0; i < VSOCK_MAX_CONN; i++) {
		struct vsock_conn *c = &ct->conn[i];

		if (c->state != VC_FREE && c->state != VC_HOST_LINE &&
		    c->state != VC_LINGER && c->host_port == host_port &&
		    c->guest_port == guest_port)
			return c;
	}
	return NULL;
}

int
vsock_conn_count(const struct vsock_conn_table *ct)
{
	int n = 0;

	for (int i = 0; i < VSOCK_MAX_CONN; i++)
		n += ct->conn[i].state != VC_FREE;
	return n;
}

struct vsock_conn *
vsock_conn_new(struct vsock_conn_table *ct, int fd, enum vsock_state state)
{
	for (int i = 0; i < VSOCK_MAX_CONN; i++) {
		struct vsock_conn *c = &ct->conn[i];

		if (c->state != VC_FREE)
			continue;
		memset(c, 0, sizeof(*c));
		c->fd = -1;
		if ((c->tx = malloc(VSOCK_BUF_ALLOC)) == NULL)
			return NULL;
		if (evloop_add(ct->loop, fd, CONN_EVENTS, vsock_conn_event, ct) == -1) {
			free(c->tx);
			c->tx = NULL;
			return NULL;
		}
		c->fd = fd;
		c->state = state;
		c->readable = true;
		return c;
	}
	errno = EUSERS;
	return NULL;
}

static void
vsock_conn_close_fd(struct vsock_conn_table *ct, struct vsock_conn *c)
{
	if (c->fd == -1)
		return;
	evloop_del(ct->loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

void
vsock_conn_free(struct vsock_conn_table *ct, struct vsock_conn *c)
{
	if (c->state == VC_FREE)
		return;
	vsock_conn_close_fd(ct, c);
	free(c->tx);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void
vsock_conn_free_all(struct vsock_conn_table *ct)
{
	for (int i = 0; i < VSOCK_MAX_CONN; i++)
		vsock_conn_free(ct, &ct->conn[i]);
}

/* Closes the host side and leaves the connection only to send the guest
 * its RST; one the guest never heard of is simply forgotten. */
static void
vsock_conn_hangup(struct vsock_conn_table *ct, struct vsock_conn *c)
{
	if (c->state == VC_HOST_LINE || c->state == VC_LINGER ||
	    (c->owe & VC_OWE_REQUEST)) {
		vsock_conn_free(ct, c);
		return;
	}
	vsock_conn_close_fd(ct, c);
	free(c->tx);
	c->tx = NULL;
	c->tx_len = 0;
	c->owe = 0;
	c->deadline_ms = 0;
	c->state = VC_RST;
}

/* Ends a connection that broke the protocol or whose host socket failed. */
void
vsock_conn_reset(struct vsock_conn_table *ct, struct vsock_conn *c,
    const char *why)
{
	if (c->state == VC_FREE || c->state == VC_RST)
		return;
	log_warnx_rate(&ct->log_guest, "virtio-vsock: connection %u <-> guest "
	    "port %u reset: %s", c->host_port, c->guest_port, why);
	ct->stats.resets++;
	vsock_conn_hangup(ct, c);
}

void
vsock_conn_wait(struct vsock_conn_table *ct, struct vsock_conn *c)
{
	c->deadline_ms = mono_ms() + ct->timeout_ms;
}

/* A guest connecting to host port P reaches the socket "PATH_P". */
int
vsock_conn_connect_host(struct vsock_conn_table *ct, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", ct->path,
	    port) >= (int)sizeof(sa.sun_path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		log_info_rate(&ct->log_guest, "virtio-vsock: %s: %s", sa.sun_path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Bytes the guest has room for.  A guest whose counters claim more in
 * flight than its buffer holds gets nothing until they make sense. */
uint32_t
vsock_conn_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 :
	    c->peer_buf_alloc - in_flight;
}

/* The guest is done and its bytes are out: the host socket closes (EOF
 * to the host program) and the guest gets the RST that ends it all. */
static void
vsock_conn_drained(struct vsock_conn_table *ct, struct vsock_conn *c)
{
	if (c->state == VC_LINGER)
		vsock_conn_free(ct, c);
	else if (c->state == VC_CLOSING)
		vsock_conn_hangup(ct, c);
}

static int
vsock_conn_write(struct vsock_conn_table *ct, struct vsock_conn *c)
{
	bool moved = false;

	while (c->tx_len > 0) {
		uint32_t n = VSOCK_BUF_ALLOC - c->tx_head < c->tx_len ?
		    VSOCK_BUF_ALLOC - c->tx_head : c->tx_len;
		ssize_t w = send(c->fd, c->tx + c->tx_head, n, MSG_NOSIGNAL);

		if (w == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		if (w <= 0)
			return -1;
		c->tx_head = (c->tx_head + (uint32_t)w) % VSOCK_BUF_ALLOC;
		c->tx_len -= (uint32_t)w;
		c->fwd_cnt += (uint32_t)w;
		moved = true;
	}
	if (moved && (c->state == VC_CLOSING || c->state == VC_LINGER))
		vsock_conn_wait(ct, c);
	return 0;
}

/*
 * Writes queued guest bytes to the host socket.  Each byte written frees
 * guest credit; the guest hears of it when half its buffer is free again.
 * Once the last byte is out after the guest shut down sending, the host
 * program gets EOF.  -1: the host socket is broken.
 */
int
vsock_conn_flush(struct vsock_conn_table *ct, struct vsock_conn *c)
{
	if (c->fd == -1 || vsock_conn_write(ct, c) == -1)
		return -1;
	if (c->state == VC_OPEN &&
	    (c->fwd_cnt - c->fwd_reported >= VSOCK_BUF_ALLOC / 2 ||
	    (c->tx_len == 0 && c->fwd_cnt != c->fwd_reported)))
		c->owe |= VC_OWE_CREDIT;
	if (c->tx_len > 0)
		return 0;
	if ((c->guest_shut & SHUT_FLAG_SEND) && !c->host_shut) {
		shutdown(c->fd, SHUT_WR);
		c->host_shut = true;
	}
	vsock_conn_drained(ct, c);
	return 0;
}

/* "CONNECT P": the guest port, or -1. */
static int64_t
vsock_conn_parse(const char *line)
{
	unsigned long port;
	char *end;

	if (strncmp(line, "CONNECT ", 8) != 0 || line[8] < '0' || line[8] > '9')
		return -1;
	errno = 0;
	port = strtoul(line + 8, &end, 10);
	if (*end != '\0' || errno != 0 || port > UINT32_MAX)
		return -1;
	return (int64_t)port;
}

/* A host port, from 2^30 up, that no connection to guest port gp uses. */
static uint32_t
vsock_conn_port(struct vsock_conn_table *ct, uint32_t gp)
{
	for (;;) {
		uint32_t p = ct->next_port++;

		if (ct->next_port == 0)
			ct->next_port = 1U << 30;
		if (vsock_conn_find(ct, p, gp) == NULL)
			return p;
	}
}

/*
 * "CONNECT P\n" from a host program: ask the guest for port P.  The line
 * is peeked at and only it is taken from the socket, so that what the
 * program wrote behind it stays there for the guest.
 */
static void
vsock_conn_line(struct vsock_conn_table *ct, struct vsock_conn *c)
{
	char line[32], sink[32], *nl;
	ssize_t n = recv(c->fd, line, sizeof(line) - 1, MSG_PEEK);
	int64_t port;

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		vsock_conn_free(ct, c);		/* gone before its line */
		return;
	}
	line[n] = '\0';
	if ((nl = memchr(line, '\n', (size_t)n)) == NULL) {
		if (n == sizeof(line) - 1) {
			log_warnx_rate(&ct->log_host, "virtio-vsock: a host "
			    "program sent no CONNECT line");
			vsock_conn_free(ct, c);
		}
		return;
	}
	*nl = '\0';
	if (recv(c->fd, sink, (size_t)(nl - line + 1), MSG_DONTWAIT) !=
	    nl - line + 1 || (port = vsock_conn_parse(line)) == -1) {
		log_warnx_rate(&ct->log_host, "virtio-vsock: a host program sent "
		    "\"%.24s\", not \"CONNECT <port>\"", line);
		vsock_conn_free(ct, c);
		return;
	}
	c->state = VC_CONNECTING;
	c->guest_port = (uint32_t)port;
	c->host_port = vsock_conn_port(ct, c->guest_port);
	c->owe |= VC_OWE_REQUEST;
	vsock_conn_wait(ct, c);
}

/* What a host socket's readiness means in each state. */
static void
vsock_conn_host(struct vsock_conn_table *ct, struct vsock_conn *c,
    uint32_t events)
{
	switch (c->state) {
	case VC_HOST_LINE:
		vsock_conn_line(ct, c);
		break;
	case VC_CONNECTING:
		/* A program that hangs up before the guest answers is gone;
		 * one that only shut down writing still waits for "OK". */
		if (events & (EPOLLHUP | EPOLLERR))
			vsock_conn_hangup(ct, c);
		break;
	case VC_OPEN:
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->readable = true;
		if ((events & (EPOLLOUT | EPOLLERR)) &&
		    vsock_conn_flush(ct, c) == -1)
			vsock_conn_reset(ct, c, "the host socket failed");
		break;
	case VC_CLOSING:
	case VC_LINGER:
		if (vsock_conn_flush(ct, c) == -1)
			vsock_conn_reset(ct, c, "the host program left before the "
			    "guest's last bytes");
		break;
	default:
		break;
	}
}

static struct vsock_conn *
vsock_conn_by_fd(struct vsock_conn_table *ct, int fd)
{
	for (int i = 0; i < VSOCK_MAX_CONN; i++)
		if (ct->conn[i].state != VC_FREE && ct->conn[i].fd == fd)
			return &ct->conn[i];
	return NULL;
}

static void
vsock_conn_event(void *opaque, int fd, uint32_t events)
{
	struct vsock_conn_table *ct = opaque;
	struct vsock_conn *c;

	pthread_mutex_lock(ct->lock);
	if ((c = vsock_conn_by_fd(ct, fd)) != NULL) {
		vsock_conn_host(ct, c, events);
		ct->ops->kick(ct->dev);
		vsock_conn_timer_arm(ct);
	}
	pthread_mutex_unlock(ct->lock);
}

static void
vsock_conn_accept(void *opaque, int fd, uint32_t events)
{
	struct vsock_conn_table *ct = opaque;
	struct vsock_conn *c;
	int s;

	(void)events;
	while ((s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		pthread_mutex_lock(ct->lock);
		if ((c = vsock_conn_new(ct, s, VC_HOST_LINE)) == NULL) {
			if (errno == EUSERS)
				ct->stats.refused++;
			log_warnx_rate(&ct->log_host, "virtio-vsock: host program "
			    "refused: %s", errno == EUSERS ? "the guest has "
			    "too many connections" : strerror(errno));
			close(s);
		} else {
			vsock_conn_wait(ct, c);
			vsock_conn_timer_arm(ct);
		}
		pthread_mutex_unlock(ct->lock);
	}
}

static const char *
vsock_conn_waiting_for(const struct vsock_conn *c)
{
	switch (c->state) {
	case VC_HOST_LINE:
		return "a host program sent no CONNECT line";
	case VC_CONNECTING:
		return "the guest did not answer a host CONNECT";
	default:
		return "the host program did not take the guest's last bytes";
	}
}

static void
vsock_conn_expire(struct vsock_conn_table *ct, struct vsock_conn *c)
{
	ct->stats.timeouts++;
	log_warnx_rate(&ct->log_host, "virtio-vsock: connection %u <-> guest "
	    "port %u given up after %u ms: %s", c->host_port, c->guest_port,
	    ct->timeout_ms, vsock_conn_waiting_for(c));
	ct->stats.resets += c->state != VC_HOST_LINE && c->state != VC_LINGER;
	vsock_conn_hangup(ct, c);
}

static void
vsock_conn_timer_event(void *opaque, int fd, uint32_t events)
{
	struct vsock_conn_table *ct = opaque;
	uint64_t ticks, now;

	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) == -1 && errno != EAGAIN)
		log_warn("virtio-vsock: timer");
	pthread_mutex_lock(ct->lock);
	now = mono_ms();
	ct->timer_at = 0;
	for (int i = 0; i < VSOCK_MAX_CONN; i++) {
		struct vsock_conn *c = &ct->conn[i];

		if (c->state != VC_FREE && c->state != VC_RST &&
		    c->deadline_ms != 0 && c->deadline_ms <= now)
			vsock_conn_expire(ct, c);
	}
	ct->ops->kick(ct->dev);
	vsock_conn_timer_arm(ct);
	pthread_mutex_unlock(ct->lock);
}

/* Arms the timer for the earliest wait on a peer, if it changed. */
void
vsock_conn_timer_arm(struct vsock_conn_table *ct)
{
	struct itimerspec its = { 0 };
	uint64_t at = 0, now;

	for (int i = 0; i < VSOCK_MAX_CONN; i++) {
		const struct vsock_conn *c = &ct->conn[i];

		if (c->state != VC_FREE && c->state != VC_RST &&
		    c->deadline_ms != 0 && (at == 0 || c->deadline_ms < at))
			at = c->deadline_ms;
	}
	if (at == ct->timer_at || ct->timer_fd == -1)
		return;
	ct->timer_at = at;
	if (at != 0) {
		now = mono_ms();
		at = at > now ? at - now : 1;
		its.it_value.tv_sec = (time_t)(at / 1000);
		its.it_value.tv_nsec = (long)(at % 1000) * 1000000;
	}
	if (timerfd_settime(ct->timer_fd, 0, &its, NULL) == -1)
		log_warn("virtio-vsock: timer");
}

void
vsock_conn_init(struct vsock_conn_table *ct, struct evloop *loop,
    pthread_mutex_t *lock, const struct vsock_conn_ops *ops, void *dev)
{
	const struct log_rate guest = LOG_RATE_INIT("virtio-vsock"),
	    host = LOG_RATE_INIT("virtio-vsock host");

	memset(ct, 0, sizeof(*ct));
	ct->ops = ops;
	ct->dev = dev;
	ct->lock = lock;
	ct->loop = loop;
	ct->listen_fd = ct->timer_fd = -1;
	ct->next_port = 1U << 30;
	ct->timeout_ms = VSOCK_TIMEOUT_MS;
	ct->log_guest = guest;
	ct->log_host = host;
	for (int i = 0; i < VSOCK_MAX_CONN; i++)
		ct->conn[i].fd = -1;
}

int
vsock_conn_listen(struct vsock_conn_table *ct, const char *path)
{
	struct sockaddr_un sa;

	/* Room for the longest "_PORT" too (vsock_conn_connect_host). */
	if (file_sockaddr(path, &sa, "vsock socket") == -1)
		return -1;
	if (strlen(path) + 12 > sizeof(ct->path)) {
		log_warnx("vsock socket \"%s\": no room for \"_PORT\" after it",
		    path);
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(ct->path, sizeof(ct->path), "%s", path);
	unlink(path);
	ct->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ct->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ct->listen_fd == -1 || ct->timer_fd == -1 ||
	    bind(ct->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(ct->listen_fd, 16) == -1 ||
	    evloop_add(ct->loop, ct->listen_fd, EPOLLIN, vsock_conn_accept,
	    ct) == -1 ||
	    evloop_add(ct->loop, ct->timer_fd, EPOLLIN, vsock_conn_timer_event,
	    ct) == -1) {
		log_warn("%s", path);
		return -1;
	}
	return 0;
}

void
vsock_conn_close(struct vsock_conn_table *ct)
{
	vsock_conn_free_all(ct);
	if (ct->listen_fd != -1) {
		evloop_del(ct->loop, ct->listen_fd);
		close(ct->listen_fd);
		unlink(ct->path);
	}
	if (ct->timer_fd != -1) {
		evloop_del(ct->loop, ct->timer_fd);
		close(ct->timer_fd);
	}
	ct->listen_fd = ct->timer_fd = -1;
	log_rate_flush(&ct->log_guest);
	log_rate_flush(&ct->log_host);
}
