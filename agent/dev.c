/* dev.c: the state directory of a dev agent: certificates from lib/pki and a client config. */
#include "agent/dev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "lib/pki.h"
#include "proto/addr.h"
#include "proto/error.h"

static char *join(const char *dir, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

static int exists(const char *dir, const char *name)
{
	char *p = join(dir, name);
	int ok = p != NULL && access(p, F_OK) == 0;
	free(p);
	return ok;
}

int dev_prepare(const char *dir, char **ca, char **cert, char **key, char *err, size_t errlen)
{
	static const char *const agent_sans[] = { "localhost", "127.0.0.1", "::1" };
	struct pki_req req;
	char *prefix = NULL;
	int ret = 0;

	*ca = *cert = *key = NULL;
	if (!exists(dir, "ca.pem") && (ret = pki_ca_init(dir, "rexec dev CA", 30, err, errlen)) < 0)
		return ret;
	memset(&req, 0, sizeof(req));
	req.days = 30;
	if (!exists(dir, "agent.pem")) {
		req.kind = PKI_AGENT;
		req.name = "dev";
		req.sans = agent_sans;
		req.n_sans = sizeof(agent_sans) / sizeof(agent_sans[0]);
		if ((prefix = join(dir, "agent")) == NULL)
			return -ENOMEM;
		ret = pki_issue(dir, &req, prefix, err, errlen);
		free(prefix);
		if (ret < 0)
			return ret;
	}
	if (!exists(dir, "client.pem")) {
		const char *user = getenv("USER");
		req.kind = PKI_CLIENT;
		req.name = user && user[0] ? user : "dev";
		req.sans = NULL;
		req.n_sans = 0;
		if ((prefix = join(dir, "client")) == NULL)
			return -ENOMEM;
		ret = pki_issue(dir, &req, prefix, err, errlen);
		free(prefix);
		if (ret < 0)
			return ret;
	}
	*ca = join(dir, "ca.pem");
	*cert = join(dir, "agent.pem");
	*key = join(dir, "agent-key.pem");
	if (*ca == NULL || *cert == NULL || *key == NULL) {
		free(*ca);
		free(*cert);
		free(*key);
		*ca = *cert = *key = NULL;
		return -ENOMEM;
	}
	return 0;
}

int dev_write_client_config(const char *dir, const char *bound, char *err, size_t errlen)
{
	char *path = join(dir, "client.conf"), *tmp = join(dir, ".client.conf.tmp");
	FILE *f = NULL;
	int ret = 0;

	if (path == NULL || tmp == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	f = fopen(tmp, "w");
	if (f == NULL) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fprintf(f,
		"# Written by rexec-agent --dev: use it with\n"
		"#   rexec --config %s dev --host -- CMD\n"
		"ca: ca.pem\n"
		"cert: client.pem\n"
		"key: client-key.pem\n"
		"hosts:\n"
		"  dev: { address: \"%s\", server_name: dev }\n",
		path, bound);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	}
	f = NULL;
out:
	free(path);
	free(tmp);
	return ret;
}

int dev_is_loopback(const char *addr)
{
	struct sockaddr_storage ss;

	if (addr_parse_ip(addr, ADDR_DEFAULT_PORT, &ss) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		static const unsigned char lo[16] = { [15] = 1 };
		return memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, lo, 16) == 0;
	}
	return 0;
}

/* The CN of the certificate at PATH into CN (LEN bytes), as the agent will see it. */
static int cert_cn(const char *path, char *cn, size_t len, char *err, size_t errlen)
{
	mbedtls_x509_crt crt;
	const mbedtls_x509_name *n;
	int ret = 0;

	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_file(&crt, path) != 0) {
		snprintf(err, errlen, "%s: not a certificate", path);
		ret = REXEC_ECONFIG;
		goto out;
	}
	for (n = &crt.subject; n != NULL; n = n->next)
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
			break;
	if (n == NULL || n->val.len == 0 || n->val.len >= len ||
	    memchr(n->val.p, 0, n->val.len) != NULL) {
		snprintf(err, errlen, "%s: no usable CN", path);
		ret = REXEC_ECONFIG;
		goto out;
	}
	memcpy(cn, n->val.p, n->val.len);
	cn[n->val.len] = 0;
out:
	mbedtls_x509_crt_free(&crt);
	return ret;
}

int dev_write_policy(const char *dir, char **path, char *err, size_t errlen)
{
	char cn[256], quoted[2 * sizeof(cn) + 3], *text = NULL, *client = NULL;
	size_t i, q = 0;
	int ret;

	*path = join(dir, "policy.yaml");
	client = join(dir, "client.pem");
	if (*path == NULL || client == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	if (access(*path, F_OK) == 0) {
		ret = 0;
		goto out;
	}
	if ((ret = cert_cn(client, cn, sizeof(cn), err, errlen)) < 0)
		goto out;
	/* A YAML double-quoted string: the CN comes from $USER. */
	quoted[q++] = '"';
	for (i = 0; cn[i]; i++) {
		if (cn[i] == '"' || cn[i] == '\\')
			quoted[q++] = '\\';
		quoted[q++] = (unsigned char)cn[i] >= 0x20 && cn[i] != 0x7f ? cn[i] : '?';
	}
	quoted[q++] = '"';
	quoted[q] = 0;
	if (asprintf(&text,
		     "# Written by rexec-agent --dev: its own client may do anything here.\n"
		     "# Edit it to try rules out; `rexec-agent --explain` tests them.\n"
		     "rules:\n"
		     "  - allow:\n"
		     "      who: [%s]\n"
		     "      options: [privileged, volume, publish, entrypoint, env, workdir]\n",
		     quoted) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	ret = pki_write_file(*path, text, strlen(text), 0600, 1, err, errlen);
out:
	if (ret < 0) {
		free(*path);
		*path = NULL;
		if (ret == -ENOMEM)
			snprintf(err, errlen, "out of memory");
	}
	free(text);
	free(client);
	return ret;
}
