/* ctrun.c: `run`, a one-off container from a compose service's definition, as
 * `docker compose run` makes it (see container.h): the template's config cloned, the verb's
 * options applied, the services it depends on started, then created, connected and started
 * (attached unless -d). Part of container.c's module (ct_int.h), on the thread pool. */
#include "agent/ct_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/policy.h"
#include "lib/yconf.h"
#include "proto/log.h"

/* Appends "K=V" VALUE to array A, replacing an entry with the same K. */
static void env_set(cJSON *a, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	int i, n = cJSON_GetArraySize(a);

	for (i = 0; i < n; i++) {
		const cJSON *it = cJSON_GetArrayItem(a, i);
		if (cJSON_IsString(it) && strncmp(it->valuestring, kv, klen) == 0 &&
		    (it->valuestring[klen] == '=' || it->valuestring[klen] == 0)) {
			cJSON_ReplaceItemInArray(a, i, cJSON_CreateString(kv));
			return;
		}
	}
	cJSON_AddItemToArray(a, cJSON_CreateString(kv));
}

/* Calls FN for each line of the newline-separated option KEY. */
static void each_line(const struct ct_req *q, const char *key, void (*fn)(cJSON *, const char *),
		      cJSON *into)
{
	const char *v = ct__opt(q, key), *nl;
	char line[1024];

	while (v != NULL && *v) {
		nl = strchr(v, '\n');
		snprintf(line, sizeof(line), "%.*s", (int)(nl ? (size_t)(nl - v) : strlen(v)), v);
		if (line[0])
			fn(into, line);
		v = nl ? nl + 1 : NULL;
	}
}

static void label_set(cJSON *labels, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	char key[512];

	snprintf(key, sizeof(key), "%.*s", (int)klen, kv);
	cJSON_DeleteItemFromObjectCaseSensitive(labels, key);
	cJSON_AddStringToObject(labels, key, kv[klen] ? kv + klen + 1 : "");
}

static void bind_add(cJSON *binds, const char *v)
{
	cJSON_AddItemToArray(binds, cJSON_CreateString(v));
}

/* "[IP:]HOST:CONTAINER[/PROTO]" or "CONTAINER" into PortBindings and ExposedPorts. */
static void port_add(cJSON *hostcfg, const char *spec)
{
	cJSON *pb = cJSON_GetObjectItemCaseSensitive(hostcfg, "PortBindings"), *list, *b;
	char buf[256], *parts[3], *p, key[64];
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (p = strtok(buf, ":"); p && n < 3; p = strtok(NULL, ":"))
		parts[n++] = p;
	if (n == 0)
		return;
	snprintf(key, sizeof(key), "%s%s", parts[n - 1], strchr(parts[n - 1], '/') ? "" : "/tcp");
	if ((list = cJSON_GetObjectItemCaseSensitive(pb, key)) == NULL)
		cJSON_AddItemToObject(pb, key, list = cJSON_CreateArray());
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "HostIp", n == 3 ? parts[0] : "");
	cJSON_AddStringToObject(b, "HostPort", n >= 2 ? parts[n - 2] : "");
	cJSON_AddItemToArray(list, b);
}

/* A one-off name as compose v2 makes it: PROJECT-SERVICE-run-<12 hex>. */
static void oneoff_name(const struct ct_req *q, const char *project, char *out, size_t len)
{
	unsigned char rnd[6];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd)) {
		unsigned long t = (unsigned long)time(NULL) ^ (unsigned long)getpid();
		memcpy(rnd, &t, sizeof(rnd));
	}
	if (fd >= 0)
		close(fd);
	snprintf(out, len, "%s-%s-run-%02x%02x%02x%02x%02x%02x", project, q->service, rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
}

/* The services SERVICE depends on, from the project's compose files (the agent runs on the
 * host the project was brought up from, so the files the labels name are readable). */
