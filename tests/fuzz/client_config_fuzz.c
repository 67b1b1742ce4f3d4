/* client_config_fuzz.c: the client's config and inventory (client/config.c) on any file
 * content: loaded, every host looked up by its name, freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/config.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_config *cfg = NULL;
	char err[512] = "";
	size_t i;

	if (client_config_load(fuzz_file(data, size), &cfg, err, sizeof(err)) != 0) {
		if (cfg != NULL || err[0] == 0)
			abort();
		return 0;
	}
	for (i = 0; i < cfg->n_hosts; i++) {
		const struct client_host *h = &cfg->hosts[i];
		if (h->name == NULL || h->host == NULL ||
		    client_config_find_host(cfg, h->name) != h)
			abort(); /* names are unique */
	}
	client_config_find_host(cfg, "");
	client_config_free(cfg);
	return 0;
}
