/* agent_config_fuzz.c: rexec-agent's YAML config (agent/config.c) on any file content, loaded
 * over the defaults as the agent does at start-up, then checked and freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config cfg;
	char err[512] = "";
	size_t i;

	agent_config_init(&cfg);
	if (agent_config_load(fuzz_file(data, size), &cfg, err, sizeof(err)) == 0) {
		for (i = 0; i < cfg.n_listen; i++)
			if (cfg.listen[i] == NULL || agent_config_check_listen(cfg.listen[i]) != 0)
				abort(); /* the loader checks every address */
		if (agent_config_exec_path_name(cfg.exec_path) == NULL)
			abort();
	} else if (err[0] == 0) {
		abort();
	}
	agent_config_free(&cfg);
	return 0;
}
