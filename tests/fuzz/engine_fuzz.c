/* engine_fuzz.c: the Docker Engine API client's response reader (agent/engine.c: http-parser
 * and cJSON) on any bytes an engine socket could answer with, and the JSON helpers the agent
 * reads replies with. The first input byte picks a hijacked call (bit 0) and the size of the
 * packets the answer arrives in (the rest: 0 = all at once); the file is included for its
 * static read_response(). */
#include "agent/engine.c"

#include <stdint.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the agent reads of a container, an exec or an error. */
static void read_json(const cJSON *j, char *out, size_t outlen)
{
	const cJSON *item;

	engine_query_escape(engine_str(j, "message"), out, outlen);
	engine_num(j, "ExitCode", -1);
	engine_num(j, "Pid", 0);
	engine_label(j, "com.docker.compose.service");
	cJSON_ArrayForEach(item, j)
	{
		engine_str(item, "Id");
		engine_label(item, "com.docker.compose.project");
		engine_str(cJSON_GetObjectItemCaseSensitive(item, "State"), "Status");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char rest[ENGINE_REST_MAX], esc[64];
	struct engine_reply r;
	size_t nrest = 0, at, chunk;
	int sv[2], hijack, ret;

	if (size < 1)
		return 0;
	hijack = data[0] & 1;
	chunk = data[0] >> 1 ? (size_t)(data[0] >> 1) * 8 : size;
	/* Packets keep the chunks apart, as separate reads from the engine. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	for (at = 1; at < size; at += chunk)
		if (send(sv[1], data + at, size - at < chunk ? size - at : chunk, MSG_DONTWAIT) < 0)
			break; /* the socket is full: the answer ends there */
	close(sv[1]);

	memset(&r, 0, sizeof(r));
	ret = read_response(sv[0], hijack, &r, rest, sizeof(rest), &nrest);
	close(sv[0]);
	if (ret == 0 && hijack && r.status == 101 && nrest > sizeof(rest))
		abort();
	if (ret != 0 && r.err[0] == 0)
		abort(); /* a failure says why */
	if (strchr(r.err, '\n') != NULL || strchr(r.err, '\r') != NULL)
		abort();
	read_json(r.json, esc, sizeof(esc));
	engine_reply_free(&r);
	return 0;
}
