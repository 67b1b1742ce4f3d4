/* yconf.h: a YAML document (a configuration file) loaded with libyaml into a small read-only
 * tree of maps, sequences and scalars, each node knowing its line, plus the typed getters the
 * configuration modules share: strings, paths resolved against the file's directory, string
 * lists, durations and booleans, every failure reported as "FILE:LINE: message".
 *
 * Limits: files up to YCONF_MAX_BYTES, nesting up to YCONF_MAX_DEPTH, at most YCONF_MAX_NODES
 * nodes. Map keys are scalars and unique. Aliases (*name) are refused, anchors ignored (but
 * see yconf_load_file_aliases()).
 * One document per file. Tags are ignored: every scalar is its text. */
#ifndef REXEC_YCONF_H
#define REXEC_YCONF_H

#include <stdbool.h>
#include <stddef.h>

#define YCONF_MAX_BYTES (4u << 20)
#define YCONF_MAX_DEPTH 32
#define YCONF_MAX_NODES (1u << 18)

/* A loaded document. Opaque; owns every node, name and string reachable from it. */
struct yconf;
/* One node of a document; borrowed from its struct yconf and valid until yconf_free(). */
struct yconf_node;

enum yconf_kind {
	YCONF_SCALAR = 1,
	YCONF_MAP,
	YCONF_SEQ,
};

/* Loads the YAML file PATH. On success *OUT is a new document the caller frees with
 * yconf_free(). On failure *OUT is NULL, a message is written to ERR (ERRLEN bytes, may be 0)
 * and the return is -errno when the file cannot be read (-ENOENT when it does not exist),
 * REXEC_EYAML for a syntax error ("PATH:LINE: problem"), REXEC_ECONFIG for a document that
 * breaks the limits above, -ENOMEM. */
int yconf_load_file(const char *path, struct yconf **out, char *err, size_t errlen);

/* As yconf_load_file(), for files rexec reads but does not own (compose files): an alias
 * (*name) is the node anchored &name, shared, not copied; merge keys (<<) stay plain keys. */
int yconf_load_file_aliases(const char *path, struct yconf **out, char *err, size_t errlen);

/* As yconf_load_file(), from the LEN bytes at TEXT. NAME (may be NULL: "<string>") stands
 * for the file in messages; relative paths resolve against the current directory. */
int yconf_load_string(const char *text, size_t len, const char *name, struct yconf **out, char *err,
		      size_t errlen);

/* Frees Y and all its nodes. NULL is fine. */
void yconf_free(struct yconf *y);

/* The name used in messages: the path as given to yconf_load_file(). Borrowed. */
const char *yconf_name(const struct yconf *y);

/* The top node, or NULL for a file without a document (empty or only comments). */
const struct yconf_node *yconf_root(const struct yconf *y);

enum yconf_kind yconf_kind(const struct yconf_node *n);

/* N's 1-based line in the file. */
unsigned yconf_line(const struct yconf_node *n);

/* A scalar's text (NUL-terminated, never containing NUL), or NULL when N is not a scalar. */
const char *yconf_scalar(const struct yconf_node *n);

/* True for an unquoted empty value, "~" or "null": a key written without a value. */
bool yconf_is_null(const struct yconf_node *n);

/* The number of items of a sequence or of key/value pairs of a map; 0 for a scalar. */
size_t yconf_len(const struct yconf_node *n);

/* Item I of sequence SEQ, NULL when out of range or SEQ is not a sequence. */
const struct yconf_node *yconf_item(const struct yconf_node *seq, size_t i);

/* The key (always a scalar) and the value of pair I of map MAP, in file order; NULL when out
 * of range or MAP is not a map. */
const struct yconf_node *yconf_key(const struct yconf_node *map, size_t i);
const struct yconf_node *yconf_value(const struct yconf_node *map, size_t i);

/* The value of KEY in MAP, or NULL. */
const struct yconf_node *yconf_lookup(const struct yconf_node *map, const char *key);

/* Writes "NAME:LINE: " + the formatted message into ERR (LINE of AT; no line when AT is NULL)
 * and returns REXEC_ECONFIG, so that a caller can `return yconf_errorf(...)`. */
int yconf_errorf(const struct yconf *y, const struct yconf_node *at, char *err, size_t errlen,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* PATH as the file means it: "~/x" under $HOME, a relative path under the directory of the
 * file (an absolute directory), anything else unchanged. A new string the caller frees; NULL
 * when out of memory. */
char *yconf_resolve(const struct yconf *y, const char *path);

/* Typed getters for the value N of the setting called WHAT (used in messages). Each checks the
 * kind, writes "NAME:LINE: WHAT: problem" into ERR and returns REXEC_ECONFIG on a mismatch,
 * -ENOMEM when out of memory. On success the strings stored are new: the previous *OUT is
 * freed and replaced, and the caller frees the new one. A null value is an error: a key
 * written without a value is a mistake, not a way to unset a setting. */

/* A scalar, copied. */
int yconf_get_string(const struct yconf *y, const struct yconf_node *n, const char *what,
		     char **out, char *err, size_t errlen);
/* A non-empty scalar, resolved with yconf_resolve(). */
int yconf_get_path(const struct yconf *y, const struct yconf_node *n, const char *what, char **out,
		   char *err, size_t errlen);
/* A sequence of scalars, or one scalar as a list of one; *OUT is an array of *N_OUT strings
 * freed with yconf_strings_free(). An empty sequence gives *OUT NULL, *N_OUT 0. */
int yconf_get_strings(const struct yconf *y, const struct yconf_node *n, const char *what,
		      char ***out, size_t *n_out, char *err, size_t errlen);
/* A duration, see yconf_parse_duration(). */
int yconf_get_duration(const struct yconf *y, const struct yconf_node *n, const char *what,
		       unsigned *ms, char *err, size_t errlen);
/* A boolean, see yconf_parse_bool(). */
int yconf_get_bool(const struct yconf *y, const struct yconf_node *n, const char *what, bool *out,
		   char *err, size_t errlen);

/* Frees the N strings of V and V itself. NULL is fine. */
void yconf_strings_free(char **v, size_t n);

/* Parses a duration into milliseconds: digits with an optional unit, "ms", "s", "m" or "h"; no
 * unit means seconds ("500ms", "5s", "2m", "1h", "30"). Returns 0, or REXEC_ECONFIG for
 * anything else or a value above UINT_MAX milliseconds (*MS untouched). */
int yconf_parse_duration(const char *s, unsigned *ms);

/* Parses "true", "false", "yes" or "no" (any case). Returns 0, or REXEC_ECONFIG. */
int yconf_parse_bool(const char *s, bool *out);

#endif
