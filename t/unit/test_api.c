/*
 * The control socket server against fake VM ops: real Unix sockets in a
 * temporary directory, requests written as raw lines so that broken ones
 * can be sent too.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "apiclient.h"
#include "monotime.h"
#include "unit.h"

/* What the fake VM was asked; read by the test after the reply, which
 * the op's return happens before. */
static struct fake {
	char calls[256];	/* "pause,snapshot,..." */
	char dir[256];
	bool diff, paused;
	const char *fail;	/* the next op fails with this message */
} vmf;

static char tmpdir[64], sock[96];
static struct api srv;

static void
record(const char *op)
{
	size_t n = strlen(vmf.calls);

	snprintf(vmf.calls + n, sizeof(vmf.calls) - n, "%s%s", n ? "," : "", op);
}

static int
outcome(const char *op, char *err, size_t errlen)
{
	record(op);
	if (vmf.fail == NULL)
		return 0;
	snprintf(err, errlen, "%s", vmf.fail);
	vmf.fail = NULL;
	return -1;
}

static int
fake_pause(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	vmf.paused = true;
	return outcome("pause", err, errlen);
}

static int
fake_resume(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	vmf.paused = false;
	return outcome("resume", err, errlen);
}

static int
fake_snapshot(void *ctx, const char *dir, bool diff, char *err, size_t errlen)
{
	(void)ctx;
	snprintf(vmf.dir, sizeof(vmf.dir), "%s", dir);
	vmf.diff = diff;
	return outcome("snapshot", err, errlen);
}

static int
fake_stop(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	return outcome("stop", err, errlen);
}

static void
fake_status(void *ctx, struct json_object *out)
{
	CHECK(ctx == &vmf);
	json_object_object_add(out, "state",
	    json_object_new_string(vmf.paused ? "paused" : "running"));
	json_object_object_add(out, "version", json_object_new_int(99));
}

static const struct api_ops ops = {
	fake_pause, fake_resume, fake_snapshot, fake_stop, fake_status, NULL,
};

static void
start(void)
{
	memset(&vmf, 0, sizeof(vmf));
	CHECK_EQ(api_start(&srv, sock, &ops, &vmf), 0);
}


static int
dial(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd != -1 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		fd = -1;
	}
	CHECK(fd != -1);
	return fd;
}

static void
put(int fd, const char *s, size_t n)
{
	CHECK_EQ(send(fd, s, n, MSG_NOSIGNAL), n);
}

/* One reply line within two seconds, parsed; NULL on EOF or timeout. */
static json_object *
get(int fd)
{
	static char buf[API_MAX_LINE + 1];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(buf) - 1 && (n == 0 || buf[n - 1] != '\n')) {
		if (poll(&p, 1, 2000) != 1)
			return NULL;
		if ((r = recv(fd, buf + n, 1, 0)) <= 0)
			return NULL;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return json_tokener_parse(buf);
}

static const char *
field(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return "(none)";
	return json_object_get_string(v);
}

/* Sends line and checks the reply: "ok" true, or an error of code whose
 * message contains want. */
static void
expect(int fd, const char *line, const char *code, const char *want)
{
	json_object *r;

	/* "" only reads: the server may have hung up already, and a send of
	 * nothing to it fails (EPIPE). */
	if (line[0] != '\0')
		put(fd, line, strlen(line));
	r = get(fd);
	CHECK(r != NULL);
	if (code == NULL) {
		CHECK(strcmp(field(r, "ok"), "true") == 0);
	} else {
		CHECK(strcmp(field(r, "ok"), "false") == 0);
		CHECK(strcmp(field(r, "code"), code) == 0);
		CHECK(strstr(field(r, "error"), want) != NULL);
		if (strstr(field(r, "error"), want) == NULL)
			printf("#   %s-> %s\n", line, field(r, "error"));
	}
	json_object_put(r);
}

