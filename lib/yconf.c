/* yconf.c: a YAML document read through libyaml's event API into a tree of nodes, and the
 * typed getters of configuration files. */
#include "lib/yconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "proto/error.h"

struct yconf_node {
	enum yconf_kind kind;
	unsigned line;
	bool null;
	char *value; /* SCALAR */
	/* SEQ: the items; MAP: key, value, key, value, ... */
	struct yconf_node **kids;
	size_t n_kids, cap_kids;
	struct yconf_node *next_alloc; /* every node of a document, for yconf_free() */
};

struct yconf {
	char *name;
	char *dir; /* absolute directory of the file; NULL for a string */
	struct yconf_node *root;
	struct yconf_node *all;
	size_t n_nodes;
};

/* The parse in progress: the open maps and sequences, innermost last. */
#define YCONF_MAX_ANCHORS 256

struct builder {
	struct yconf *y;
	int aliases; /* *name refers to the node anchored &name (else an error) */
	struct {
		char *name;
		struct yconf_node *node;
	} anchors[YCONF_MAX_ANCHORS];
	size_t n_anchors;
	struct yconf_node *stack[YCONF_MAX_DEPTH];
	size_t depth;
	int docs;
	char *err;
	size_t errlen;
};

static const char *kind_name(enum yconf_kind kind)
{
	switch (kind) {
	case YCONF_SCALAR:
		return "a string";
	case YCONF_MAP:
		return "a mapping";
	case YCONF_SEQ:
		return "a list";
	}
	return "?";
}

/* Formats into ERR when the caller gave room for a message. */
static void __attribute__((format(printf, 3, 4)))
put(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int yconf_errorf(const struct yconf *y, const struct yconf_node *at, char *err, size_t errlen,
		 const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at != NULL)
		put(err, errlen, "%s:%u: %s", y->name, at->line, msg);
	else
		put(err, errlen, "%s: %s", y->name, msg);
	return REXEC_ECONFIG;
}

static struct yconf *doc_new(const char *name)
{
	struct yconf *y = calloc(1, sizeof(*y));

	if (y == NULL)
		return NULL;
	y->name = strdup(name);
	if (y->name == NULL) {
		free(y);
		return NULL;
	}
	return y;
}

void yconf_free(struct yconf *y)
{
	struct yconf_node *n, *next;

	if (y == NULL)
		return;
	for (n = y->all; n != NULL; n = next) {
		next = n->next_alloc;
		free(n->value);
		free(n->kids);
		free(n);
	}
	free(y->name);
	free(y->dir);
	free(y);
}

/* A plain scalar that YAML reads as null: what `key:` with nothing after it gives. */
static bool plain_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag != NULL)
		return false;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* A new node for EV, owned by the document; NULL with a message on failure (*RET set). */
static struct yconf_node *node_new(struct builder *b, const yaml_event_t *ev, int *ret)
{
	struct yconf *y = b->y;
	struct yconf_node *n;
	unsigned line = (unsigned)ev->start_mark.line + 1;

