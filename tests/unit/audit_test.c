/* uses: agent/audit.c */
/* audit_test.c: the audit log's records as the agent writes them: a host session's start and
 * end, a container target, a refusal, argv bytes that are not UTF-8, no audit log at all, the
 * file mode, lost records under a file size limit (the cut-short record cut off again, the
 * next one carrying "lost"), and a reopen under the same name (log rotation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/audit.h"

struct tmp {
	char dir[64];
	char path[PATH_MAX];
	char old[PATH_MAX];
	struct audit *au;
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	strcpy(t->dir, "/tmp/rexec-audit-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/audit.jsonl", t->dir);
	snprintf(t->old, sizeof(t->old), "%s/audit.jsonl.1", t->dir);
	assert_int_equal(audit_new(&t->au, t->path), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmp *t = *state;

	audit_free(t->au);
	unlink(t->path);
	unlink(t->old);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* The file's lines, each parsed (the test fails on a line that is not one JSON object). */
static size_t read_records(const char *path, cJSON **recs, size_t max)
{
	char line[8192];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_true(n < max);
		assert_int_equal(line[strlen(line) - 1], '\n');
		recs[n] = cJSON_Parse(line);
		if (recs[n] == NULL || !cJSON_IsObject(recs[n]))
			fail_msg("not a JSON object: %s", line);
		n++;
	}
	fclose(f);
	return n;
}

static void free_records(cJSON **recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
}

static const char *str(const cJSON *rec, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(rec, name);

	if (!cJSON_IsString(item))
		fail_msg("%s is not a string", name);
	return item->valuestring;
}

static double num(const cJSON *rec, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(rec, name);

	if (!cJSON_IsNumber(item))
		fail_msg("%s is not a number", name);
	return item->valuedouble;
}

/* The names of REC's fields in order, space-separated. */
static const char *keys(const cJSON *rec)
{
	static char buf[512];
	const cJSON *f;

	buf[0] = 0;
	cJSON_ArrayForEach(f, rec)
	{
		if (buf[0])
			strcat(buf, " ");
		strcat(buf, f->string);
	}
	return buf;
}