static void depends_on(const cJSON *tmpl, const char *service, char deps[][128], int *n, int max)
{
	char files[2048], *f, *save = NULL;
	const char *dir = engine_label(tmpl, LABEL_WORKDIR);

	*n = 0;
	snprintf(files, sizeof(files), "%s", engine_label(tmpl, LABEL_FILES));
	for (f = strtok_r(files, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		char path[4096], err[256];
		struct yconf *y = NULL;
		const struct yconf_node *svc, *dep;
		size_t i;

		if (f[0] == '/')
			snprintf(path, sizeof(path), "%s", f);
		else
			snprintf(path, sizeof(path), "%s/%s", dir, f);
		if (yconf_load_file_aliases(path, &y, err, sizeof(err)) < 0) {
			log_warn("run %s: cannot read %s for depends_on: %s", service, path, err);
			continue;
		}
		svc = yconf_lookup(yconf_lookup(yconf_root(y), "services"), service);
		dep = yconf_lookup(svc, "depends_on");
		for (i = 0; dep != NULL && i < yconf_len(dep) && *n < max; i++) {
			const struct yconf_node *d = yconf_kind(dep) == YCONF_SEQ
							     ? yconf_item(dep, i)
							     : yconf_key(dep, i);
			if (yconf_scalar(d))
				snprintf(deps[(*n)++], 128, "%s", yconf_scalar(d));
		}
		yconf_free(y);
	}
}

/* Starts the stopped containers of the services the one-off depends on. */
static int start_deps(struct ct *ct, struct ct_started *st, const cJSON *tmpl)
{
	char deps[16][128];
	const char *project = engine_label(tmpl, LABEL_PROJECT);
	int n, i;

	depends_on(tmpl, ct->req.service, deps, &n, 16);
	for (i = 0; i < n; i++) {
		struct engine_reply r;
		const cJSON *c;
		int found = 0;

		if (ct__list_compose(ct, st, deps[i], &r) < 0)
			return -1;
		cJSON_ArrayForEach(c, r.json)
		{
			char path[256];
			struct engine_reply r2;
			if (strcmp(ct__list_label(c, LABEL_PROJECT), project) != 0 ||
			    strcmp(ct__list_label(c, LABEL_ONEOFF), "True") == 0)
				continue;
			found = 1;
			if (strcmp(engine_str(c, "State"), "running") == 0)
				continue;
			log_info("run %s: starting %s (depends_on)", ct->req.service,
				 ct__first_name(c));
			snprintf(path, sizeof(path), "/containers/%s/start", engine_str(c, "Id"));
			if (ct__call(ct, st, "POST", path, NULL, &r2) < 0) {
				engine_reply_free(&r);
				return -1;
			}
			engine_reply_free(&r2);
		}
		engine_reply_free(&r);
		if (!found)
			log_warn("run %s: dependency %s has no container here; not started",
				 ct->req.service, deps[i]);
	}
	return 0;
}

/* HOST's Ulimits by the names a create takes ("nofile"): podman's inspect names them as its
 * spec does ("RLIMIT_NOFILE") but its create, as dockerd's, refuses those ("invalid ulimit
 * type"); dockerd's inspect already says "nofile". Other names are left to the engine. */
static void ulimit_names(cJSON *host)
{
	cJSON *u, *name;
	char low[32];
	size_t i, n;

	cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(host, "Ulimits"))
	{
		name = cJSON_GetObjectItemCaseSensitive(u, "Name");
		if (!cJSON_IsString(name) || strncmp(name->valuestring, "RLIMIT_", 7) != 0 ||
		    (n = strlen(name->valuestring + 7)) == 0 || n >= sizeof(low))
			continue;
		for (i = 0; i <= n; i++)
			low[i] = (char)tolower((unsigned char)name->valuestring[7 + i]);
		cJSON_ReplaceItemInObjectCaseSensitive(u, "Name", cJSON_CreateString(low));
	}
}

/* A start failure is the command's: compose run reports it so (127: not found, 126: could
 * not run), as the docker CLI tells them apart by the runtime's words. */
static void start_failed(struct ct_started *st)
{
	if (strstr(st->message, "not found") || strstr(st->message, "no such file"))
		st->error = REXEC__V1__ERROR_CODE__ERROR_NO_COMMAND;
	else
		st->error = REXEC__V1__ERROR_CODE__ERROR_START_FAILED;
}

