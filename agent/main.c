/* main.c: rexec-agent's entry point: configuration (file, then flags), TLS, listeners, and
 * the one event loop. Only start-up errors exit the agent. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/audit.h"
#include "agent/certwatch.h"
#include "agent/config.h"
#include "agent/ctcache.h"
#include "agent/dev.h"
#include "agent/initmem.h"
#include "agent/policy.h"
#include "agent/policyctl.h"
#include "agent/record.h"
#include "agent/sdnotify.h"
#include "agent/session.h"
#include "lib/yconf.h"
#include "proto/buf.h"
#include "proto/error.h"
#include "proto/log.h"
#include "proto/version.h"

#define STOP_FLUSH_MS 300 /* time given to last frames when stopping */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rexec-agent --listen ADDR:PORT --cert FILE --key FILE --ca FILE [options]\n"
		"       rexec-agent --config FILE [options]\n"
		"       rexec-agent --dev --state-dir DIR [--listen 127.0.0.1:PORT] [options]\n"
		"options:\n"
		"  --listen ADDR:PORT   listen here (repeatable; port 0 picks a free one)\n"
		"  --cert F --key F     the agent's certificate and key (PEM)\n"
		"  --ca F               the fleet CA: clients must present a certificate it "
		"signed\n"
		"  --config FILE        YAML file with the same settings (flags override it)\n"
		"  --dev                throwaway CA and certificates in --state-dir, loopback "
		"only,\n"
		"                       and STATE_DIR/client.conf for `rexec --config`\n"
		"  --state-dir DIR      where --dev keeps its CA, certificates and policy\n"
		"  --grace DURATION     how long a session outlives a vanished client (default "
		"5s)\n"
		"  --keepalive DURATION ping period; a peer silent 3 periods is dead (default 5s)\n"
		"  --engine URL         the container engine's API socket (default\n"
		"                       unix:///var/run/docker.sock; podman's works too)\n"
		"  --exec-path PATH     how an exec in a container starts: auto (the default; the\n"
		"                       engine, for now), engine, or direct (WARNING: the agent\n"
		"                       itself enters the container; not yet proven safe against\n"
		"                       a hostile container)\n"
		"  --audit-log FILE     append a JSON line per session start, end and refusal\n"
		"                       (SIGHUP reopens it, for log rotation)\n"
		"  --allow-dual-role-certs  accept client certificates that are also made for\n"
		"                       servers (serverAuth beside clientAuth)\n"
		"  --crl FILE           revoked client certificates: PEM CRLs, one per CA (SIGHUP\n"
		"                       re-reads it, the CA, certificate and key files)\n"
		"  --policy FILE        who may do what (required, unless --dev or --allow-all;\n"
		"                       SIGHUP reloads it)\n"
		"  --allow-all          no policy: every client may do anything (a warning)\n"
		"  --check-policy FILE  check a policy file and exit\n"
		"  --explain --policy FILE --who NAME [--group G]... VERB TARGET [TARGET...]\n"
		"           [--user U] [--default-user U] [--command \"ARGV...\"] [--option O]...\n"
		"                       how the policy decides one request\n"
		"  -v, --verbose        more log (repeat for debug)\n"
		"  --version            the version of the agent, its protocol and libraries\n"
		"  -h, --help           this text; the manual: man rexec-agent\n");
}

static void on_sigchld(uv_signal_t *h, int sig)
{
	struct agent *a = h->data;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (session_reaped(a, pid, status) || !(WIFEXITED(status) || WIFSIGNALED(status)))
			continue;
		a->unclaimed[a->n_unclaimed % 16].pid = pid;
		a->unclaimed[a->n_unclaimed % 16].status = status;
		a->n_unclaimed++;
	}
}