/* ITEM printed without whitespace is WANT. */
static void assert_json(const cJSON *item, const char *want)
{
	char *got = cJSON_PrintUnformatted(item);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* "2024-05-01T12:34:56.789Z" */
static void assert_time(const char *s)
{
	int i;

	assert_int_equal(strlen(s), 24);
	for (i = 0; i < 24; i++) {
		const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
		if (shape[i] == 'd')
			assert_true(s[i] >= '0' && s[i] <= '9');
		else
			assert_int_equal(s[i], shape[i]);
	}
}

/* An Open of KIND with ARGV (N words, at most 8) as USER, for the host (tests change B->t). */
struct open_buf {
	Rexec__V1__Open o;
	Rexec__V1__Target t;
	ProtobufCBinaryData argv[8];
};

static void make_open(struct open_buf *b, Rexec__V1__Kind kind, const char *const *argv, size_t n,
		      const char *user)
{
	size_t i;

	rexec__v1__open__init(&b->o);
	rexec__v1__target__init(&b->t);
	b->t.type = REXEC__V1__TARGET_TYPE__TARGET_HOST;
	b->o.kind = kind;
	b->o.target = &b->t;
	b->o.user = (char *)user;
	for (i = 0; i < n; i++) {
		b->argv[i].data = (uint8_t *)argv[i];
		b->argv[i].len = strlen(argv[i]);
	}
	b->o.argv = b->argv;
	b->o.n_argv = n;
}

static void test_host_session_start_and_end(void **state)
{
	struct tmp *t = *state;
	static const char *const argv[] = { "printf", "abc" };
	struct open_buf b;
	struct audit_start st = {
		.session = "42-1", .user = "root", .tty = 0, .pid = 42, .via = "host"
	};
	struct audit_end end = { .duration_ms = 12, .bytes_in = 5, .bytes_out = 3 };
	cJSON *desc, *recs[4];
	struct stat sb;
	size_t n;

	make_open(&b, REXEC__V1__KIND__KIND_EXEC, argv, 2, "");
	desc = audit_describe(t->au, &b.o,
			      &(struct tls_identity){ .cn = "alice",
						      .groups = { "ops", "dev" },
						      .n_groups = 2,
						      .serial = "1F03" },
			      "10.0.0.9:40000");
	assert_non_null(desc);
	audit_started(t->au, desc, &st);
	audit_exit(desc, 0, 0, "");
	audit_ended(t->au, desc, &end);
	cJSON_Delete(desc);

	n = read_records(t->path, recs, 4);
	assert_int_equal(n, 2);
	assert_string_equal(
		keys(recs[0]),
		"time event who groups serial from kind target argv user session tty pid via");
	assert_time(str(recs[0], "time"));
	assert_string_equal(str(recs[0], "event"), "start");
	assert_string_equal(str(recs[0], "who"), "alice");
	assert_json(cJSON_GetObjectItem(recs[0], "groups"), "[\"ops\",\"dev\"]");
	assert_string_equal(str(recs[0], "serial"), "1F03");
	assert_string_equal(str(recs[0], "from"), "10.0.0.9:40000");
	assert_string_equal(str(recs[0], "kind"), "exec");
	assert_string_equal(str(recs[0], "target"), "host");
	assert_json(cJSON_GetObjectItem(recs[0], "argv"), "[\"printf\",\"abc\"]");
	assert_string_equal(str(recs[0], "user"), "root"); /* as it runs, not as asked ("") */
	assert_string_equal(str(recs[0], "session"), "42-1");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(recs[0], "tty")));
	assert_int_equal(num(recs[0], "pid"), 42);
	assert_string_equal(str(recs[0], "via"), "host");

	assert_string_equal(keys(recs[1]),
			    "time event who groups serial from kind target argv user session tty "
			    "pid via exit duration_ms bytes_in bytes_out");
	assert_string_equal(str(recs[1], "event"), "end");
	assert_int_equal(num(recs[1], "exit"), 0);
	assert_int_equal(num(recs[1], "duration_ms"), 12);
	assert_int_equal(num(recs[1], "bytes_in"), 5);
	assert_int_equal(num(recs[1], "bytes_out"), 3);
	free_records(recs, n);

	assert_int_equal(stat(t->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_container_target_signal_and_reason(void **state)
{
	struct tmp *t = *state;
	static const char *const argv[] = { "sh" };
	struct open_buf b;
	struct audit_start st = { .session = "0-3",
				  .user = "",
				  .tty = 1,
				  .pid = 0,
				  .via = "engine",
				  .detail = "exec 3f2a1b in shop-web-1" };
	struct audit_end end = { 0 };
	cJSON *desc, *recs[4], *target;
	size_t n;

	make_open(&b, REXEC__V1__KIND__KIND_EXEC, argv, 1, "");
	b.t.type = REXEC__V1__TARGET_TYPE__TARGET_SERVICE;
	b.t.project = "shop";
	b.t.service = "web";
	b.t.index = 2;
	desc = audit_describe(t->au, &b.o, &(struct tls_identity){ .cn = "bob" }, "[::1]:5000");
	audit_started(t->au, desc, &st);
	/* The client vanished, then the hang-up killed it: the reason stays with the exit. */
	audit_reason(desc, "client gone");
	audit_exit(desc, 137, 9, "");
	audit_exit(desc, 129, 1, "");
	audit_ended(t->au, desc, &end);
	cJSON_Delete(desc);

	n = read_records(t->path, recs, 4);
	assert_int_equal(n, 2);
	target = cJSON_GetObjectItem(recs[0], "target");
	assert_json(target,
		    "{\"project\":\"shop\",\"service\":\"web\",\"index\":2,\"container\":\"\"}");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(recs[0], "pid")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(recs[0], "tty")));
	assert_string_equal(str(recs[0], "detail"), "exec 3f2a1b in shop-web-1");
	assert_string_equal(keys(recs[1]),
			    "time event who groups serial from kind target argv user session tty "
			    "pid via detail exit signal reason duration_ms "
			    "bytes_in bytes_out");
	assert_int_equal(num(recs[1], "exit"), 129);
	assert_string_equal(str(recs[1], "signal"), "HUP");
	assert_string_equal(str(recs[1], "reason"), "client gone");
	free_records(recs, n);
}