static void
test_mode(void)
{
	struct stat st;
	char name[160];

	start();
	CHECK_EQ(lstat(sock, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0600);
	/* The private directory it was bound in is gone. */
	snprintf(name, sizeof(name), "ls -a %s | grep -q '^\\.api'", tmpdir);
	CHECK(system(name) != 0);
	api_stop(&srv);
	CHECK_EQ(lstat(sock, &st), -1);
	api_stop(&srv);		/* twice is harmless */
}

static void
test_status(void)
{
	json_object *r;
	int fd;

	start();
	fd = dial();
	put(fd, "{\"op\": \"status\"}\n", 17);
	r = get(fd);
	CHECK(strcmp(field(r, "ok"), "true") == 0);
	CHECK(strcmp(field(r, "state"), "running") == 0);
	CHECK(strcmp(field(r, "version"), "1") == 0);	/* not the VM's 99 */
	json_object_put(r);
	expect(fd, "{\"op\": \"status\", \"version\": 1}\r\n", NULL, NULL);
	close(fd);
	api_stop(&srv);
}

static void
test_ops(void)
{
	static struct apiclient c;
	char code[32];

	start();
	CHECK_EQ(apiclient_open(&c, sock), 0);
	CHECK_EQ(apiclient_op(&c, "pause", NULL, false, 2000, code,
	    sizeof(code)), APICLIENT_OK);
	CHECK(vmf.paused);
	CHECK_EQ(apiclient_op(&c, "snapshot", "/snap/a", true, 2000, code,
	    sizeof(code)), APICLIENT_OK);
	CHECK(strcmp(vmf.dir, "/snap/a") == 0);
	CHECK(vmf.diff);
	CHECK_EQ(apiclient_op(&c, "snapshot", "/snap/b", false, 2000, code,
	    sizeof(code)), APICLIENT_OK);
	CHECK(!vmf.diff);
	CHECK_EQ(apiclient_op(&c, "resume", NULL, false, 2000, code,
	    sizeof(code)), APICLIENT_OK);
	CHECK_EQ(apiclient_op(&c, "stop", NULL, false, 2000, code,
	    sizeof(code)), APICLIENT_OK);
	CHECK(strcmp(vmf.calls, "pause,snapshot,snapshot,resume,stop") == 0);
	vmf.fail = "disk full";
	CHECK_EQ(apiclient_op(&c, "snapshot", "/snap/c", false, 2000, code,
	    sizeof(code)), APICLIENT_REFUSED);
	CHECK(strcmp(code, "failed") == 0);
	apiclient_close(&c);
	api_stop(&srv);
}

static void
test_defaults_and_errors(void)
{
	int fd;

	start();
	fd = dial();
	expect(fd, "{\"op\":\"snapshot\",\"dir\":\"/x\"}\n", NULL, NULL);
	CHECK(!vmf.diff);
	vmf.fail = "no room in /x";
	expect(fd, "{\"op\":\"snapshot\",\"dir\":\"/x\"}\n", "failed",
	    "no room in /x");
	vmf.fail = "";
	expect(fd, "{\"op\":\"pause\"}\n", "failed", "pause failed");
	close(fd);
	api_stop(&srv);
}

static void
test_bad_requests(void)
{
	static const struct { const char *line, *want; } bad[] = {
		{ "{\"op\": \"status\"\n", "not JSON" },
		{ "nonsense\n", "not JSON" },
		{ "{\"op\": \"status\"} {}\n", "more after the value" },
		{ "[1, 2]\n", "expected a JSON object, got array" },
		{ "17\n", "expected a JSON object, got int" },
		{ "{}\n", "field \"op\": missing" },
		{ "{\"op\": 1}\n", "field \"op\": expected a string, got int" },
		{ "{\"op\": \"reboot\"}\n", "unknown op \"reboot\"" },
		{ "{\"op\": \"status\", \"force\": true}\n",
		    "unknown field \"force\"" },
		{ "{\"op\": \"pause\", \"dir\": \"/x\"}\n",
		    "field \"dir\": only for op \"snapshot\"" },
		{ "{\"op\": \"snapshot\"}\n", "field \"dir\": missing" },
		{ "{\"op\": \"snapshot\", \"dir\": 5}\n",
		    "field \"dir\": expected a string, got int" },
		{ "{\"op\": \"snapshot\", \"dir\": \"rel/x\"}\n",
		    "not an absolute path" },
		{ "{\"op\": \"snapshot\", \"dir\": \"/x\\u0000y\"}\n",
		    "field \"dir\": contains a NUL" },
		{ "{\"op\": \"snapshot\", \"dir\": \"/x\", \"kind\": \"half\"}\n",
		    "field \"kind\": expected \"full\" or \"diff\", got \"half\"" },
		{ "{\"op\": \"snapshot\", \"dir\": \"/x\", \"kind\": null}\n",
		    "field \"kind\": expected a string, got null" },
		{ "{\"op\": \"status\", \"version\": \"1\"}\n",
		    "field \"version\": expected an integer, got string" },
		{ "{\"op\": \"status\", \"version\": 2}\n",
		    "version 2 is not supported" },
	};
	int fd;

	start();
	fd = dial();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(fd, bad[i].line, "bad-request", bad[i].want);
	put(fd, "{\"op\"\0: 1}\n", 11);
	expect(fd, "", "bad-request", "NUL byte");
	/* Blank lines get no reply; two requests in one write get two. */
	expect(fd, "\n  \n{\"op\":\"pause\"}\n{\"op\":\"resume\"}\n", NULL, NULL);
	expect(fd, "", NULL, NULL);
	CHECK(strcmp(vmf.calls, "pause,resume") == 0);
	/* Still serving after all that. */
	expect(fd, "{\"op\": \"status\"}\n", NULL, NULL);
	close(fd);
	api_stop(&srv);
}

static void
test_long_line(void)
{
	char *big = malloc(API_MAX_LINE + 16);
	char c;
	int fd;

	start();
	fd = dial();
	memset(big, ' ', API_MAX_LINE + 16);
	memcpy(big, "{\"op\":\"status\"}", 15);
	/* The server answers and hangs up once it has seen more than the
	 * limit, which may be before all of this is sent: a short or failed
	 * send is no fault here. */
	(void)send(fd, big, API_MAX_LINE + 16, MSG_NOSIGNAL);
	expect(fd, "", "bad-request", "line longer than 65535 bytes");
	CHECK(recv(fd, &c, 1, 0) <= 0);	/* and the server hung up */
	close(fd);
	/* A line of exactly the limit, newline included, is fine. */
	fd = dial();
	big[API_MAX_LINE - 1] = '\n';
	put(fd, big, API_MAX_LINE);
	expect(fd, "", NULL, NULL);
	close(fd);
	free(big);
	api_stop(&srv);
}

static void
test_path_owner(void)
{
	struct api other;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	start();
	CHECK_EQ(api_start(&other, sock, &ops, &vmf), -1);
	CHECK_EQ(errno, EADDRINUSE);
	api_stop(&other);	/* a failed start leaves nothing to stop */
	expect(fd = dial(), "{\"op\":\"status\"}\n", NULL, NULL);
	close(fd);
	api_stop(&srv);
	/* A socket nobody listens on is stale and taken over. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	start();
	expect(fd = dial(), "{\"op\":\"status\"}\n", NULL, NULL);
	close(fd);
	api_stop(&srv);
	/* Anything else there is left alone. */
	CHECK((fd = creat(sock, 0600)) != -1);
	close(fd);
	CHECK_EQ(api_start(&other, sock, &ops, &vmf), -1);
	CHECK_EQ(unlink(sock), 0);
}

static void
test_stop_with_client(void)
{
	long t0;
	int idle, partial;

	start();
	idle = dial();
	partial = dial();	/* waits in the backlog behind idle */
	put(idle, "{\"op\": \"sta", 11);
	usleep(100000);
	t0 = mono_ms();
	api_stop(&srv);
	CHECK(mono_ms() - t0 < 1000);	/* not the 30 s idle limit */
	CHECK(get(idle) == NULL);
	close(idle);
	close(partial);
}

static void
test_path_too_long(void)
{
	char longpath[200];

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	CHECK_EQ(api_start(&srv, longpath, &ops, &vmf), -1);
	CHECK_EQ(api_start(&srv, "", &ops, &vmf), -1);
}

/* Run as root, the socket is opened to everyone to show that the peer
 * check, not only the mode, keeps other users out. */
static void
test_other_uid(void)
{
	json_object *r;
	pid_t pid;
	int st, fd;

	if (geteuid() != 0) {
		printf("# not root: a foreign uid cannot be tried\n");
		return;
	}
	start();
	CHECK_EQ(chmod(sock, 0666), 0);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		if (setuid(65534) != 0)
			_exit(2);
		fd = dial();
		put(fd, "{\"op\": \"stop\"}\n", 15);
		r = get(fd);
		_exit(r != NULL && strcmp(field(r, "code"), "denied") == 0 &&
		    strstr(field(r, "error"), "uid 65534") != NULL ? 0 : 1);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(strcmp(vmf.calls, "") == 0);
	api_stop(&srv);
}

static const struct unit_test tests[] = {
	{ "api: the socket is 0600 and removed by api_stop", test_mode },
	{ "api: status carries the VM's state and version 1", test_status },
	{ "api: pause, snapshot, resume and stop reach the VM with their arguments", test_ops },
	{ "api: kind defaults to full; a failed op replies the VM's message", test_defaults_and_errors },
	{ "api: bad requests get an error naming the field, and serving goes on", test_bad_requests },
	{ "api: an overlong line gets an error and the connection closes", test_long_line },
	{ "api: a live socket is refused, a stale one reused, a file left alone", test_path_owner },
	{ "api: api_stop returns promptly with clients connected", test_stop_with_client },
	{ "api: socket paths too long or empty are refused", test_path_too_long },
	{ "api: another uid is refused with a reply saying so", test_other_uid },
};

int
main(void)
{
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_api.XXXXXX");
	if (mkdtemp(tmpdir) == NULL || chmod(tmpdir, 0755) == -1)
		return 1;
	snprintf(sock, sizeof(sock), "%s/api.sock", tmpdir);
	rc = unit_main(tests, (int)(sizeof(tests) / sizeof(tests[0])));
	rmdir(tmpdir);
	return rc;
}