static void on_stop_timer(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* At exit: a handle still open is closed, so that the loop can be freed. */
static void close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Tells the service manager STATE (sdnotify.h); a failure is logged, never fatal. */
static void notify(struct agent *a, const char *state)
{
	int ret = strncmp(state, "RELOADING=", 10) == 0 ? sdnotify_reloading(&a->notify)
							: sdnotify_send(&a->notify, state);
	if (ret < 0)
		log_warn("cannot notify the service manager on %s of %s: %s", a->notify.path, state,
			 rexec_strerror(ret));
}

/* SIGTERM, SIGINT: the listeners close, sessions end, and the loop stops once the last
 * frames had STOP_FLUSH_MS to go. A second signal meanwhile changes nothing: the stop is
 * already bounded by that timer. */
static void on_sigterm(uv_signal_t *h, int sig)
{
	struct agent *a = h->data;

	if (a->stopping) {
		log_info("signal %d: already stopping", sig);
		return;
	}
	log_info("signal %d: stopping", sig);
	notify(a, "STOPPING=1");
	agent_stop(a);
	uv_timer_start(&a->stop_timer, on_stop_timer, STOP_FLUSH_MS, 0);
}

/* SIGHUP: the files the agent reads are read again: the audit log reopened (log rotation),
 * the policy, then the TLS files and the CRL (certwatch.h). What does not load leaves the
 * old settings in force. The service manager hears RELOADING=1 before and READY=1 after, so
 * that `systemctl reload` returns once it is done. */
static void on_sighup(uv_signal_t *h, int sig)
{
	struct agent *a = h->data;
	int ret;

	notify(a, "RELOADING=1");

	if (a->audit != NULL) {
		if ((ret = audit_reopen(a->audit)) < 0)
			log_warn("SIGHUP: cannot reopen the audit log: %s (still writing the old "
				 "file)",
				 rexec_strerror(ret));
		else
			log_info("SIGHUP: audit log reopened");
	}
	policyctl_reload(a);
	agent_reload_tls(a);
	notify(a, "READY=1");
}

/* Raises the soft limit on open files to the hard one, as a server that holds many sockets
 * should (systemd starts services with 1024 soft, 524288 hard): the limits' defaults
 * (config.h) assume a few thousand fds. Warns when even that leaves too few for L->connections
 * with a session each. */
static void raise_nofile(const struct agent_limits *l)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = was;
	}
	want = (rlim_t)l->connections * 4 + 64;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warn("open files limit %llu: below what limits.connections (%u) with a session "
			 "each needs (~%llu); raise it (LimitNOFILE=) or lower limits.connections",
			 (unsigned long long)rl.rlim_cur, l->connections, (unsigned long long)want);
	else
		log_info("open files limit: %llu", (unsigned long long)rl.rlim_cur);
}

static int replace(char **dst, const char *src)
{
	char *copy = strdup(src);
	if (copy == NULL)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

enum {
	OPT_LISTEN = 256,
	OPT_CERT,
	OPT_KEY,
	OPT_CA,
	OPT_CONFIG,
	OPT_DEV,
	OPT_STATE_DIR,
	OPT_GRACE,
	OPT_KEEPALIVE,
	OPT_ENGINE,
	OPT_EXEC_PATH,
	OPT_AUDIT_LOG,
	OPT_ALLOW_DUAL_ROLE,
	OPT_CRL,
	OPT_POLICY,
	OPT_ALLOW_ALL,
	OPT_VERSION,
	OPT_HELP
};

/* Flags over the config file. Returns 0, or an exit code for main. */
static int parse_args(int argc, char **argv, struct agent_config *cfg, int *verbose)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "dev", no_argument, NULL, OPT_DEV },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "keepalive", required_argument, NULL, OPT_KEEPALIVE },
		{ "engine", required_argument, NULL, OPT_ENGINE },
		{ "exec-path", required_argument, NULL, OPT_EXEC_PATH },
		{ "audit-log", required_argument, NULL, OPT_AUDIT_LOG },
		{ "allow-dual-role-certs", no_argument, NULL, OPT_ALLOW_DUAL_ROLE },
		{ "crl", required_argument, NULL, OPT_CRL },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "allow-all", no_argument, NULL, OPT_ALLOW_ALL },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	char **listen = NULL, err[512];
	size_t n_listen = 0;
	int c, ret = 0, i;

	/* The config file first, wherever --config stands, so that flags override it. */
	for (i = 1; i < argc; i++) {
		const char *path = NULL;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		if (path != NULL && agent_config_load(path, cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "rexec-agent: %s\n", err);
			return 2;
		}
	}
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		unsigned *ms;
		switch (c) {
		case OPT_LISTEN:
			if (agent_config_check_listen(optarg) < 0) {
				fprintf(stderr, "rexec-agent: --listen %s: want ADDR:PORT\n",
					optarg);
				ret = 2;
				goto out;
			}
			listen = realloc(listen, (n_listen + 1) * sizeof(*listen));
			if (listen == NULL || (listen[n_listen] = strdup(optarg)) == NULL) {
				ret = 1;
				goto out;
			}
			n_listen++;
			break;
		case OPT_CERT:
			ret = replace(&cfg->cert, optarg);
			break;
		case OPT_KEY:
			ret = replace(&cfg->key, optarg);
			break;
		case OPT_CA:
			ret = replace(&cfg->ca, optarg);
			break;
		case OPT_STATE_DIR:
			ret = replace(&cfg->state_dir, optarg);
			break;
		case OPT_CONFIG:
			break;
		case OPT_ENGINE:
			ret = replace(&cfg->engine, optarg);
			break;
		case OPT_AUDIT_LOG:
			ret = replace(&cfg->audit_log, optarg);
			break;
		case OPT_CRL:
			ret = replace(&cfg->crl, optarg);
			break;
		case OPT_EXEC_PATH:
			if (agent_config_exec_path_parse(optarg, &cfg->exec_path) < 0) {
				fprintf(stderr,
					"rexec-agent: --exec-path: auto, engine or direct, not "
					"%s\n",
					optarg);
				ret = 2;
				goto out;
			}
			break;
		case OPT_DEV:
			cfg->dev = true;
			break;
		case OPT_ALLOW_DUAL_ROLE:
			cfg->allow_dual_role_certs = true;
			break;
		case OPT_POLICY:
			ret = replace(&cfg->policy, optarg);
			break;
		case OPT_ALLOW_ALL:
			cfg->allow_all = true;
			break;
		case OPT_GRACE:
		case OPT_KEEPALIVE:
			ms = c == OPT_GRACE ? &cfg->grace_ms : &cfg->keepalive_ms;
			if (yconf_parse_duration(optarg, ms) < 0) {
				fprintf(stderr, "rexec-agent: bad duration: %s\n", optarg);
				ret = 2;
				goto out;
			}
			break;
		case 'v':
			(*verbose)++;
			break;
		case OPT_VERSION:
			version_print(stdout, "rexec-agent");
			ret = -1;
			goto out;
		case OPT_HELP:
		case 'h':
			usage(stdout);
			ret = -1;
			goto out;
		default:
			usage(stderr);
			ret = 2;
			goto out;
		}
		if (ret < 0) {
			ret = 1;
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rexec-agent: unexpected argument: %s\n", argv[optind]);
		ret = 2;
		goto out;
	}
	if (n_listen > 0) {
		yconf_strings_free(cfg->listen, cfg->n_listen);
		cfg->listen = listen;
		cfg->n_listen = n_listen;
		listen = NULL;
		n_listen = 0;
	}