static void test_end_without_exit_and_refused(void **state)
{
	struct tmp *t = *state;
	struct open_buf b;
	struct audit_start st = { .session = "7-1", .user = "root", .pid = 7, .via = "direct" };
	struct audit_end end = { 0 };
	cJSON *desc, *recs[4];
	size_t n;

	make_open(&b, REXEC__V1__KIND__KIND_RUN, NULL, 0, "nosuch");
	b.t.type = REXEC__V1__TARGET_TYPE__TARGET_CONTAINER;
	b.t.container = "c1";
	desc = audit_describe(t->au, &b.o, &(struct tls_identity){ .cn = "carol" }, "127.0.0.1:1");
	audit_refused(t->au, desc, "unable to find user nosuch");
	cJSON_Delete(desc);

	make_open(&b, REXEC__V1__KIND__KIND_ATTACH, NULL, 0, "");
	desc = audit_describe(t->au, &b.o, &(struct tls_identity){ .cn = "carol" }, "127.0.0.1:1");
	audit_started(t->au, desc, &st);
	audit_reason(desc, "the agent is shutting down");
	audit_ended(t->au, desc, &end);
	cJSON_Delete(desc);

	n = read_records(t->path, recs, 4);
	assert_int_equal(n, 3);
	assert_string_equal(keys(recs[0]),
			    "time event who groups serial from kind target argv user error");
	assert_string_equal(str(recs[0], "event"), "refused");
	assert_string_equal(str(recs[0], "kind"), "run");
	assert_string_equal(str(recs[0], "user"), "nosuch");
	assert_string_equal(str(recs[0], "error"), "unable to find user nosuch");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(recs[0], "argv")), 0);
	assert_string_equal(str(recs[1], "kind"), "attach");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(recs[2], "exit")));
	assert_false(cJSON_HasObjectItem(recs[2], "signal"));
	assert_string_equal(str(recs[2], "reason"), "the agent is shutting down");
	free_records(recs, n);
}

static void test_argv_bytes_that_are_not_utf8(void **state)
{
	struct tmp *t = *state;
	/* valid 2/3/4-byte forms, a lone continuation byte, a truncated sequence, an overlong
	 * '/', a surrogate, a quote and a control character (cJSON escapes those); then a NUL */
	static const char *const argv[] = { "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "a\x80z",
					    "\xe2\x82", "\xc0\xaf\xed\xa0\x80", "\"\t" };
	static const char *const want[] = { "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
					    "a\xef\xbf\xbdz", "\xef\xbf\xbd\xef\xbf\xbd",
					    ("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
					     "\xef\xbf\xbd"),
					    "\"\t" };
	struct open_buf b;
	cJSON *desc, *recs[2], *words;
	size_t n, i;

	make_open(&b, REXEC__V1__KIND__KIND_EXEC, argv, 5, "");
	b.argv[5].data = (uint8_t *)"a\0b";
	b.argv[5].len = 3;
	b.o.n_argv = 6;
	desc = audit_describe(t->au, &b.o, &(struct tls_identity){ .cn = "x\xff" }, "");
	audit_refused(t->au, desc, "no");
	cJSON_Delete(desc);

	n = read_records(t->path, recs, 2);
	assert_int_equal(n, 1);
	words = cJSON_GetObjectItem(recs[0], "argv");
	assert_int_equal(cJSON_GetArraySize(words), 6);
	for (i = 0; i < 5; i++)
		assert_string_equal(cJSON_GetArrayItem(words, (int)i)->valuestring, want[i]);
	assert_string_equal(cJSON_GetArrayItem(words, 5)->valuestring, "a\xef\xbf\xbd"
								       "b");
	assert_string_equal(str(recs[0], "who"), "x\xef\xbf\xbd");
	free_records(recs, n);
}

