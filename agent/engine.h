/* engine.h: a client of the Docker Engine API (podman's compatible socket too) over its unix
 * socket: HTTP/1.1 read with http-parser, JSON built and read with cJSON.
 *
 * Every call blocks: the agent runs them on libuv's thread pool (uv_queue_work), never on the
 * loop. One connection per request ("Connection: close"), as the docker CLI's hijacked calls
 * need a connection of their own anyway; a request on a local socket costs well under a
 * millisecond of the engine's own time. */
#ifndef REXEC_AGENT_ENGINE_H
#define REXEC_AGENT_ENGINE_H

#include <stddef.h>

#include <cJSON.h>

#define ENGINE_API_VERSION "v1.41" /* Docker 20.10; every later engine serves it too */
#define ENGINE_ERR_MAX     256
#define ENGINE_REST_MAX    16384 /* stream bytes that can arrive with a hijack's head */

struct engine {
	char socket[108]; /* sockaddr_un.sun_path */
};

/* The outcome of one request. */
struct engine_reply {
	int status;  /* HTTP status; 0 when the engine could not be reached */
	cJSON *json; /* parsed body, or NULL */
	char err[ENGINE_ERR_MAX];
};

/* "unix:///path" (or a bare absolute path) into E. Returns 0 or -EINVAL. */
int engine_init(struct engine *e, const char *url);

/* METHOD PATH (below /v1.41) with an optional JSON BODY. Returns 0 when a response arrived
 * (any status: a non-2xx status puts the engine's message in R->err), or a negative code
 * with R->err saying what failed (REXEC_EUNAVAILABLE: the engine cannot be reached). The
 * caller frees R with engine_reply_free(). */
int engine_call(const struct engine *e, const char *method, const char *path, const cJSON *body,
		struct engine_reply *r);

/* As engine_call(), for the calls that hijack the connection (exec start, attach): on a 101
 * answer *FD is the connected socket (blocking, close-on-exec) now carrying the process's
 * stream, and the first *NREST bytes of REST are stream bytes that arrived with the response
 * head (RESTCAP must be ENGINE_REST_MAX). Otherwise *FD is -1 and R says why. */
int engine_hijack(const struct engine *e, const char *method, const char *path, const cJSON *body,
		  int *fd, char *rest, size_t restcap, size_t *nrest, struct engine_reply *r);

void engine_reply_free(struct engine_reply *r);

/* Percent-encodes S for a query string into OUT (OUTLEN bytes). Returns OUT. */
char *engine_query_escape(const char *s, char *out, size_t outlen);

/* Helpers for reading engine JSON: a string member or "" (never NULL), a number or DEF. */
const char *engine_str(const cJSON *obj, const char *name);
double engine_num(const cJSON *obj, const char *name, double def);
/* OBJ["Config"]["Labels"][NAME], or "". */
const char *engine_label(const cJSON *container, const char *name);

#endif
