/* uses: agent/engine.c */
/* engine_test.c: the engine's HTTP client against a scripted peer on a real unix socket (a
 * thread that reads one request and writes a canned answer): a chunked JSON body, an error
 * status with the engine's message, a hijacked stream whose first bytes arrive with the
 * response head, a peer that hangs up mid-answer, a missing socket, and query escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/engine.h"
#include "proto/error.h"

struct peer {
	int lfd;
	char path[108];
	const char *answer; /* written after the request head */
	size_t answer_len;
	char request[4096]; /* what the client sent (head and body) */
	pthread_t thread;
};

static void *serve(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return NULL;
	/* Read until the head is complete and the (small) body has arrived. */
	while (got < sizeof(p->request) - 1 &&
	       (n = read(fd, p->request + got, sizeof(p->request) - 1 - got)) > 0) {
		char *end;
		got += (size_t)n;
		p->request[got] = 0;
		end = strstr(p->request, "\r\n\r\n");
		if (end != NULL) {
			const char *cl = strstr(p->request, "Content-Length: ");
			size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0;
			if (got - (size_t)(end + 4 - p->request) >= want)
				break;
		}
	}
	if (write(fd, p->answer, p->answer_len) < 0)
		fprintf(stderr, "peer write failed\n");
	close(fd);
	return NULL;
}

/* ANSWER may hold NUL bytes: LEN is its size (0: strlen). */
static void peer_start_len(struct peer *p, const char *answer, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "/tmp/rexec-engine-test-%d.sock", (int)getpid());
	unlink(p->path);
	memcpy(sa.sun_path, p->path, sizeof(p->path));
	p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->lfd, 1), 0);
	p->answer = answer;
	p->answer_len = len ? len : strlen(answer);
	assert_int_equal(pthread_create(&p->thread, NULL, serve, p), 0);
}

static void peer_start(struct peer *p, const char *answer)
{
	peer_start_len(p, answer, 0);
}

static void peer_stop(struct peer *p)
{
	pthread_join(p->thread, NULL);
	close(p->lfd);
	unlink(p->path);
}

static void test_chunked_json(void **unused)
{
	struct peer p;
	struct engine e;
	struct engine_reply r;
	cJSON *body = cJSON_CreateObject();
	char url[128];

	cJSON_AddStringToObject(body, "Cmd", "x");
	peer_start(&p, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n"
		       "7\r\n{\"Id\":\"\r\n9\r\nabc123\"}\n\r\n0\r\n\r\n");
	snprintf(url, sizeof(url), "unix://%s", p.path);
	assert_int_equal(engine_init(&e, url), 0);
	assert_int_equal(engine_call(&e, "POST", "/containers/c1/exec", body, &r), 0);
	peer_stop(&p);
	assert_int_equal(r.status, 201);
	assert_string_equal(engine_str(r.json, "Id"), "abc123");
	/* The request: versioned path, JSON body with its length. */
	assert_non_null(
		strstr(p.request, "POST /" ENGINE_API_VERSION "/containers/c1/exec HTTP/1.1\r\n"));
	assert_non_null(strstr(p.request, "Content-Length: 11\r\n"));
	assert_non_null(strstr(p.request, "\r\n\r\n{\"Cmd\":\"x\"}"));
	engine_reply_free(&r);
	cJSON_Delete(body);
}

static void test_error_message(void **unused)
{
	struct peer p;
	struct engine e;
	struct engine_reply r;

	peer_start(&p,
		   "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
		   "Content-Length: 43\r\n\r\n{\"message\":\"No such container: nosuch\\n\"}  ");
	assert_int_equal(engine_init(&e, p.path), 0);
	assert_int_equal(engine_call(&e, "GET", "/containers/nosuch/json", NULL, &r), 0);
	peer_stop(&p);
	assert_int_equal(r.status, 404);
	/* One line for the user. */
	assert_string_equal(r.err, "No such container: nosuch");
	engine_reply_free(&r);
}

#define HIJACK_HEAD                                                                    \
	"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n" \
	"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"