/* The create body for the one-off: the template container's definition, overridden. */
static cJSON *run_body(struct ct *ct, const cJSON *tmpl, const char *project)
{
	const struct ct_req *q = &ct->req;
	const cJSON *tcfg = cJSON_GetObjectItemCaseSensitive(tmpl, "Config");
	const cJSON *thost = cJSON_GetObjectItemCaseSensitive(tmpl, "HostConfig");
	const cJSON *nets = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(tmpl, "NetworkSettings"), "Networks");
	cJSON *body = cJSON_CreateObject(), *env, *labels, *host, *netcfg, *eps, *binds;
	const char *entry = ct__opt(q, "entrypoint");
	const cJSON *net;
	size_t i;

	cJSON_AddStringToObject(body, "Image", engine_str(tcfg, "Image"));
	env = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(tcfg, "Env"), 1);
	if (!cJSON_IsArray(env)) {
		cJSON_Delete(env);
		env = cJSON_CreateArray();
	}
	for (i = 0; i < q->n_env; i++)
		env_set(env, q->env[i]);
	cJSON_AddItemToObject(body, "Env", env);
	cJSON_AddStringToObject(body, "WorkingDir",
				q->workdir[0] ? q->workdir : engine_str(tcfg, "WorkingDir"));
	cJSON_AddStringToObject(body, "User", q->user[0] ? q->user : engine_str(tcfg, "User"));
	if (entry != NULL) {
		/* compose splits --entrypoint like a shell word list; words by spaces here. */
		cJSON *a = cJSON_CreateArray();
		char buf[1024], *w, *save = NULL;
		snprintf(buf, sizeof(buf), "%s", entry);
		for (w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
			cJSON_AddItemToArray(a, cJSON_CreateString(w));
		cJSON_AddItemToObject(body, "Entrypoint", a);
	} else if (cJSON_GetObjectItemCaseSensitive(tcfg, "Entrypoint")) {
		cJSON_AddItemToObject(
			body, "Entrypoint",
			cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(tcfg, "Entrypoint"), 1));
	}
	if (q->n_argv > 0)
		cJSON_AddItemToObject(body, "Cmd", ct__str_array(q->argv, q->n_argv));
	else if (entry == NULL && cJSON_GetObjectItemCaseSensitive(tcfg, "Cmd"))
		cJSON_AddItemToObject(
			body, "Cmd",
			cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(tcfg, "Cmd"), 1));
	cJSON_AddBoolToObject(body, "Tty", q->tty);
	cJSON_AddBoolToObject(body, "OpenStdin", q->stdin_open);
	cJSON_AddBoolToObject(body, "StdinOnce", q->stdin_open);
	cJSON_AddBoolToObject(body, "AttachStdin", q->stdin_open);
	cJSON_AddBoolToObject(body, "AttachStdout", 1);
	cJSON_AddBoolToObject(body, "AttachStderr", 1);
	if (cJSON_GetObjectItemCaseSensitive(tcfg, "ExposedPorts"))
		cJSON_AddItemToObject(
			body, "ExposedPorts",
			cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(tcfg, "ExposedPorts"), 1));
	/* Labels: the service's, minus its replica number, plus oneoff and -l. */
	labels = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(tcfg, "Labels"), 1);
	if (!cJSON_IsObject(labels)) {
		cJSON_Delete(labels);
		labels = cJSON_CreateObject();
	}
	cJSON_DeleteItemFromObjectCaseSensitive(labels, LABEL_NUMBER);
	label_set(labels, LABEL_ONEOFF "=True");
	label_set(labels, LABEL_PROJECT "=");
	cJSON_ReplaceItemInObjectCaseSensitive(labels, LABEL_PROJECT, cJSON_CreateString(project));
	cJSON_DeleteItemFromObjectCaseSensitive(labels, LABEL_SERVICE);
	cJSON_AddStringToObject(labels, LABEL_SERVICE, q->service);
	each_line(q, "label", label_set, labels);
	cJSON_AddItemToObject(body, "Labels", labels);
	/* HostConfig: the service's (mounts, network mode, capabilities...), but no published
	 * ports unless asked, no restart policy, never auto-removed (the exit code is read
	 * first). */
	host = cJSON_Duplicate(thost, 1);
	if (!cJSON_IsObject(host)) {
		cJSON_Delete(host);
		host = cJSON_CreateObject();
	}
	if (!ct__opt_on(q, "service-ports")) {
		cJSON_DeleteItemFromObjectCaseSensitive(host, "PortBindings");
		cJSON_AddItemToObject(host, "PortBindings", cJSON_CreateObject());
	} else if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(host, "PortBindings"))) {
		cJSON_DeleteItemFromObjectCaseSensitive(host, "PortBindings");
		cJSON_AddItemToObject(host, "PortBindings", cJSON_CreateObject());
	}
	each_line(q, "publish", port_add, host);
	cJSON_DeleteItemFromObjectCaseSensitive(host, "RestartPolicy");
	cJSON_AddItemToObject(host, "RestartPolicy", cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(host, "RestartPolicy"), "Name",
				"no");
	cJSON_DeleteItemFromObjectCaseSensitive(host, "AutoRemove");
	ulimit_names(host);
	binds = cJSON_GetObjectItemCaseSensitive(host, "Binds");
	if (!cJSON_IsArray(binds)) {
		cJSON_DeleteItemFromObjectCaseSensitive(host, "Binds");
		cJSON_AddItemToObject(host, "Binds", binds = cJSON_CreateArray());
	}
	each_line(q, "volume", bind_add, binds);
	cJSON_AddItemToObject(body, "HostConfig", host);
	/* Networks: the ones the service's container is on; its alias only with
	 * --use-aliases. The first goes in the create; the engine takes one there. */
	netcfg = cJSON_AddObjectToObject(body, "NetworkingConfig");
	eps = cJSON_AddObjectToObject(netcfg, "EndpointsConfig");
	cJSON_ArrayForEach(net, nets)
	{
		cJSON *ep = cJSON_AddObjectToObject(eps, net->string);
		if (ct__opt_on(q, "use-aliases")) {
			cJSON *al = cJSON_AddArrayToObject(ep, "Aliases");
			cJSON_AddItemToArray(al, cJSON_CreateString(q->service));
		}
		break;
	}
	return body;
}