out:
	yconf_strings_free(listen, n_listen);
	return ret;
}

/* Dev mode's defaults and limits; certificates made on first use. */
static int setup_dev(struct agent_config *cfg)
{
	char err[512];
	size_t i;

	if (cfg->state_dir == NULL) {
		fprintf(stderr, "rexec-agent: --dev needs --state-dir DIR\n");
		return 2;
	}
	if (cfg->n_listen == 0) {
		cfg->listen = calloc(1, sizeof(*cfg->listen));
		if (cfg->listen == NULL || (cfg->listen[0] = strdup("127.0.0.1:7600")) == NULL)
			return 1;
		cfg->n_listen = 1;
	}
	for (i = 0; i < cfg->n_listen; i++) {
		if (!dev_is_loopback(cfg->listen[i])) {
			fprintf(stderr, "rexec-agent: --dev listens on loopback only, not %s\n",
				cfg->listen[i]);
			return 2;
		}
	}
	free(cfg->ca);
	free(cfg->cert);
	free(cfg->key);
	if (dev_prepare(cfg->state_dir, &cfg->ca, &cfg->cert, &cfg->key, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec-agent: %s\n", err);
		return 1;
	}
	return 0;
}

/* Whether PATH is set and names nothing (ENOENT; other errors are reported where it is read). */
static bool absent(const char *path)
{
	return path != NULL && access(path, F_OK) < 0 && errno == ENOENT;
}

/* An installed agent whose certificates or policy do not exist yet (the packaged example
 * configuration names them before anyone made them) exits with EX_CONFIG, which the unit's
 * RestartPreventExitStatus= names: no restart loop (ssh.service does the same for sshd's fatal
 * start-up errors, exit 255), and one message of what to make and how. Returns 0 or EX_CONFIG. */
static int check_configured(const struct agent_config *cfg)
{
	const char *files[] = { cfg->cert, cfg->key, cfg->ca, cfg->policy };
	char msg[4096], host[256] = "", prefix[1024] = "/etc/rexec/agent";
	size_t i, n = 0, len;
	bool any = false;

	if (cfg->dev)
		return 0;
	buf_appendf(msg, sizeof(msg), &n,
		    "%srexec-agent: not configured yet: ", log_journal_prefix(LOG_LEVEL_ERROR));
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (!absent(files[i]))
			continue;
		buf_appendf(msg, sizeof(msg), &n, "%s%s", any ? ", " : "", files[i]);
		any = true;
	}
	if (!any)
		return 0;
	buf_appendf(msg, sizeof(msg), &n, ": No such file or directory.");
	if (absent(cfg->cert) || absent(cfg->key)) {
		if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == 0)
			snprintf(host, sizeof(host), "HOSTNAME");
		len = strlen(cfg->cert);
		if (len > 4 && strcmp(cfg->cert + len - 4, ".pem") == 0)
			snprintf(prefix, sizeof(prefix), "%.*s", (int)(len - 4), cfg->cert);
		buf_appendf(
			msg, sizeof(msg), &n,
			" Issue the agent's certificate with the fleet's CA (made once with `rexec "
			"ca "
			"init CADIR`): `rexec cert issue --ca CADIR --agent %s --san ADDRESS --out "
			"%s` writes %s.pem and %s-key.pem.",
			host, prefix, prefix, prefix);
	}
	if (absent(cfg->ca))
		buf_appendf(msg, sizeof(msg), &n, " Copy CADIR/ca.pem to %s.", cfg->ca);
	if (absent(cfg->policy))
		buf_appendf(msg, sizeof(msg), &n,
			    " Write the policy %s (rexec-agent-config(5)) and check it with "
			    "`rexec-agent --check-policy %s`.",
			    cfg->policy, cfg->policy);
	buf_appendf(msg, sizeof(msg), &n,
		    " Then start rexec-agent again (exit status 78, EX_CONFIG: not restarted until "
		    "then).");
	fprintf(stderr, "%s\n", msg);
	return EX_CONFIG;
}

