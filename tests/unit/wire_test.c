/* wire_test.c: framing: round trips fed whole and byte by byte, the size cap enforced from the
 * header before the body arrives, garbage refused, the validation rules of the contract, and
 * Data frames packed by hand byte for byte as protobuf-c packs them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/error.h"
#include "proto/wire.h"

static uint8_t packed[WIRE_FRAME_MAX + 4];

static size_t pack_data(uint32_t stream, Rexec__V1__Fd fd, const void *p, size_t n)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Data d = REXEC__V1__DATA__INIT;
	size_t len = 0;

	d.fd = fd;
	d.bytes.data = (uint8_t *)p;
	d.bytes.len = n;
	d.offset = 1234;
	f.stream = stream;
	f.msg_case = REXEC__V1__FRAME__MSG_DATA;
	f.data = &d;
	assert_int_equal(wire_pack(&f, packed, &len), 0);
	return len;
}

static void test_roundtrip_whole_and_bytewise(void **unused)
{
	struct wire_decoder d;
	uint8_t payload[WIRE_DATA_MAX];
	wire_frame *f = NULL;
	size_t len, i;
	int frames = 0;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	len = pack_data(5, REXEC__V1__FD__FD_STDOUT, payload, sizeof(payload));

	wire_decoder_init(&d);
	/* Whole: one frame comes out. */
	assert_int_equal(wire_decoder_feed(&d, packed, len), 0);
	assert_int_equal(wire_decoder_next(&d, &f), 1);
	assert_int_equal(f->stream, 5);
	assert_int_equal(f->data->offset, 1234);
	assert_memory_equal(f->data->bytes.data, payload, sizeof(payload));
	wire_decoder_release(&d, f);
	assert_int_equal(wire_decoder_next(&d, &f), 0);

	/* Byte by byte: nothing until the last byte, then exactly one frame. */
	for (i = 0; i < len; i++) {
		assert_int_equal(wire_decoder_feed(&d, packed + i, 1), 0);
		if (i + 1 < len) {
			assert_int_equal(wire_decoder_next(&d, &f), 0);
		}
	}
	while (wire_decoder_next(&d, &f) == 1) {
		assert_memory_equal(f->data->bytes.data, payload, sizeof(payload));
		wire_decoder_release(&d, f);
		frames++;
	}
	assert_int_equal(frames, 1);
	wire_decoder_close(&d);
}

static void test_two_frames_in_one_read(void **unused)
{
	struct wire_decoder d;
	uint8_t both[256];
	wire_frame *f = NULL;
	size_t a, b;

	a = pack_data(1, REXEC__V1__FD__FD_STDOUT, "one", 3);
	memcpy(both, packed, a);
	b = pack_data(1, REXEC__V1__FD__FD_STDERR, "two", 3);
	memcpy(both + a, packed, b);
	wire_decoder_init(&d);
	assert_int_equal(wire_decoder_feed(&d, both, a + b), 0);
	assert_int_equal(wire_decoder_next(&d, &f), 1);
	assert_int_equal(f->data->fd, REXEC__V1__FD__FD_STDOUT);
	wire_decoder_release(&d, f);
	assert_int_equal(wire_decoder_next(&d, &f), 1);
	assert_int_equal(f->data->fd, REXEC__V1__FD__FD_STDERR);
	assert_memory_equal(f->data->bytes.data, "two", 3);
	wire_decoder_release(&d, f);
	assert_int_equal(wire_decoder_next(&d, &f), 0);
	wire_decoder_close(&d);
}

static void test_oversized_header_refused_before_body(void **unused)
{
	struct wire_decoder d;
	const uint8_t huge[4] = { 0x7f, 0xff, 0xff, 0xff };
	const uint8_t just_over[4] = { 0, (WIRE_FRAME_MAX + 1) >> 16 & 255,
				       (WIRE_FRAME_MAX + 1) >> 8 & 255,
				       (WIRE_FRAME_MAX + 1) & 255 };
	wire_frame *f = NULL;

	wire_decoder_init(&d);
	assert_int_equal(wire_decoder_feed(&d, huge, 4), REXEC_EFRAME_TOO_BIG);
	/* Nothing near the announced size was buffered. */
	assert_true(d.in.cap < 1024 * 1024);
	wire_decoder_close(&d);

	wire_decoder_init(&d);
	assert_int_equal(wire_decoder_feed(&d, just_over, 2), 0);
	assert_int_equal(wire_decoder_next(&d, &f), 0);
	assert_int_equal(wire_decoder_feed(&d, just_over + 2, 2), REXEC_EFRAME_TOO_BIG);
	wire_decoder_close(&d);
}

