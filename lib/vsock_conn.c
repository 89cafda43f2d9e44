/*
 * The host side of virtio-vsock: a table of connections, each a Unix
 * stream socket, non-blocking and edge-triggered on the evloop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "virtio_vsock.h"

#define OP_REQUEST		1
#define OP_RST			3
#define OP_CREDIT_UPDATE	6
#define CONN_EVENTS	(EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

struct vsock_conn *
vsock_conn_find(struct virtio_vsock *v, uint32_t host_port,
    uint32_t guest_port)
{
	for (int i = 0; i < VSOCK_MAX_CONN; i++) {
		struct vsock_conn *c = &v->conn[i];

		if (c->state != VC_FREE && c->state != VC_HOST_LINE &&
		    c->host_port == host_port && c->guest_port == guest_port)
			return c;
	}
	return NULL;
}

struct vsock_conn *
vsock_conn_new(struct virtio_vsock *v, int fd, enum vsock_state state)
{
	for (int i = 0; i < VSOCK_MAX_CONN; i++) {
		struct vsock_conn *c = &v->conn[i];

		if (c->state != VC_FREE)
			continue;
		memset(c, 0, sizeof(*c));
		if ((c->tx = malloc(VSOCK_BUF_ALLOC)) == NULL)
			return NULL;
		c->fd = fd;
		c->state = state;
		c->readable = true;
		if (evloop_add(v->loop, fd, CONN_EVENTS, vsock_conn_event, v) == -1) {
			free(c->tx);
			c->state = VC_FREE;
			c->fd = -1;
			return NULL;
		}
		return c;
	}
	log_warnx("virtio-vsock: more than %d connections", VSOCK_MAX_CONN);
	return NULL;
}

void
vsock_conn_free(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->state == VC_FREE)
		return;
	evloop_del(v->loop, c->fd);
	close(c->fd);
	free(c->tx);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void
vsock_conn_free_all(struct virtio_vsock *v)
{
	for (int i = 0; i < VSOCK_MAX_CONN; i++)
		vsock_conn_free(v, &v->conn[i]);
}

/* A guest connecting to host port P reaches the socket "PATH_P". */
int
vsock_conn_connect_host(struct virtio_vsock *v, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->path,
	    port) >= (int)sizeof(sa.sun_path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		log_info("virtio-vsock: %s: %s", sa.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Writes queued guest bytes to the host socket.  Each byte written frees
 * guest credit; the guest hears of it when half its buffer is free again.
 */
int
vsock_conn_flush(struct virtio_vsock *v, struct vsock_conn *c)
{
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
	}
	if (c->fwd_cnt - c->fwd_reported >= VSOCK_BUF_ALLOC / 2 ||
	    (c->tx_len == 0 && c->fwd_cnt != c->fwd_reported)) {
		vsock_send_ctl(v, c, OP_CREDIT_UPDATE, 0);
		c->fwd_reported = c->fwd_cnt;
	}
	return 0;
}

/* "CONNECT P\n" from a host program: ask the guest for port P. */
static void
vsock_conn_line(struct virtio_vsock *v, struct vsock_conn *c)
{
	ssize_t n = read(c->fd, c->line + c->line_len,
	    sizeof(c->line) - 1 - c->line_len);
	char *nl, *end;
	unsigned long port;

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			vsock_conn_free(v, c);
		return;
	}
	c->line_len += (uint32_t)n;
	c->line[c->line_len] = '\0';
	if ((nl = strchr(c->line, '\n')) == NULL) {
		if (c->line_len == sizeof(c->line) - 1)
			vsock_conn_free(v, c);	/* no newline in time */
		return;
	}
	*nl = '\0';
	errno = 0;
	if (strncmp(c->line, "CONNECT ", 8) != 0 ||
	    (port = strtoul(c->line + 8, &end, 10)) > UINT32_MAX ||
	    *end != '\0' || errno != 0 || end == c->line + 8) {
		vsock_conn_free(v, c);
		return;
	}
	c->state = VC_CONNECTING;
	c->guest_port = (uint32_t)port;
	c->host_port = v->next_port++;
	c->peer_buf_alloc = 0;
	vsock_send_ctl(v, c, OP_REQUEST, 0);
}

static struct vsock_conn *
vsock_conn_by_fd(struct virtio_vsock *v, int fd)
{
	for (int i = 0; i < VSOCK_MAX_CONN; i++)
		if (v->conn[i].state != VC_FREE && v->conn[i].fd == fd)
			return &v->conn[i];
	return NULL;
}

void
vsock_conn_event(void *opaque, int fd, uint32_t events)
{
	struct virtio_vsock *v = opaque;
	struct vsock_conn *c;

	pthread_mutex_lock(&v->t->lock);
	if ((c = vsock_conn_by_fd(v, fd)) != NULL) {
		if (c->state == VC_HOST_LINE && (events & EPOLLIN))
			vsock_conn_line(v, c);
		else if (c->state == VC_OPEN) {
			if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
				c->readable = true;
			if ((events & EPOLLOUT) && vsock_conn_flush(v, c) == -1)
				c->host_eof = true;
		} else if (events & (EPOLLHUP | EPOLLERR)) {
			vsock_send_ctl(v, c, OP_RST, 0);
			vsock_conn_free(v, c);
		}
		vsock_kick_rx(v);
	}
	pthread_mutex_unlock(&v->t->lock);
}

void
vsock_listen_event(void *opaque, int fd, uint32_t events)
{
	struct virtio_vsock *v = opaque;
	int c;

	(void)events;
	while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		pthread_mutex_lock(&v->t->lock);
		if (vsock_conn_new(v, c, VC_HOST_LINE) == NULL)
			close(c);
		pthread_mutex_unlock(&v->t->lock);
	}
}