static void test_no_audit_log_does_nothing(void **state)
{
	struct open_buf b;
	struct audit_start st = { .session = "1-1", .via = "host" };
	struct audit_end end = { 0 };

	make_open(&b, REXEC__V1__KIND__KIND_EXEC, NULL, 0, "");
	assert_null(audit_describe(NULL, &b.o, &(struct tls_identity){ .cn = "a" }, "b"));
	audit_refused(NULL, NULL, "x");
	audit_started(NULL, NULL, &st);
	audit_exit(NULL, 1, 0, "r");
	audit_reason(NULL, "r");
	audit_ended(NULL, NULL, &end);
	assert_int_equal(audit_reopen(NULL), 0);
	audit_free(NULL);
}

static void test_open_failure_is_reported(void **state)
{
	struct audit *au = (struct audit *)1;

	assert_int_equal(audit_new(&au, "/nonexistent-rexec-dir/audit.jsonl"), -ENOENT);
	assert_null(au);
}

static void refuse_once(struct audit *au, const char *message)
{
	static const char *const argv[] = { "true" };
	struct open_buf b;
	cJSON *desc;

	make_open(&b, REXEC__V1__KIND__KIND_EXEC, argv, 1, "");
	desc = audit_describe(au, &b.o, &(struct tls_identity){ .cn = "dave" }, "127.0.0.1:2");
	assert_non_null(desc);
	audit_refused(au, desc, message);
	cJSON_Delete(desc);
}

/* A write that fails (here: the file size limit, as a full disk would) loses the record, cuts
 * off what of it was written, and the next record that is written says how many were lost. */
static void test_lost_records_are_counted(void **state)
{
	struct tmp *t = *state;
	struct rlimit old, small;
	struct stat sb;
	cJSON *recs[4];
	size_t n;

	signal(SIGXFSZ, SIG_IGN);
	refuse_once(t->au, "first");
	assert_int_equal(stat(t->path, &sb), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = (rlim_t)sb.st_size + 10; /* room for a part of the next record */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	refuse_once(t->au, "lost 1");
	refuse_once(t->au, "lost 2");
	refuse_once(t->au, "lost 3");
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(stat(t->path, &sb), 0);
	assert_int_equal(sb.st_size, small.rlim_cur - 10); /* the cut-short parts are gone */
	refuse_once(t->au, "after");
	refuse_once(t->au, "again");

	n = read_records(t->path, recs, 4);
	assert_int_equal(n, 3);
	assert_string_equal(str(recs[0], "error"), "first");
	assert_false(cJSON_HasObjectItem(recs[0], "lost"));
	assert_string_equal(str(recs[1], "error"), "after");
	assert_int_equal(num(recs[1], "lost"), 3);
	assert_string_equal(str(recs[2], "error"), "again");
	assert_false(cJSON_HasObjectItem(recs[2], "lost"));
	free_records(recs, n);
}

static void test_reopen_follows_the_name(void **state)
{
	struct tmp *t = *state;
	cJSON *recs[2];
	size_t n;

	refuse_once(t->au, "before");
	assert_int_equal(rename(t->path, t->old), 0);
	refuse_once(t->au, "still old");
	assert_int_equal(audit_reopen(t->au), 0);
	refuse_once(t->au, "new");

	n = read_records(t->old, recs, 2);
	assert_int_equal(n, 2);
	assert_string_equal(str(recs[1], "error"), "still old");
	free_records(recs, n);
	n = read_records(t->path, recs, 2);
	assert_int_equal(n, 1);
	assert_string_equal(str(recs[0], "error"), "new");
	free_records(recs, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_session_start_and_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_container_target_signal_and_reason, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_end_without_exit_and_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_argv_bytes_that_are_not_utf8, setup, teardown),
		cmocka_unit_test(test_no_audit_log_does_nothing),
		cmocka_unit_test(test_open_failure_is_reported),
		cmocka_unit_test_setup_teardown(test_lost_records_are_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_follows_the_name, setup, teardown),
	};
	return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
