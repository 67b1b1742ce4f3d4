/* yconf_fuzz.c: the YAML config tree (lib/yconf.c) over libyaml: any text loaded, as a string
 * or (the input's first byte odd) as a file with aliases shared, then every node walked with
 * the typed getters the configuration modules use. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/yconf.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Visits N and below, at most *BUDGET nodes (aliases make a DAG whose paths grow
 * exponentially). */
static void walk(const struct yconf *y, const struct yconf_node *n, unsigned depth, long *budget)
{
	char err[256], *s = NULL, **v = NULL;
	size_t i, nv = 0;
	unsigned ms;
	bool b;

	if (n == NULL || --*budget < 0)
		return;
	if (depth > YCONF_MAX_DEPTH + 1)
		abort();
	yconf_line(n);
	if (yconf_get_strings(y, n, "list", &v, &nv, err, sizeof(err)) == 0)
		yconf_strings_free(v, nv);
	switch (yconf_kind(n)) {
	case YCONF_SCALAR:
		if (yconf_scalar(n) == NULL)
			abort();
		yconf_is_null(n);
		yconf_get_duration(y, n, "duration", &ms, err, sizeof(err));
		yconf_get_bool(y, n, "bool", &b, err, sizeof(err));
		if (yconf_get_string(y, n, "string", &s, err, sizeof(err)) == 0 &&
		    strcmp(s, yconf_scalar(n)) != 0)
			abort();
		yconf_get_path(y, n, "path", &s, err, sizeof(err));
		free(s);
		break;
	case YCONF_MAP:
		for (i = 0; i < yconf_len(n); i++) {
			const struct yconf_node *k = yconf_key(n, i);
			if (yconf_kind(k) != YCONF_SCALAR ||
			    yconf_lookup(n, yconf_scalar(k)) != yconf_value(n, i))
				abort(); /* keys are unique scalars */
			walk(y, yconf_value(n, i), depth + 1, budget);
		}
		break;
	case YCONF_SEQ:
		for (i = 0; i < yconf_len(n); i++)
			walk(y, yconf_item(n, i), depth + 1, budget);
		break;
	default:
		abort();
	}
	yconf_errorf(y, n, err, sizeof(err), "at %s", "node");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yconf *y = NULL;
	char err[512];
	long budget = 20000;
	int ret;

	if (size < 1)
		return 0;
	if (data[0] & 1)
		ret = yconf_load_file_aliases(fuzz_file(data + 1, size - 1), &y, err, sizeof(err));
	else
		ret = yconf_load_string((const char *)data + 1, size - 1, "fuzz.yaml", &y, err,
					sizeof(err));
	if (ret == 0) {
		walk(y, yconf_root(y), 0, &budget);
		yconf_free(y);
	} else if (y != NULL || err[0] == 0) {
		abort(); /* a failure leaves nothing and says why */
	}
	return 0;
}
