/* ctuser_fuzz.c: the container user resolver of the direct path (agent/ctuser.c) on passwd
 * and group texts a container makes what it likes. The input is USER NUL PASSWD NUL GROUP NUL
 * EXTRA, EXTRA a JSON array (HostConfig.GroupAdd); missing parts are empty. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ctuser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *part[4] = { "", "", "", "" }, *p, *end, why[256];
	struct ctuser u;
	cJSON *extra;
	int i, ret;

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = 0;
	end = copy + size;
	for (i = 0, p = copy; i < 4 && p <= end; i++) {
		part[i] = p;
		p += strlen(p) + 1;
	}
	extra = cJSON_Parse(part[3]);
	why[0] = 0;
	ret = ctuser_resolve_in(part[0], extra, part[1], part[2], &u, why, sizeof(why));
	if (ret == 0 && (u.n_groups < 1 || u.n_groups > CTUSER_MAX_GROUPS || u.groups[0] != u.gid ||
			 strlen(u.home) >= sizeof(u.home)))
		abort();
	if (ret != 0 && (ret != -ENOENT || why[0] == 0))
		abort();
	cJSON_Delete(extra);
	free(copy);
	return 0;
}