/* Connects the one-off to the service's other networks. */
static int connect_networks(struct ct *ct, struct ct_started *st, const cJSON *tmpl)
{
	const cJSON *nets = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(tmpl, "NetworkSettings"), "Networks");
	const cJSON *net;
	int first = 1;

	cJSON_ArrayForEach(net, nets)
	{
		cJSON *body;
		struct engine_reply r;
		char esc[512], path[600];
		int ret;

		if (first) {
			first = 0;
			continue;
		}
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "Container", ct->cid);
		if (ct__opt_on(&ct->req, "use-aliases")) {
			cJSON *al = cJSON_AddArrayToObject(
				cJSON_AddObjectToObject(body, "EndpointConfig"), "Aliases");
			cJSON_AddItemToArray(al, cJSON_CreateString(ct->req.service));
		}
		snprintf(path, sizeof(path), "/networks/%s/connect",
			 engine_query_escape(net->string, esc, sizeof(esc)));
		ret = ct__call(ct, st, "POST", path, body, &r);
		cJSON_Delete(body);
		engine_reply_free(&r);
		if (ret < 0)
			return -1;
	}
	return 0;
}

void ct__remove_container(struct ct *ct)
{
	struct engine_reply r;
	char path[256];

	snprintf(path, sizeof(path), "/containers/%s?v=1&force=1", ct->cid);
	if (engine_call(&ct->engine, "DELETE", path, NULL, &r) < 0 || r.status / 100 != 2)
		log_warn("cannot remove %s: %s", ct->cname, r.err);
	engine_reply_free(&r);
}

