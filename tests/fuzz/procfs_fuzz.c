/* procfs_fuzz.c: agent/procfs.c's text parsing: procfs_line() over a /proc file's text, and
 * the /proc/PID/stat field parser (whose comm field a process names as it likes: spaces,
 * parentheses, newlines) for the fields the agent asks for and a few it does not. The file is
 * included for its static parser. */
#include "agent/procfs.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int fields[] = { -1, 0, 1, 2, 3, 8, 22, 52, 100000 };
	char *text, *p, *line, out[32], tiny[2];
	size_t i, lines = 0;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (stat_field(text, fields[i], out, sizeof(out)) == 0 &&
		    strlen(out) >= sizeof(out))
			abort();
		stat_field(text, fields[i], tiny, sizeof(tiny));
	}
	p = text;
	while ((line = procfs_line(&p)) != NULL) {
		if (strchr(line, '\n') != NULL || p < line || p > text + size)
			abort();
		lines++;
	}
	if (lines > size)
		abort();
	free(text);
	return 0;
}
