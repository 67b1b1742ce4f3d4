/* version.c: software, protocol and library versions, for Hello and --version. */
#include "proto/version.h"

#include <cJSON.h>
#include <http_parser.h>
#include <libssh/libssh.h>
#include <mbedtls/version.h>
#include <protobuf-c/protobuf-c.h>
#include <uv.h>
#include <yaml.h>

#include "rexec_build.h"

const char *version_string(void)
{
	return REXEC_VERSION;
}

void version_print(FILE *out, const char *prog)
{
	char tls[18] = "";
	unsigned long hp = http_parser_version();

	mbedtls_version_get_string(tls);
	fprintf(out, "%s %s\n", prog, REXEC_VERSION);
#ifdef REXEC_SANITIZE
	/* -Dsanitize: Debian's clang, glibc, dynamically linked; REXEC_TARGET is the Zig one. */
	fprintf(out, "build: x86_64-linux-gnu, clang -fsanitize=%s, dynamic\n", REXEC_SANITIZE);
#else
	fprintf(out, "build: %s, %s, static\n", REXEC_TARGET, REXEC_OPTIMIZE);
#endif
	fprintf(out, "protocol: %d.%d (ALPN rexec/%d)\n", REXEC_PROTO_MAJOR, REXEC_PROTO_MINOR,
		REXEC_PROTO_MAJOR);
	fprintf(out,
		"libraries: libuv %s, mbedTLS %s, protobuf-c %s, libssh %s, cJSON %s, "
		"http-parser %lu.%lu.%lu, libyaml %s\n",
		uv_version_string(), tls, protobuf_c_version(), ssh_version(0), cJSON_Version(),
		(hp >> 16) & 255, (hp >> 8) & 255, hp & 255, yaml_get_version_string());
}