/* POST /containers/create; a missing image is pulled once (quietly with --quiet-pull). */
static int create(struct ct *ct, struct ct_started *st, const cJSON *body, const char *image)
{
	struct engine_reply r;
	char esc[1024], path[1200];
	int pulled = 0;

	for (;;) {
		snprintf(path, sizeof(path), "/containers/create?name=%s",
			 engine_query_escape(ct->cname, esc, sizeof(esc)));
		if (ct__call(ct, st, "POST", path, body, &r) == 0)
			break;
		engine_reply_free(&r);
		if (st->error != REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND || pulled)
			return -1;
		/* 404 on create: the image is missing. */
		if (!ct__opt_on(&ct->req, "quiet-pull"))
			log_info("run %s: pulling %s", ct->req.service, image);
		snprintf(path, sizeof(path), "/images/create?fromImage=%s",
			 engine_query_escape(image, esc, sizeof(esc)));
		if (ct__call(ct, st, "POST", path, NULL, &r) < 0) {
			ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND,
				 "image %s is missing here and could not be pulled: %s", image,
				 st->message);
			return -1;
		}
		engine_reply_free(&r);
		pulled = 1;
		st->error = 0;
	}
	snprintf(ct->cid, sizeof(ct->cid), "%s", engine_str(r.json, "Id"));
	engine_reply_free(&r);
	return 0;
}

/* The first -l label of Q in the compose namespace, or NULL: those labels are the agent's to
 * set (a forged replica number would draw others' execs into the one-off, a forged config_files
 * would have the agent open any file as root). Its key goes to KEY (LEN bytes). */
static const char *compose_label(const struct ct_req *q, char *key, size_t len)
{
	const char *v = ct__opt(q, "label");

	while (v != NULL && *v) {
		size_t n = strcspn(v, "=\n");
		if (strncasecmp(v, LABEL_NS, sizeof(LABEL_NS) - 1) == 0) {
			snprintf(key, len, "%.*s", (int)n, v);
			return key;
		}
		v = strchr(v, '\n');
		v = v ? v + 1 : NULL;
	}
	return NULL;
}

/* The argv the one-off will run, entrypoint included (--entrypoint split as run_body() splits
 * it, else the service's), joined for the policy: "" when neither a command nor --entrypoint
 * was given (the image's command, as an exec's login shell). NULL when out of memory. */