static void test_garbage_body_refused(void **unused)
{
	struct wire_decoder d;
	const uint8_t junk[] = { 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	wire_frame *f = NULL;

	wire_decoder_init(&d);
	assert_int_equal(wire_decoder_feed(&d, junk, sizeof(junk)), 0);
	assert_int_equal(wire_decoder_next(&d, &f), REXEC_EPROTOBUF);
	wire_decoder_close(&d);
}

static void test_pack_refuses_oversized_frame(void **unused)
{
	uint8_t *big = calloc(1, WIRE_FRAME_MAX + 1);
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Data dm = REXEC__V1__DATA__INIT;
	size_t len = 0;
	struct buf b = { 0 };

	assert_non_null(big);
	dm.fd = REXEC__V1__FD__FD_STDOUT;
	dm.bytes.data = big;
	dm.bytes.len = WIRE_FRAME_MAX + 1;
	f.stream = 1;
	f.msg_case = REXEC__V1__FRAME__MSG_DATA;
	f.data = &dm;
	assert_int_equal(wire_pack(&f, packed, &len), REXEC_EFRAME_TOO_BIG);
	assert_int_equal(wire_pack_into(&f, &b), REXEC_EFRAME_TOO_BIG);
	assert_int_equal(buf_size(&b), 0);
	buf_free(&b);
	free(big);
}

/* F packs as protobuf-c packs it (WANT: room for the bytes), by wire_pack() and by
 * wire_pack_into() (INTO: a scratch buffer, left empty). */
static void packs_as_protobuf_c(const wire_frame *f, uint8_t *want, struct buf *into)
{
	size_t len, n = rexec__v1__frame__get_packed_size(f);

	assert_int_equal(rexec__v1__frame__pack(f, want), n);
	assert_int_equal(wire_pack(f, packed, &len), 0);
	assert_int_equal(len, n + 4);
	assert_memory_equal(packed + 4, want, n);
	assert_int_equal(wire_pack_into(f, into), 0);
	assert_int_equal(buf_size(into), n + 4);
	assert_memory_equal(buf_peek(into), packed, n + 4);
	buf_consume(into, buf_size(into));
}

/* wire_pack() packs Data frames itself: the bytes must be protobuf-c's, for every size of
 * each varint (zeros left out, one to five bytes for the stream, up to ten for the offset),
 * payloads across the lengths where the sub-message's length grows a byte, and frames with an
 * unknown field or any other message still go through protobuf-c. */
static void test_data_frames_packed_as_protobuf_c_packs_them(void **unused)
{
	static uint8_t payload[WIRE_DATA_MAX], want[WIRE_FRAME_MAX + 4];
	static const uint32_t streams[] = { 0, 1, 127, 128, 16383, 16384, 0xFFFFFFFFu };
	static const uint64_t offsets[] = { 0, 1, 127, 128, 1ull << 32, 0xFFFFFFFFFFFFFFFFull };
	static const size_t lens[] = { 0,
				       1,
				       100,
				       110,
				       116,
				       117,
				       127,
				       128,
				       16370,
				       16383,
				       16384,
				       WIRE_DATA_MAX - 1,
				       WIRE_DATA_MAX };
	static const Rexec__V1__Fd fds[] = { REXEC__V1__FD__FD_STDIN, REXEC__V1__FD__FD_STDOUT,
					     REXEC__V1__FD__FD_STDERR };
	size_t si, oi, li, fi, i, cases = 0;
	ProtobufCMessageUnknownField unk = { 9, PROTOBUF_C_WIRE_TYPE_VARINT, 1, payload };
	struct buf into = { 0 }; /* wire_pack_into() must give the same bytes */

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	for (si = 0; si < sizeof(streams) / sizeof(streams[0]); si++)
		for (oi = 0; oi < sizeof(offsets) / sizeof(offsets[0]); oi++)
			for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
				for (fi = 0; fi < sizeof(fds) / sizeof(fds[0]); fi++) {
					wire_frame f = REXEC__V1__FRAME__INIT;
					Rexec__V1__Data d = REXEC__V1__DATA__INIT;

					d.fd = fds[fi];
					d.bytes.data = payload;
					d.bytes.len = lens[li];
					d.offset = offsets[oi];
					f.stream = streams[si];
					f.msg_case = REXEC__V1__FRAME__MSG_DATA;
					f.data = &d;
					packs_as_protobuf_c(&f, want, &into);
					cases++;
				}
	assert_int_equal(cases, 7 * 6 * 13 * 3);

	/* An unknown field (a frame relayed from a newer peer) is kept: protobuf-c's path. */
	{
		wire_frame f = REXEC__V1__FRAME__INIT;
		Rexec__V1__Data d = REXEC__V1__DATA__INIT;

		d.fd = REXEC__V1__FD__FD_STDOUT;
		d.bytes.data = payload;
		d.bytes.len = 300;
		d.base.n_unknown_fields = 1;
		d.base.unknown_fields = &unk;
		f.stream = 3;
		f.msg_case = REXEC__V1__FRAME__MSG_DATA;
		f.data = &d;
		packs_as_protobuf_c(&f, want, &into);
	}
	buf_free(&into);
	(void)unused;
}

static void test_validation_rules(void **unused)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Data dm = REXEC__V1__DATA__INIT;
	Rexec__V1__Hello h = REXEC__V1__HELLO__INIT;
	Rexec__V1__Resize r = REXEC__V1__RESIZE__INIT;
	Rexec__V1__WinSize ws = REXEC__V1__WIN_SIZE__INIT;
	Rexec__V1__Signal sig = REXEC__V1__SIGNAL__INIT;
	Rexec__V1__Open o = REXEC__V1__OPEN__INIT;
	Rexec__V1__Target t = REXEC__V1__TARGET__INIT;
	const char *why;

	/* No message at all. */
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);

	/* Control messages only on stream 0; session messages never on it. */
	f.msg_case = REXEC__V1__FRAME__MSG_HELLO;
	f.hello = &h;
	f.stream = 0;
	assert_int_equal(wire_validate(&f, &why), 0);
	f.stream = 3;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);
	f.msg_case = REXEC__V1__FRAME__MSG_DATA;
	f.data = &dm;
	dm.fd = REXEC__V1__FD__FD_STDIN;
	f.stream = 0;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);
	f.stream = 1;
	assert_int_equal(wire_validate(&f, &why), 0);

	/* Unknown fd, oversized chunk. */
	dm.fd = (Rexec__V1__Fd)9;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);
	dm.fd = REXEC__V1__FD__FD_STDOUT;
	dm.bytes.len = WIRE_DATA_MAX + 1;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);

	/* A window size that would be narrowed into struct winsize. */
	f.msg_case = REXEC__V1__FRAME__MSG_RESIZE;
	f.resize = &r;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO); /* size missing */
	r.size = &ws;
	ws.rows = 50;
	ws.cols = 132;
	assert_int_equal(wire_validate(&f, &why), 0);
	ws.cols = 70000;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);

	/* Signals by a short non-empty name. */
	f.msg_case = REXEC__V1__FRAME__MSG_SIGNAL;
	f.signal = &sig;
	sig.name = "";
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);
	sig.name = "TERM";
	assert_int_equal(wire_validate(&f, &why), 0);

	/* Open: kind and target required and known. */
	f.msg_case = REXEC__V1__FRAME__MSG_OPEN;
	f.open = &o;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);
	o.kind = REXEC__V1__KIND__KIND_EXEC;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);
	o.target = &t;
	t.type = REXEC__V1__TARGET_TYPE__TARGET_HOST;
	assert_int_equal(wire_validate(&f, &why), 0);
	t.type = (Rexec__V1__TargetType)42;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);

	/* Windows up to the cap, in Open and in Hello. */
	t.type = REXEC__V1__TARGET_TYPE__TARGET_HOST;
	o.initial_window = WIRE_WINDOW_MAX;
	assert_int_equal(wire_validate(&f, &why), 0);
	o.initial_window = WIRE_WINDOW_MAX + 1;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);
	f.msg_case = REXEC__V1__FRAME__MSG_HELLO;
	f.hello = &h;
	f.stream = 0;
	h.initial_window = WIRE_WINDOW_MAX;
	assert_int_equal(wire_validate(&f, &why), 0);
	h.initial_window = 0xffffffffu;
	assert_int_equal(wire_validate(&f, &why), REXEC_EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_whole_and_bytewise),
		cmocka_unit_test(test_two_frames_in_one_read),
		cmocka_unit_test(test_oversized_header_refused_before_body),
		cmocka_unit_test(test_garbage_body_refused),
		cmocka_unit_test(test_pack_refuses_oversized_frame),
		cmocka_unit_test(test_validation_rules),
		cmocka_unit_test(test_data_frames_packed_as_protobuf_c_packs_them),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