static void test_hijack_keeps_early_stream_bytes(void **unused)
{
	struct peer p;
	struct engine e;
	struct engine_reply r;
	char rest[ENGINE_REST_MAX];
	size_t nrest = 0;
	int fd = -1;

	peer_start_len(&p, HIJACK_HEAD "\x01\x00\x00\x00\x00\x00\x00\x03hi\n",
		       sizeof(HIJACK_HEAD) - 1 + 11);
	assert_int_equal(engine_init(&e, p.path), 0);
	assert_int_equal(engine_hijack(&e, "POST", "/exec/e1/start", NULL, &fd, rest, sizeof(rest),
				       &nrest, &r),
			 0);
	peer_stop(&p);
	assert_int_equal(r.status, 101);
	assert_true(fd >= 0);
	assert_non_null(strstr(p.request, "Upgrade: tcp\r\n"));
	/* The bytes that came with the head, or else from the socket: 11 in all. */
	{
		char all[32];
		size_t have = nrest;
		ssize_t n;
		memcpy(all, rest, nrest);
		while (have < 11 && (n = read(fd, all + have, sizeof(all) - have)) > 0)
			have += (size_t)n;
		assert_int_equal(have, 11);
		assert_memory_equal(all, "\x01\x00\x00\x00\x00\x00\x00\x03hi\n", 11);
	}
	close(fd);
	engine_reply_free(&r);
}

static void test_hijack_refused(void **unused)
{
	struct peer p;
	struct engine e;
	struct engine_reply r;
	char rest[ENGINE_REST_MAX];
	size_t nrest = 0;
	int fd = 0;

	peer_start(&p, "HTTP/1.1 409 Conflict\r\nContent-Length: 47\r\n\r\n"
		       "{\"message\":\"Container abc is not running\"}     ");
	assert_int_equal(engine_init(&e, p.path), 0);
	assert_int_equal(engine_hijack(&e, "POST", "/exec/e1/start", NULL, &fd, rest, sizeof(rest),
				       &nrest, &r),
			 0);
	peer_stop(&p);
	assert_int_equal(fd, -1);
	assert_int_equal(r.status, 409);
	assert_string_equal(r.err, "Container abc is not running");
	engine_reply_free(&r);
}

static void test_truncated_answer(void **unused)
{
	struct peer p;
	struct engine e;
	struct engine_reply r;

	peer_start(&p, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"Id\":");
	assert_int_equal(engine_init(&e, p.path), 0);
	assert_int_equal(engine_call(&e, "GET", "/version", NULL, &r), REXEC_ECLOSED);
	peer_stop(&p);
	assert_non_null(strstr(r.err, "closed"));
	engine_reply_free(&r);
}

static void test_missing_socket(void **unused)
{
	struct engine e;
	struct engine_reply r;

	assert_int_equal(engine_init(&e, "unix:///nonexistent/docker.sock"), 0);
	assert_int_equal(engine_call(&e, "GET", "/version", NULL, &r), REXEC_EUNAVAILABLE);
	assert_non_null(strstr(r.err, "/nonexistent/docker.sock"));
	assert_non_null(strstr(r.err, "No such file"));
	assert_int_equal(r.status, 0);
	engine_reply_free(&r);
}

static void test_init_and_escape(void **unused)
{
	struct engine e;
	char out[64];

	assert_int_equal(engine_init(&e, "tcp://1.2.3.4:2375"), -EINVAL);
	assert_int_equal(engine_init(&e, "unix://relative.sock"), -EINVAL);
	assert_int_equal(engine_init(&e, "/run/podman/podman.sock"), 0);
	assert_string_equal(e.socket, "/run/podman/podman.sock");
	assert_string_equal(engine_query_escape("{\"label\":[\"a=b c\"]}", out, sizeof(out)),
			    "%7B%22label%22%3A%5B%22a%3Db%20c%22%5D%7D");
	/* Never past the buffer: output is cut at a whole escape. */
	assert_true(strlen(engine_query_escape("////////////////////////////", out, 16)) <= 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunked_json),
		cmocka_unit_test(test_error_message),
		cmocka_unit_test(test_hijack_keeps_early_stream_bytes),
		cmocka_unit_test(test_hijack_refused),
		cmocka_unit_test(test_truncated_answer),
		cmocka_unit_test(test_missing_socket),
		cmocka_unit_test(test_init_and_escape),
	};
	return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
