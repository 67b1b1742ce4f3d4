/* engine.c: blocking HTTP/1.1 requests to the container engine's unix socket. */
#include "agent/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <http_parser.h>

#include "proto/buf.h"
#include "proto/error.h"

#define ENGINE_IO_TIMEOUT_S 120 /* a request the engine does not answer in this long failed */
#define ENGINE_BODY_MAX     (64u << 20)

int engine_init(struct engine *e, const char *url)
{
	const char *path = url;

	if (strncmp(url, "unix://", 7) == 0)
		path = url + 7;
	if (path[0] != '/' || strlen(path) >= sizeof(e->socket))
		return -EINVAL;
	snprintf(e->socket, sizeof(e->socket), "%s", path);
	return 0;
}

void engine_reply_free(struct engine_reply *r)
{
	cJSON_Delete(r->json);
	r->json = NULL;
}

static int connect_engine(const struct engine *e, struct engine_reply *r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = ENGINE_IO_TIMEOUT_S };
	int fd, err;

	memcpy(sa.sun_path, e->socket, sizeof(e->socket));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(r->err, sizeof(r->err), "socket: %s", strerror(errno));
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		snprintf(r->err, sizeof(r->err),
			 "container engine at %s: %s (is dockerd running? the agent's --engine "
			 "names its socket)",
			 e->socket, strerror(err));
		return REXEC_EUNAVAILABLE;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_request(int fd, const char *method, const char *path, const cJSON *body,
			int upgrade)
{
	char *json = body ? cJSON_PrintUnformatted(body) : NULL;
	char *head = NULL;
	size_t blen = json ? strlen(json) : 0;
	int n, ret;

	if (body && json == NULL)
		return -ENOMEM;
	n = asprintf(&head,
		     "%s /" ENGINE_API_VERSION "%s HTTP/1.1\r\n"
		     "Host: docker\r\n"
		     "User-Agent: rexec-agent\r\n"
		     "%s"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %zu\r\n\r\n",
		     method, path,
		     upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "Connection: close\r\n",
		     blen);
	if (n < 0) {
		free(json);
		return -ENOMEM;
	}
	ret = write_all(fd, head, (size_t)n);
	if (ret == 0 && blen > 0)
		ret = write_all(fd, json, blen);
	free(head);
	free(json);
	return ret;
}

/* Response parsing state. */
struct resp {
	struct buf body;
	int head_done;
	int done;
	int oom;
};

static int on_headers_complete(http_parser *p)
{
	struct resp *rs = p->data;

	rs->head_done = 1;
	/* A hijacked stream (101) has no body to parse: stop at the head. */
	return p->upgrade ? 2 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct resp *rs = p->data;

	if (buf_size(&rs->body) + n > ENGINE_BODY_MAX || buf_append(&rs->body, at, n) < 0) {
		rs->oom = 1;
		return -1;
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	((struct resp *)p->data)->done = 1;
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* The engine's error body is {"message": "..."}: keep it for the user. */
static void take_body(struct engine_reply *r, struct resp *rs)
{
	const char *msg;

	if (buf_size(&rs->body) > 0)
		r->json = cJSON_ParseWithLength((const char *)buf_peek(&rs->body),
						buf_size(&rs->body));
	if (r->status / 100 == 2)
		return;
	msg = engine_str(r->json, "message");
	if (msg[0] == 0 && buf_size(&rs->body) > 0)
		snprintf(r->err, sizeof(r->err), "%.*s", (int)buf_size(&rs->body),
			 (const char *)buf_peek(&rs->body));
	else
		snprintf(r->err, sizeof(r->err), "%s", msg[0] ? msg : "engine error");
	/* One line for the user. */
	r->err[strcspn(r->err, "\r\n")] = 0;
}

/* Reads the response on FD. With HIJACK, returns as soon as the head is read, leaving the
 * bytes after it in REST. */
static int read_response(int fd, int hijack, struct engine_reply *r, char *rest, size_t restcap,
			 size_t *nrest)
{
	http_parser p;
	struct resp rs = { 0 };
	char in[ENGINE_REST_MAX];
	int ret = 0;

	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &rs;
	for (;;) {
		ssize_t n = recv(fd, in, sizeof(in), 0);
		size_t used;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno == EAGAIN ? REXEC_ETIMEOUT : -errno;
			snprintf(r->err, sizeof(r->err), "container engine: %s",
				 rexec_strerror(ret));
			break;
		}
		used = http_parser_execute(&p, &parser_settings, in, (size_t)n);
		if (hijack && rs.head_done && p.upgrade) {
			/* http-parser stops after the head of an upgrade; what follows is the
			 * stream. */
			size_t left = (size_t)n - used;
			r->status = p.status_code;
			if (left > restcap)
				left = restcap;
			memcpy(rest, in + used, left);
			*nrest = left;
			buf_free(&rs.body);
			return 0;
		}
		if (n == 0) {
			http_parser_execute(&p, &parser_settings, NULL, 0);
			if (!rs.done) {
				ret = REXEC_ECLOSED;
				snprintf(r->err, sizeof(r->err),
					 "container engine closed the connection mid-answer");
			}
			break;
		}
		if (HTTP_PARSER_ERRNO(&p) != HPE_OK) {
			ret = rs.oom ? -ENOMEM : REXEC_EENGINE;
			snprintf(r->err, sizeof(r->err), "container engine: bad HTTP answer: %s",
				 http_errno_description(HTTP_PARSER_ERRNO(&p)));
			break;
		}
		if (rs.done)
			break;
	}
	if (ret == 0) {
		r->status = p.status_code;
		take_body(r, &rs);
	}
	buf_free(&rs.body);
	return ret;
}

/* One request on a connection of its own. With HIJACK, a 101 answer leaves the connection
 * open in *FD_OUT for the stream. */
static int exchange(const struct engine *e, const char *method, const char *path, const cJSON *body,
		    int hijack, int *fd_out, char *rest, size_t restcap, size_t *nrest,
		    struct engine_reply *r)
{
	int fd, ret;

	memset(r, 0, sizeof(*r));
	if ((fd = connect_engine(e, r)) < 0)
		return fd;
	ret = send_request(fd, method, path, body, hijack);
	if (ret < 0)
		snprintf(r->err, sizeof(r->err), "container engine: %s", strerror(-ret));
	else
		ret = read_response(fd, hijack, r, rest, restcap, nrest);
	if (hijack && ret == 0 && r->status == 101) {
		struct timeval tv = { 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		*fd_out = fd;
		return 0;
	}
	close(fd);
	return ret;
}

int engine_call(const struct engine *e, const char *method, const char *path, const cJSON *body,
		struct engine_reply *r)
{
	return exchange(e, method, path, body, 0, NULL, NULL, 0, NULL, r);
}

int engine_hijack(const struct engine *e, const char *method, const char *path, const cJSON *body,
		  int *fd_out, char *rest, size_t restcap, size_t *nrest, struct engine_reply *r)
{
	*fd_out = -1;
	*nrest = 0;
	return exchange(e, method, path, body, 1, fd_out, rest, restcap, nrest, r);
}

char *engine_query_escape(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = 0;
	return out;
}

const char *engine_str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

double engine_num(const cJSON *obj, const char *name, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

const char *engine_label(const cJSON *container, const char *name)
{
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(container, "Config");

	return engine_str(cJSON_GetObjectItemCaseSensitive(cfg, "Labels"), name);
}
