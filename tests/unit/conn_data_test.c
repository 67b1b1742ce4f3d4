/* conn_data_test.c: conn_send_data() on a real connection (conn_open_unix on one end of a
 * socketpair, the frames read and decoded at the other): payloads cut into Data frames of at
 * most WIRE_DATA_MAX with consecutive offsets, the position advanced, nothing sent for no
 * bytes, and a closing connection refusing the rest while the position still counts it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "proto/conn.h"
#include "proto/error.h"
#include "proto/wire.h"

#define STREAM 7
#define BIG    (3 * WIRE_DATA_MAX + 1696)

/* One connection under test and what its peer received. */
struct pair {
	uv_loop_t loop;
	struct conn *c;
	int peer; /* the socketpair's other end, non-blocking */
	int ready, closed, peer_eof;
	struct wire_decoder dec;
	int hellos;
	size_t n_data;
	size_t lens[16];
	uint64_t offsets[16];
	uint8_t got[BIG];
	size_t got_len;
};

static void on_ready(struct conn *c, void *arg)
{
	((struct pair *)arg)->ready = 1;
}

static void on_frame(struct conn *c, wire_frame *f, void *arg)
{
}

static void on_close(struct conn *c, int err, const char *why, void *arg)
{
	((struct pair *)arg)->closed = 1;
}

static const struct conn_cb cbs = { on_ready, on_frame, on_close, NULL };

/* Reads what the peer end holds and decodes it into P's tallies. */
static void drain_peer(struct pair *p)
{
	uint8_t buf[65536];
	wire_frame *f = NULL;
	ssize_t n;

	while ((n = read(p->peer, buf, sizeof(buf))) > 0)
		assert_int_equal(wire_decoder_feed(&p->dec, buf, (size_t)n), 0);
	if (n == 0)
		p->peer_eof = 1;
	else
		assert_int_equal(errno, EAGAIN);
	while (wire_decoder_next(&p->dec, &f) == 1) {
		if (f->msg_case == REXEC__V1__FRAME__MSG_HELLO) {
			p->hellos++;
		} else {
			assert_int_equal(f->msg_case, REXEC__V1__FRAME__MSG_DATA);
			assert_int_equal(f->stream, STREAM);
			assert_int_equal(f->data->fd, REXEC__V1__FD__FD_STDOUT);
			assert_true(p->n_data < 16);
			assert_true(p->got_len + f->data->bytes.len <= sizeof(p->got));
			p->lens[p->n_data] = f->data->bytes.len;
			p->offsets[p->n_data++] = f->data->offset;
			memcpy(p->got + p->got_len, f->data->bytes.data, f->data->bytes.len);
			p->got_len += f->data->bytes.len;
		}
		wire_decoder_release(&p->dec, f);
	}
}

/* Runs the loop and reads the peer until DONE(P) holds (bounded: fails after 2 seconds). */
static void pump(struct pair *p, int (*done)(const struct pair *))
{
	uint64_t until;

	uv_update_time(&p->loop);
	until = uv_now(&p->loop) + 2000;
	while (!done(p)) {
		assert_true(uv_now(&p->loop) < until);
		uv_run(&p->loop, UV_RUN_NOWAIT);
		drain_peer(p);
		uv_update_time(&p->loop);
	}
}

static void open_pair(struct pair *p)
{
	struct conn_opts opts = { .software = "conn_data_test" };
	int sv[2];

	memset(p, 0, sizeof(*p));
	assert_int_equal(uv_loop_init(&p->loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->peer = sv[1];
	assert_int_equal(fcntl(p->peer, F_SETFL, O_NONBLOCK), 0);
	wire_decoder_init(&p->dec);
	assert_int_equal(conn_open_unix(&p->c, &p->loop, sv[0], &opts, &cbs, p), 0);
	assert_true(p->ready);
}

static int peer_closed(const struct pair *p)
{
	return p->closed && p->peer_eof;
}

/* Closes P's connection, waits for its end at both sides and frees the rest. */
static void close_pair(struct pair *p)
{
	conn_close(p->c, 0, "test done");
	pump(p, peer_closed);
	assert_int_equal(uv_loop_close(&p->loop), 0);
	wire_decoder_close(&p->dec);
	close(p->peer);
}

static int all_data(const struct pair *p)
{
	return p->got_len == BIG;
}

static void test_cut_into_frames_at_consecutive_offsets(void **state)
{
	struct pair *p = malloc(sizeof(*p));
	uint8_t *in = malloc(BIG);
	uint64_t off = 1000;
	size_t i;

	assert_non_null(p);
	assert_non_null(in);
	for (i = 0; i < BIG; i++)
		in[i] = (uint8_t)(i * 31 + i / 251);
	open_pair(p);
	assert_int_equal(conn_send_data(p->c, STREAM, REXEC__V1__FD__FD_STDOUT, &off, in, BIG, 0),
			 0);
	assert_int_equal(off, 1000 + BIG);
	pump(p, all_data);
	assert_int_equal(p->hellos, 1);
	assert_int_equal(p->n_data, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(p->lens[i], i < 3 ? WIRE_DATA_MAX : 1696);
		assert_int_equal(p->offsets[i], 1000 + i * WIRE_DATA_MAX);
	}
	assert_memory_equal(p->got, in, BIG);

	/* No bytes: no frame, the position stays. */
	assert_int_equal(conn_send_data(p->c, STREAM, REXEC__V1__FD__FD_STDOUT, &off, in, 0, 0), 0);
	assert_int_equal(off, 1000 + BIG);
	close_pair(p);
	assert_int_equal(p->n_data, 4);
	free(in);
	free(p);
}

static void test_small_payload_is_one_frame(void **state)
{
	struct pair *p = malloc(sizeof(*p));
	uint64_t off = 0;

	assert_non_null(p);
	open_pair(p);
	assert_int_equal(conn_send_data(p->c, STREAM, REXEC__V1__FD__FD_STDOUT, &off, "hi", 2, 0),
			 0);
	assert_int_equal(off, 2);
	close_pair(p);
	assert_int_equal(p->n_data, 1);
	assert_int_equal(p->lens[0], 2);
	assert_int_equal(p->offsets[0], 0);
	assert_memory_equal(p->got, "hi", 2);
	free(p);
}

static void test_closing_connection_sends_nothing_but_counts(void **state)
{
	struct pair *p = malloc(sizeof(*p));
	uint8_t in[WIRE_DATA_MAX + 1] = { 0 };
	uint64_t off = 5;

	assert_non_null(p);
	open_pair(p);
	conn_close(p->c, 0, "closing first");
	assert_int_equal(
		conn_send_data(p->c, STREAM, REXEC__V1__FD__FD_STDOUT, &off, in, sizeof(in), 0),
		REXEC_ECLOSED);
	assert_int_equal(off, 5 + sizeof(in));
	pump(p, peer_closed);
	assert_int_equal(p->n_data, 0);
	assert_int_equal(uv_loop_close(&p->loop), 0);
	wire_decoder_close(&p->dec);
	close(p->peer);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_into_frames_at_consecutive_offsets),
		cmocka_unit_test(test_small_payload_is_one_frame),
		cmocka_unit_test(test_closing_connection_sends_nothing_but_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