/* Fds 0-2 open (on /dev/null when they came closed): else the first socket, pipe or epoll
 * fd would take their numbers, the log would be written into it, and a session's dup2()s
 * onto 0-2 would clobber it. */
static void ensure_stdio(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) < 0)
			exit(1);
}

int main(int argc, char **argv)
{
	struct agent_config cfg;
	struct agent a;
	uv_loop_t loop;
	char err[512], bound[80];
	int verbose = 0, ret;
	size_t i;

	ensure_stdio();
	if (policyctl_wanted(argc, argv))
		return policyctl_main(argc, argv);
	agent_config_init(&cfg);
	memset(&a, 0, sizeof(a));
	ret = parse_args(argc, argv, &cfg, &verbose);
	if (ret != 0)
		goto out;
	log_setup("rexec-agent", verbose >= 2   ? LOG_LEVEL_DEBUG
				 : verbose == 1 ? LOG_LEVEL_INFO
						: LOG_LEVEL_WARN);
	if (sdnotify_init(&a.notify) < 0)
		log_warn("NOTIFY_SOCKET is neither an absolute path nor @abstract: not notifying "
			 "the service manager");
	if (cfg.dev && (ret = setup_dev(&cfg)) != 0)
		goto out;
	if (cfg.cert == NULL || cfg.key == NULL || cfg.ca == NULL) {
		fprintf(stderr,
			"rexec-agent: refusing to listen without TLS material: give --cert, "
			"--key and --ca (or --config FILE), or try --dev --state-dir DIR\n");
		ret = 2;
		goto out;
	}
	if ((ret = check_configured(&cfg)) != 0)
		goto out;
	if (cfg.n_listen == 0) {
		fprintf(stderr, "rexec-agent: nothing to listen on: give --listen ADDR:PORT\n");
		ret = 2;
		goto out;
	}
	if (engine_init(&a.engine, cfg.engine) < 0) {
		fprintf(stderr, "rexec-agent: --engine: want unix:///PATH, not %s\n", cfg.engine);
		ret = 2;
		goto out;
	}
	/* Non-dumpable, as ssh-agent makes itself: no core file, and no ptrace or /proc/PID/mem
	 * short of CAP_SYS_PTRACE, shows the private key. A session's process starts as a copy of
	 * us or in our memory (spawn.c) and so is non-dumpable from its first instruction. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (tls_config_new(&a.tls, 1, cfg.ca, cfg.cert, cfg.key, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec-agent: TLS: %s\n", err);
		ret = 1;
		goto out;
	}
	tls_config_allow_dual_role(a.tls, cfg.allow_dual_role_certs);
	if ((ret = policyctl_setup(&a, &cfg)) != 0)
		goto out;
	if (cfg.audit_log != NULL && (ret = audit_new(&a.audit, cfg.audit_log)) < 0) {
		fprintf(stderr, "rexec-agent: audit log %s: %s\n", cfg.audit_log,
			rexec_strerror(ret));
		ret = 1;
		goto out;
	}

	signal(SIGPIPE, SIG_IGN);
	/* A file size limit must fail an audit write (EFBIG), not end the agent. */
	signal(SIGXFSZ, SIG_IGN);
	uv_loop_init(&loop);
	a.loop = &loop;
	/* Session recording: the directory is checked (and made) now, not at the first session. */
	if (cfg.record_dir != NULL && record_dir_new(&a.record, &loop, cfg.record_dir,
						     cfg.record_input, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec-agent: %s\n", err);
		ret = 1;
		goto out;
	}
	a.grace_ms = cfg.grace_ms;
	a.exec_path = (int)cfg.exec_path;
	if (cfg.exec_path == AGENT_EXEC_PATH_DIRECT)
		log_warn("exec path direct: the agent itself enters containers; this path is not "
			 "yet proven safe against a hostile container (auto takes the engine's)");
	a.keepalive_ms = cfg.keepalive_ms;
	a.limits = cfg.limits;
	raise_nofile(&a.limits);
	refusal_log_init(&a.refusals, &loop, a.audit);
	if ((ret = certwatch_new(&a.certwatch, &a, cfg.ca, cfg.cert, cfg.key, cfg.crl, err,
				 sizeof(err))) < 0) {
		fprintf(stderr, "rexec-agent: TLS: %s\n", err);
		ret = 1;
		goto out;
	}
	a.ctcache = ctcache_new(&loop, &a.engine);
	a.initmem = initmem_new();
	uv_timer_init(&loop, &a.stop_timer);
	uv_signal_init(&loop, &a.sigchld);
	uv_signal_init(&loop, &a.sigterm);
	uv_signal_init(&loop, &a.sigint);
	uv_signal_init(&loop, &a.sighup);
	a.sigchld.data = a.sigterm.data = a.sigint.data = a.sighup.data = &a;
	uv_signal_start(&a.sigchld, on_sigchld, SIGCHLD);
	uv_signal_start(&a.sigterm, on_sigterm, SIGTERM);
	uv_signal_start(&a.sigint, on_sigterm, SIGINT);
	uv_signal_start(&a.sighup, on_sighup, SIGHUP);

	for (i = 0; i < cfg.n_listen; i++) {
		if ((ret = agent_listen(&a, cfg.listen[i], bound, sizeof(bound))) < 0) {
			fprintf(stderr, "rexec-agent: listen on %s: %s\n", cfg.listen[i],
				rexec_strerror(ret));
			ret = 1;
			goto out;
		}
		if (cfg.dev && i == 0 &&
		    dev_write_client_config(cfg.state_dir, bound, err, sizeof(err)) < 0) {
			fprintf(stderr, "rexec-agent: %s\n", err);
			ret = 1;
			goto out;
		}
		printf("rexec-agent: listening on %s\n", bound);
	}
	if (cfg.dev)
		printf("rexec-agent: dev mode: try `rexec --config %s/client.conf dev --host`\n",
		       cfg.state_dir);
	fflush(stdout);
	/* Every listener listens: a client connecting now is accepted. */
	notify(&a, "READY=1");
	uv_run(&loop, UV_RUN_DEFAULT);
	ret = 0;
out:
	if (a.loop != NULL) {
		ctcache_close(a.ctcache);
		/* What a connection still open holds is freed by its own close callback; one that
		 * does not close in time keeps it (its handles must not be closed under it). */
		if (agent_close_conns(&a, STOP_FLUSH_MS) > 0) {
			log_warn("stopping: %zu connection(s) did not close in time", a.n_conns);
		} else {
			uv_walk(&loop, close_handle, NULL);
			uv_run(&loop, UV_RUN_DEFAULT);
			uv_loop_close(&loop);
		}
	}
	ctcache_free(a.ctcache);
	certwatch_free(a.certwatch);
	initmem_free(a.initmem);
	audit_free(a.audit);
	policy_unref(a.policy);
	record_dir_free(a.record);
	tls_config_free(a.tls);
	agent_config_free(&cfg);
	return ret < 0 ? 0 : ret;
}