static char *run_command(const struct ct_req *q, const cJSON *tcfg)
{
	const char *entry = ct__opt(q, "entrypoint");
	const cJSON *tep = cJSON_GetObjectItemCaseSensitive(tcfg, "Entrypoint"), *it;
	char buf[1024], *w, *save = NULL, *joined;
	const char **words;
	size_t n = 0, i;

	if (q->n_argv == 0 && entry == NULL)
		return strdup("");
	words = calloc(q->n_argv + (size_t)cJSON_GetArraySize(tep) + sizeof(buf) / 2 + 1,
		       sizeof(*words));
	if (words == NULL)
		return NULL;
	if (entry != NULL) {
		snprintf(buf, sizeof(buf), "%s", entry);
		for (w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
			words[n++] = w;
	} else {
		cJSON_ArrayForEach(it, tep)
		{
			if (cJSON_IsString(it))
				words[n++] = it->valuestring;
		}
	}
	for (i = 0; i < q->n_argv; i++)
		words[n++] = q->argv[i];
	joined = policy_join(words, n);
	free(words);
	return joined;
}

/* The policy on the one-off, before anything starts (its dependencies included): the service,
 * the user as given or the service's Config.User taken literally (the container does not exist
 * yet, so no passwd resolves a name), and the argv that will run. 0, or -1 with ST's error. */
static int run_allowed(struct ct *ct, struct ct_started *st, const cJSON *tmpl)
{
	const struct ct_req *q = &ct->req;
	const cJSON *tcfg = cJSON_GetObjectItemCaseSensitive(tmpl, "Config");
	struct policy_user pu;
	char ubuf[256], *cmd;
	int ret;

	ct__policy_targets(ct, tmpl, 0);
	ct->tgt_container[0] = 0; /* the template's name is not the one-off's */
	policy_user_literal(q->user[0] ? q->user : engine_str(tcfg, "User"), q->user[0] != 0, &pu,
			    ubuf, sizeof(ubuf));
	if ((cmd = run_command(q, tcfg)) == NULL) {
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
		return -1;
	}
	ret = ct__policy_check(ct, st, &pu, cmd);
	free(cmd);
	return ret;
}

void ct__start_run(struct ct *ct, struct ct_started *st)
{
	const struct ct_req *q = &ct->req;
	struct engine_reply tr, r;
	cJSON *body = NULL;
	char project[256], path[512], key[128];
	const char *name = ct__opt(q, "name");
	int detach = ct__opt_on(q, "detach");

	if (compose_label(q, key, sizeof(key)) != NULL) {
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_DENIED,
			 "run: label %s: the " LABEL_NS "* labels are set by rexec, not by -l",
			 key);
		return;
	}
	/* The service's definition, from one of its containers on this host. */
	if (ct__pick_service(ct, st, 1) < 0)
		return;
	if (ct__inspect(ct, st, ct->cid, &tr) < 0)
		return;
	if (run_allowed(ct, st, tr.json) < 0)
		goto out;
	snprintf(project, sizeof(project), "%s", engine_label(tr.json, LABEL_PROJECT));
	if (!ct__opt_on(q, "no-deps") && start_deps(ct, st, tr.json) < 0)
		goto out;
	if (name != NULL && name[0])
		snprintf(ct->cname, sizeof(ct->cname), "%s", name);
	else
		oneoff_name(q, project, ct->cname, sizeof(ct->cname));
	body = run_body(ct, tr.json, project);
	if (create(ct, st, body,
		   engine_str(cJSON_GetObjectItemCaseSensitive(tr.json, "Config"), "Image")) < 0)
		goto out;
	ct->rm = ct__opt_on(q, "rm");
	ct->tty = q->tty;
	snprintf(ct->what, sizeof(ct->what), "run %s", ct->cname);
	if (connect_networks(ct, st, tr.json) < 0)
		goto fail_remove;
	if (!detach) {
		/* Attach first, as the docker CLI does: no output is lost at the start. */
		snprintf(path, sizeof(path),
			 "/containers/%s/attach?stream=1&stdin=%d&stdout=1&stderr=1", ct->cid,
			 q->stdin_open);
		if (ct__hijack(ct, st, path, NULL, &st->text) < 0) {
			/* podman makes the container's process when it attaches ("preparing
			 * container ID for attach: runc create failed: ..."): a command that
			 * cannot start fails here, as it fails the start with dockerd. */
			if (strstr(st->message, " for attach: ") != NULL)
				start_failed(st);
			goto fail_remove;
		}
		st->tty = q->tty;
		/* The first size, before the process runs: podman 4.3 ignores ConsoleSize, and
		 * takes a resize once the attach has made the container (409 before); dockerd
		 * refuses a resize before the start and takes the one after it, below. */
		if (q->tty)
			ct__resize_now(ct, q->rows, q->cols);
	}
	snprintf(path, sizeof(path), "/containers/%s/start", ct->cid);
	if (ct__call(ct, st, "POST", path, NULL, &r) < 0) {
		if (st->fd >= 0) {
			close(st->fd);
			st->fd = -1;
		}
		start_failed(st);
		goto fail_remove;
	}
	engine_reply_free(&r);
	if (detach) {
		buf_append(&st->text, ct->cname, strlen(ct->cname));
		buf_append(&st->text, "\n", 1);
		goto out;
	}
	if (q->tty)
		ct__resize_now(ct, q->rows, q->cols);
	if (ct__inspect(ct, st, ct->cid, &r) == 0) {
		ct->pid = (pid_t)engine_num(cJSON_GetObjectItemCaseSensitive(r.json, "State"),
					    "Pid", 0);
		engine_reply_free(&r);
	}
	st->error = 0;
	goto out;
fail_remove:
	ct__remove_container(ct);
out:
	cJSON_Delete(body);
	engine_reply_free(&tr);
}