	if (y->n_nodes >= YCONF_MAX_NODES) {
		put(b->err, b->errlen, "%s:%u: more than %u values in one file", y->name, line,
		    YCONF_MAX_NODES);
		*ret = REXEC_ECONFIG;
		return NULL;
	}
	if (ev->type == YAML_SCALAR_EVENT &&
	    memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL) {
		put(b->err, b->errlen, "%s:%u: a NUL character in a string", y->name, line);
		*ret = REXEC_ECONFIG;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		goto oom;
	n->line = line;
	if (ev->type == YAML_SCALAR_EVENT) {
		n->kind = YCONF_SCALAR;
		n->null = plain_null(ev);
		n->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		if (n->value == NULL) {
			free(n);
			goto oom;
		}
	} else {
		n->kind = ev->type == YAML_MAPPING_START_EVENT ? YCONF_MAP : YCONF_SEQ;
	}
	n->next_alloc = y->all;
	y->all = n;
	y->n_nodes++;
	return n;
oom:
	put(b->err, b->errlen, "%s: out of memory", y->name);
	*ret = -ENOMEM;
	return NULL;
}

/* Hangs N under the innermost open map or sequence, or makes it the root. */
static int attach(struct builder *b, struct yconf_node *n)
{
	struct yconf_node *parent, **kids;
	size_t cap;

	if (b->depth == 0) {
		b->y->root = n;
		return 0;
	}
	parent = b->stack[b->depth - 1];
	if (parent->kind == YCONF_MAP && parent->n_kids % 2 == 0 && n->kind != YCONF_SCALAR) {
		put(b->err, b->errlen, "%s:%u: a key must be a string, not %s", b->y->name, n->line,
		    kind_name(n->kind));
		return REXEC_ECONFIG;
	}
	if (parent->n_kids == parent->cap_kids) {
		cap = parent->cap_kids ? parent->cap_kids * 2 : 8;
		kids = realloc(parent->kids, cap * sizeof(*kids));
		if (kids == NULL) {
			put(b->err, b->errlen, "%s: out of memory", b->y->name);
			return -ENOMEM;
		}
		parent->kids = kids;
		parent->cap_kids = cap;
	}
	parent->kids[parent->n_kids++] = n;
	return 0;
}

static int cmp_keys(const void *a, const void *b)
{
	const struct yconf_node *ka = *(struct yconf_node *const *)a;
	const struct yconf_node *kb = *(struct yconf_node *const *)b;
	int c = strcmp(ka->value, kb->value);

	if (c != 0)
		return c;
	return ka->line < kb->line ? -1 : ka->line > kb->line;
}

/* Refuses a map that names a key twice: the second would silently win otherwise. Sorting
 * keeps this O(n log n) for a large inventory. */
static int check_unique(struct builder *b, const struct yconf_node *map)
{
	size_t n = map->n_kids / 2, i;
	struct yconf_node **keys;
	int ret = 0;

	if (n < 2)
		return 0;
	keys = malloc(n * sizeof(*keys));
	if (keys == NULL) {
		put(b->err, b->errlen, "%s: out of memory", b->y->name);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		keys[i] = map->kids[2 * i];
	qsort(keys, n, sizeof(*keys), cmp_keys);
	for (i = 1; i < n; i++) {
		if (strcmp(keys[i - 1]->value, keys[i]->value) == 0) {
			put(b->err, b->errlen, "%s:%u: duplicate key '%s' (first at line %u)",
			    b->y->name, keys[i]->line, keys[i]->value, keys[i - 1]->line);
			ret = REXEC_ECONFIG;
			break;
		}
	}
	free(keys);
	return ret;
}

/* Remembers N under the anchor (&name) of its event, if it has one. */
static int anchor(struct builder *b, const yaml_event_t *ev, struct yconf_node *n)
{
	const yaml_char_t *name = ev->type == YAML_SCALAR_EVENT ? ev->data.scalar.anchor
				  : ev->type == YAML_SEQUENCE_START_EVENT
					  ? ev->data.sequence_start.anchor
					  : ev->data.mapping_start.anchor;

	if (name == NULL)
		return 0;
	if (b->n_anchors == YCONF_MAX_ANCHORS) {
		put(b->err, b->errlen, "%s:%u: more than %d anchors", b->y->name, n->line,
		    YCONF_MAX_ANCHORS);
		return REXEC_ECONFIG;
	}
	if ((b->anchors[b->n_anchors].name = strdup((const char *)name)) == NULL) {
		put(b->err, b->errlen, "%s: out of memory", b->y->name);
		return -ENOMEM;
	}
	b->anchors[b->n_anchors++].node = n;
	return 0;
}

/* *NAME: the anchored node again, shared rather than copied (the tree is read-only), so a
 * file of nested aliases cannot blow up. An alias inside its own anchor is refused. */
static int alias(struct builder *b, const char *name, unsigned line)
{
	size_t i, d;

	for (i = b->n_anchors; i-- > 0;) {
		if (strcmp(b->anchors[i].name, name) != 0)
			continue;
		for (d = 0; d < b->depth; d++) {
			if (b->stack[d] == b->anchors[i].node) {
				put(b->err, b->errlen, "%s:%u: alias *%s inside its own anchor",
				    b->y->name, line, name);
				return REXEC_ECONFIG;
			}
		}
		return attach(b, b->anchors[i].node);
	}
	put(b->err, b->errlen, "%s:%u: unknown alias *%s", b->y->name, line, name);
	return REXEC_ECONFIG;
}

/* Adds the node of one parser event to the tree. */
static int on_event(struct builder *b, const yaml_event_t *ev)
{
	unsigned line = (unsigned)ev->start_mark.line + 1;
	struct yconf_node *n;
	int ret = 0;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (b->docs++ > 0) {
			put(b->err, b->errlen, "%s:%u: only one YAML document is allowed",
			    b->y->name, line);
			return REXEC_ECONFIG;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		if (!b->aliases) {
			put(b->err, b->errlen, "%s:%u: aliases (*%s) are not supported", b->y->name,
			    line, (const char *)ev->data.alias.anchor);
			return REXEC_ECONFIG;
		}
		return alias(b, (const char *)ev->data.alias.anchor, line);
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		n = node_new(b, ev, &ret);
		if (n == NULL)
			return ret;
		if (b->aliases && (ret = anchor(b, ev, n)) != 0)
			return ret;
		ret = attach(b, n);
		if (ret != 0 || n->kind == YCONF_SCALAR)
			return ret;
		if (b->depth == YCONF_MAX_DEPTH) {
			put(b->err, b->errlen, "%s:%u: nested more than %d levels deep", b->y->name,
			    line, YCONF_MAX_DEPTH);
			return REXEC_ECONFIG;
		}
		b->stack[b->depth++] = n;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		n = b->stack[--b->depth];
		return n->kind == YCONF_MAP ? check_unique(b, n) : 0;
	default:
		return 0;
	}
}

/* Reports what libyaml found wrong, where. */
static int syntax_error(struct builder *b, const yaml_parser_t *p)
{
	size_t line = p->problem_mark.line + 1;
	const char *problem = p->problem ? p->problem : "unknown problem";

	if (p->error == YAML_MEMORY_ERROR) {
		put(b->err, b->errlen, "%s: out of memory", b->y->name);
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR)
		line = p->mark.line + 1;
	if (p->context != NULL)
		put(b->err, b->errlen, "%s:%zu: %s (%s at line %zu)", b->y->name, line, problem,
		    p->context, p->context_mark.line + 1);
	else
		put(b->err, b->errlen, "%s:%zu: %s", b->y->name, line, problem);
	return REXEC_EYAML;
}

/* Parses LEN bytes at TEXT into Y's tree. */
static int parse(struct yconf *y, const char *text, size_t len, int aliases, char *err,
		 size_t errlen)
{
	struct builder b = { .y = y, .err = err, .errlen = errlen, .aliases = aliases };
	size_t i;
	yaml_parser_t parser;
	yaml_event_t ev;
	int ret = 0, done = 0;

	if (!yaml_parser_initialize(&parser)) {
		put(err, errlen, "%s: out of memory", y->name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && ret == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			ret = syntax_error(&b, &parser);
			break;
		}
		ret = on_event(&b, &ev);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	for (i = 0; i < b.n_anchors; i++)
		free(b.anchors[i].name);
	return ret;
}

int yconf_load_string(const char *text, size_t len, const char *name, struct yconf **out, char *err,
		      size_t errlen)
{
	struct yconf *y = NULL;
	int ret;

	*out = NULL;
	y = doc_new(name ? name : "<string>");
	if (y == NULL) {
		put(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (len > YCONF_MAX_BYTES) {
		ret = yconf_errorf(y, NULL, err, errlen, "larger than %u bytes", YCONF_MAX_BYTES);
		goto out;
	}
	ret = parse(y, text, len, 0, err, errlen);
	if (ret == 0) {
		*out = y;
		y = NULL;
	}
out:
	yconf_free(y);
	return ret;
}

/* The absolute directory that holds PATH, a new string; NULL when out of memory or the current
 * directory is unknown (errno set). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char cwd[PATH_MAX], *dir = NULL;

	if (slash == path)
		return strdup("/");
	if (path[0] == '/')
		return strndup(path, (size_t)(slash - path));
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	if (slash == NULL)
		return strdup(cwd);
	if (asprintf(&dir, "%s/%.*s", cwd, (int)(slash - path), path) < 0)
		return NULL;
	return dir;
}

/* Reads the whole of a regular file of at most YCONF_MAX_BYTES into *BUF (caller frees). */
static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *data = NULL;
	size_t have = 0, size;
	ssize_t n;
	int fd = -1, ret = 0;

	/* A FIFO must not hold the open (O_NONBLOCK) nor a tty become our terminal (O_NOCTTY):
	 * the agent reads files that labels name (a compose file for depends_on). */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		put(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		put(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	/* The file's size and one byte more, to see its end (or that it grew); never more than
	 * one byte over the cap, to tell a file at the cap from a larger one. */
	size = (size_t)st.st_size < YCONF_MAX_BYTES ? (size_t)st.st_size + 1 : YCONF_MAX_BYTES + 1;
	while (have <= YCONF_MAX_BYTES) {
		if (have == size || data == NULL) {
			char *more;
			if (data != NULL)
				size = size * 2 < YCONF_MAX_BYTES + 1 ? size * 2
								      : YCONF_MAX_BYTES + 1;
			if ((more = realloc(data, size)) == NULL) {
				ret = -ENOMEM;
				put(err, errlen, "%s: out of memory", path);
				goto out;
			}
			data = more;
		}
		n = read(fd, data + have, size - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			put(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have > YCONF_MAX_BYTES) {
		ret = REXEC_ECONFIG;
		put(err, errlen, "%s: larger than %u bytes", path, YCONF_MAX_BYTES);
		goto out;
	}
	*buf = data;
	*len = have;
	data = NULL;
out:
	free(data);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int load_file(const char *path, int aliases, struct yconf **out, char *err, size_t errlen)
{
	struct yconf *y = NULL;
	char *text = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	ret = read_file(path, &text, &len, err, errlen);
	if (ret != 0)
		goto out;
	y = doc_new(path);
	if (y == NULL) {
		ret = -ENOMEM;
		put(err, errlen, "%s: out of memory", path);
		goto out;
	}
	errno = ENOMEM;
	y->dir = dir_of(path);
	if (y->dir == NULL) {
		ret = -errno;
		put(err, errlen, "%s: cannot tell its directory: %s", path, strerror(-ret));
		goto out;
	}
	ret = parse(y, text, len, aliases, err, errlen);
	if (ret == 0) {
		*out = y;
		y = NULL;
	}
out:
	yconf_free(y);
	free(text);
	return ret;
}

int yconf_load_file(const char *path, struct yconf **out, char *err, size_t errlen)
{
	return load_file(path, 0, out, err, errlen);
}

int yconf_load_file_aliases(const char *path, struct yconf **out, char *err, size_t errlen)
{
	return load_file(path, 1, out, err, errlen);
}

const char *yconf_name(const struct yconf *y)
{
	return y->name;
}

const struct yconf_node *yconf_root(const struct yconf *y)
{
	return y->root;
}

enum yconf_kind yconf_kind(const struct yconf_node *n)
{
	return n->kind;
}

unsigned yconf_line(const struct yconf_node *n)
{
	return n->line;
}

const char *yconf_scalar(const struct yconf_node *n)
{
	return n->kind == YCONF_SCALAR ? n->value : NULL;
}

bool yconf_is_null(const struct yconf_node *n)
{
	return n->null;
}

size_t yconf_len(const struct yconf_node *n)
{
	if (n->kind == YCONF_MAP)
		return n->n_kids / 2;
	return n->kind == YCONF_SEQ ? n->n_kids : 0;
}

const struct yconf_node *yconf_item(const struct yconf_node *seq, size_t i)
{
	if (seq->kind != YCONF_SEQ || i >= seq->n_kids)
		return NULL;
	return seq->kids[i];
}

const struct yconf_node *yconf_key(const struct yconf_node *map, size_t i)
{
	if (map->kind != YCONF_MAP || i >= map->n_kids / 2)
		return NULL;
	return map->kids[2 * i];
}

const struct yconf_node *yconf_value(const struct yconf_node *map, size_t i)
{
	if (map->kind != YCONF_MAP || i >= map->n_kids / 2)
		return NULL;
	return map->kids[2 * i + 1];
}

const struct yconf_node *yconf_lookup(const struct yconf_node *map, const char *key)
{
	size_t i;

	if (map->kind != YCONF_MAP)
		return NULL;
	for (i = 0; i + 1 < map->n_kids; i += 2)
		if (strcmp(map->kids[i]->value, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

char *yconf_resolve(const struct yconf *y, const char *path)
{
	const char *home = getenv("HOME");
	char *out = NULL;

	if (strncmp(path, "~/", 2) == 0 && home != NULL && home[0] != '\0') {
		if (asprintf(&out, "%s%s", home, path + 1) < 0)
			return NULL;
		return out;
	}
	if (path[0] == '/' || y->dir == NULL)
		return strdup(path);
	if (asprintf(&out, "%s/%s", y->dir, path) < 0)
		return NULL;
	return out;
}

/* The text of scalar N, or an error naming what WHAT should have been. */
static int want_scalar(const struct yconf *y, const struct yconf_node *n, const char *what,
		       char *err, size_t errlen)
{
	if (n->kind != YCONF_SCALAR)
		return yconf_errorf(y, n, err, errlen, "%s: expected a string, not %s", what,
				    kind_name(n->kind));
	if (n->null)
		return yconf_errorf(y, n, err, errlen, "%s: needs a value", what);
	return 0;
}

int yconf_get_string(const struct yconf *y, const struct yconf_node *n, const char *what,
		     char **out, char *err, size_t errlen)
{
	char *s;
	int ret = want_scalar(y, n, what, err, errlen);

	if (ret != 0)
		return ret;
	s = strdup(n->value);
	if (s == NULL) {
		put(err, errlen, "%s: out of memory", y->name);
		return -ENOMEM;
	}
	free(*out);
	*out = s;
	return 0;
}

int yconf_get_path(const struct yconf *y, const struct yconf_node *n, const char *what, char **out,
		   char *err, size_t errlen)
{
	char *s;
	int ret = want_scalar(y, n, what, err, errlen);

	if (ret != 0)
		return ret;
	if (n->value[0] == '\0')
		return yconf_errorf(y, n, err, errlen, "%s: the path is empty", what);
	s = yconf_resolve(y, n->value);
	if (s == NULL) {
		put(err, errlen, "%s: out of memory", y->name);
		return -ENOMEM;
	}
	free(*out);
	*out = s;
	return 0;
}

int yconf_get_strings(const struct yconf *y, const struct yconf_node *n, const char *what,
		      char ***out, size_t *n_out, char *err, size_t errlen)
{
	const struct yconf_node *const *items = &n;
	size_t count = 1, i;
	char **v = NULL;
	int ret = 0;

	if (n->kind == YCONF_SEQ) {
		items = (const struct yconf_node *const *)n->kids;
		count = n->n_kids;
	}
	for (i = 0; i < count; i++) {
		ret = want_scalar(y, items[i], what, err, errlen);
		if (ret != 0)
			return ret;
	}
	if (count > 0) {
		v = calloc(count, sizeof(*v));
		if (v == NULL)
			goto oom;
	}
	for (i = 0; i < count; i++) {
		v[i] = strdup(items[i]->value);
		if (v[i] == NULL)
			goto oom;
	}
	yconf_strings_free(*out, *n_out);
	*out = v;
	*n_out = count;
	return 0;
oom:
	yconf_strings_free(v, count);
	put(err, errlen, "%s: out of memory", y->name);
	return -ENOMEM;
}

int yconf_get_duration(const struct yconf *y, const struct yconf_node *n, const char *what,
		       unsigned *ms, char *err, size_t errlen)
{
	int ret = want_scalar(y, n, what, err, errlen);

	if (ret != 0)
		return ret;
	if (yconf_parse_duration(n->value, ms) != 0)
		return yconf_errorf(y, n, err, errlen,
				    "%s: '%s' is not a duration (such as 500ms, 5s, 2m, 1h)", what,
				    n->value);
	return 0;
}

int yconf_get_bool(const struct yconf *y, const struct yconf_node *n, const char *what, bool *out,
		   char *err, size_t errlen)
{
	int ret = want_scalar(y, n, what, err, errlen);

	if (ret != 0)
		return ret;
	if (yconf_parse_bool(n->value, out) != 0)
		return yconf_errorf(y, n, err, errlen, "%s: '%s' is not true or false", what,
				    n->value);
	return 0;
}

void yconf_strings_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int yconf_parse_duration(const char *s, unsigned *ms)
{
	static const struct {
		const char *name;
		uint64_t ms;
	} units[] = { { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
	uint64_t v = 0;
	size_t i;

	if (*s < '0' || *s > '9')
		return REXEC_ECONFIG;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT_MAX)
			return REXEC_ECONFIG;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s, units[i].name) != 0)
			continue;
		if (v * units[i].ms > UINT_MAX)
			return REXEC_ECONFIG;
		*ms = (unsigned)(v * units[i].ms);
		return 0;
	}
	return REXEC_ECONFIG;
}

int yconf_parse_bool(const char *s, bool *out)
{
	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0) {
		*out = true;
		return 0;
	}
	if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0) {
		*out = false;
		return 0;
	}
	return REXEC_ECONFIG;
}
