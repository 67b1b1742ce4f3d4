/* wire_fuzz.c: the frame decoder and per-frame validation (proto/wire.c) on any byte stream,
 * as a peer could send it: fed in chunks whose sizes the input's first byte picks, every
 * decoded frame validated, and a frame that passes packed again within the cap. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One decoder for the whole run, emptied before each input: its arena (512 KiB) allocated
 * per input would cost more than the decoding. */
static struct wire_decoder *decoder(void)
{
	static struct wire_decoder d;
	static int ready;

	if (!ready) {
		wire_decoder_init(&d);
		ready = 1;
	}
	buf_consume(&d.in, buf_size(&d.in));
	return &d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t packed[WIRE_FRAME_MAX + 4];
	struct wire_decoder *d = decoder();
	size_t chunk, at = 1;
	int ret = 0;

	if (size < 1)
		return 0;
	/* 0: everything at once; else chunks of 1..255 bytes. */
	chunk = data[0] ? data[0] : size;
	while (at < size && ret >= 0) {
		size_t n = size - at < chunk ? size - at : chunk;
		wire_frame *f = NULL;

		ret = wire_decoder_feed(d, data + at, n);
		at += n;
		while (ret >= 0 && (ret = wire_decoder_next(d, &f)) == 1) {
			const char *why = NULL;
			size_t len = 0;

			if (wire_validate(f, &why) == 0) {
				if (wire_pack(f, packed, &len) == 0 &&
				    (len < 4 || len > sizeof(packed)))
					abort();
			} else if (why == NULL || why[0] == 0) {
				abort(); /* a refusal always says why */
			}
			wire_decoder_release(d, f);
		}
	}
	return 0;
}
