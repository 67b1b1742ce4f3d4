/* uses: agent/record.c */
/* record_test.c: the asciicast v2 writer on a real libuv loop and real files: the header, a
 * character split at every byte kept whole, bytes that are not UTF-8 and control characters
 * as valid JSON, a cut-off character at the end, resizes, stdin only when asked, a planted
 * symlink never followed, a file size limit that breaks the recording (the file cut back to
 * whole lines), the buffer's bound when the disk does not keep up, and the directory checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/record.h"

#define TEXT_MAX (4 << 20) /* the largest file a test reads back */

struct tmp {
	char dir[64];
	char path[PATH_MAX]; /* DIR/1-1.cast */
	uv_loop_t loop;
	struct record_dir *rd;
	/* record_close()'s result, copied */
	int done;
	int rooms; /* calls of the room callback */
	char file[PATH_MAX];
	bool complete;
	char error[256];
};

static int make(void **state, bool input)
{
	struct tmp *t = calloc(1, sizeof(*t));
	char err[256];

	assert_non_null(t);
	strcpy(t->dir, "/tmp/rexec-record-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/1-1.cast", t->dir);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(record_dir_new(&t->rd, &t->loop, t->dir, input, err, sizeof(err)), 0);
	*state = t;
	return 0;
}

static int setup(void **state)
{
	return make(state, false);
}

static int setup_input(void **state)
{
	return make(state, true);
}

static void close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int teardown(void **state)
{
	struct tmp *t = *state;
	char cmd[128];

	/* As the agent at exit: the loop's handles (the directory's timer) closed, then freed. */
	uv_walk(&t->loop, close_handle, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	record_dir_free(t->rd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

static void on_room(void *arg)
{
	((struct tmp *)arg)->rooms++;
}

/* A recording of `sh` on the host by alice as root, 80x24, started as session 1-1. */
static struct record *start(struct tmp *t)
{
	Rexec__V1__Open o = REXEC__V1__OPEN__INIT;
	Rexec__V1__Target target = REXEC__V1__TARGET__INIT;
	Rexec__V1__WinSize size = REXEC__V1__WIN_SIZE__INIT;
	ProtobufCBinaryData argv[1] = { { 2, (uint8_t *)"sh" } };
	struct record *r;

	target.type = REXEC__V1__TARGET_TYPE__TARGET_HOST;
	size.rows = 24;
	size.cols = 80;
	o.kind = REXEC__V1__KIND__KIND_EXEC;
	o.target = &target;
	o.n_argv = 1;
	o.argv = argv;
	o.tty = 1;
	o.term = "xterm";
	o.size = &size;
	r = record_new(t->rd, &t->loop, &o, "alice", "root", on_room, t);
	assert_non_null(r);
	record_start(r, "1-1", true);
	return r;
}

static void on_done(void *arg, const struct record_result *res)
{
	struct tmp *t = arg;

	t->done++;
	snprintf(t->file, sizeof(t->file), "%s", res->file ? res->file : "");
	t->complete = res->complete;
	snprintf(t->error, sizeof(t->error), "%s", res->error);
}

/* Closes R and runs the loop until its last write is done. */
static void close_rec(struct tmp *t, struct record *r)
{
	record_close(r, on_done, t);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(t->done, 1);
}

/* The file's text (a new string). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s = malloc(TEXT_MAX);
	size_t n;

	assert_non_null(f);
	assert_non_null(s);
	n = fread(s, 1, TEXT_MAX - 1, f);
	fclose(f);
	s[n] = 0;
	if (len != NULL)
		*len = n;
	return s;
}

/* Every line after the header parsed as [t, code, text]; the texts of CODE concatenated (a
 * NUL in a text ends it, as cJSON gives it). Checks that every line is JSON. */
static char *texts(const char *path, const char *code, int *events)
{
	char *all = slurp(path, NULL), *out = calloc(1, TEXT_MAX), *line, *save = NULL;
	size_t len = 0;
	int first = 1;

	assert_non_null(out);
	*events = 0;
	for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cJSON *v = cJSON_Parse(line);
		if (v == NULL)
			fail_msg("not JSON: %s", line);
		if (first) {
			assert_true(cJSON_IsObject(v));
			first = 0;
		} else {
			assert_true(cJSON_IsArray(v) && cJSON_GetArraySize(v) == 3);
			assert_true(cJSON_IsNumber(cJSON_GetArrayItem(v, 0)));
			if (strcmp(cJSON_GetArrayItem(v, 1)->valuestring, code) == 0) {
				const char *text = cJSON_GetArrayItem(v, 2)->valuestring;
				memcpy(out + len, text, strlen(text) + 1);
				len += strlen(text);
				(*events)++;
			}
		}
		cJSON_Delete(v);
	}
	free(all);
	return out;
}

static void test_header(void **state)
{
	struct tmp *t = *state;
	char *text, *nl;
	cJSON *h, *env;
	struct stat st;

	close_rec(t, start(t));
	assert_string_equal(t->file, t->path);
	assert_true(t->complete);
	assert_string_equal(t->error, "");
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	text = slurp(t->path, NULL);
	nl = strchr(text, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], 0); /* the header alone */
	h = cJSON_Parse(text);
	assert_non_null(h);
	assert_int_equal(cJSON_GetObjectItem(h, "version")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(h, "width")->valueint, 80);
	assert_int_equal(cJSON_GetObjectItem(h, "height")->valueint, 24);
	assert_true(cJSON_GetObjectItem(h, "timestamp")->valuedouble > 1.6e9);
	assert_string_equal(cJSON_GetObjectItem(h, "command")->valuestring, "sh");
	assert_string_equal(cJSON_GetObjectItem(h, "title")->valuestring,
			    "alice: exec host as root (session 1-1)");
	env = cJSON_GetObjectItem(h, "env");
	assert_string_equal(cJSON_GetObjectItem(env, "TERM")->valuestring, "xterm");
	assert_string_equal(cJSON_GetObjectItem(env, "REXEC_WHO")->valuestring, "alice");
	assert_string_equal(cJSON_GetObjectItem(env, "REXEC_TARGET")->valuestring, "host");
	assert_string_equal(cJSON_GetObjectItem(env, "REXEC_USER")->valuestring, "root");
	assert_string_equal(cJSON_GetObjectItem(env, "REXEC_SESSION")->valuestring, "1-1");
	cJSON_Delete(h);
	free(text);
}

static void test_split_characters_are_kept_whole(void **state)
{
	static const char want[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"; /* aé€😀z */
	struct tmp *t = *state;
	struct record *r = start(t);
	char *out;
	size_t i;
	int n;

	/* One byte at a time: every character is cut at every byte. */
	for (i = 0; i < strlen(want); i++)
		record_output(r, (const uint8_t *)want + i, 1);
	close_rec(t, r);
	assert_true(t->complete);
	out = texts(t->path, "o", &n);
	assert_string_equal(out, want);
	assert_int_equal(n, 5); /* one event per character */
	free(out);
}

static void test_invalid_bytes_and_controls(void **state)
{
	static const uint8_t in[] = "\xff\x00\"\\\x1b[1m\xc3(\xed\xa0\x80ok\xe2\x82";
	struct tmp *t = *state;
	struct record *r = start(t);
	char *text;

	record_output(r, in, sizeof(in) - 1);
	close_rec(t, r);
	assert_true(t->complete);
	text = slurp(t->path, NULL);
	/* FF, C3 before '(' and each byte of a surrogate are U+FFFD; the NUL is \u0000; the
	 * € cut off at the end, held to the close, is two U+FFFD in an event of its own. */
	assert_non_null(strstr(text, "\"o\", \"\xef\xbf\xbd\\u0000\\\"\\\\\\u001b[1m\xef\xbf\xbd("
				     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdok\"]\n"));
	assert_non_null(strstr(text, "\"o\", \"\xef\xbf\xbd\xef\xbf\xbd\"]\n"));
	free(text);
	free(texts(t->path, "o", &(int){ 0 })); /* every line JSON */
}

static void test_resize_and_no_input_by_default(void **state)
{
	struct tmp *t = *state;
	struct record *r = start(t);
	char *out;
	int n;

	record_input(r, (const uint8_t *)"secret\r", 7);
	record_resize(r, 120, 40);
	record_output(r, (const uint8_t *)"x", 1);
	close_rec(t, r);
	out = texts(t->path, "i", &n);
	assert_int_equal(n, 0);
	free(out);
	out = texts(t->path, "r", &n);
	assert_int_equal(n, 1);
	assert_string_equal(out, "120x40");
	free(out);
}

static void test_input_when_asked(void **state)
{
	struct tmp *t = *state;
	struct record *r = start(t);
	char *out;
	int n;

	record_input(r, (const uint8_t *)"ls\r\xc3", 4);
	record_input(r, (const uint8_t *)"\xa9", 1);
	close_rec(t, r);
	out = texts(t->path, "i", &n);
	assert_string_equal(out, "ls\r\xc3\xa9");
	free(out);
}

static void test_no_tty_no_file(void **state)
{
	struct tmp *t = *state;
	Rexec__V1__Open o = REXEC__V1__OPEN__INIT;
	struct record *r = record_new(t->rd, &t->loop, &o, "alice", "", NULL, NULL);

	assert_non_null(r);
	record_start(r, "1-1", false);
	record_output(r, (const uint8_t *)"x", 1);
	close_rec(t, r);
	assert_string_equal(t->file, "");
	assert_int_equal(access(t->path, F_OK), -1);
	assert_null(record_new(NULL, &t->loop, &o, "alice", "", NULL, NULL));
}

static void test_planted_symlink_is_not_followed(void **state)
{
	struct tmp *t = *state;
	char victim[PATH_MAX], *text;
	FILE *f;

	snprintf(victim, sizeof(victim), "%s/victim", t->dir);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("keep\n", f);
	fclose(f);
	assert_int_equal(symlink(victim, t->path), 0);
	{
		struct record *r = start(t);
		record_output(r, (const uint8_t *)"overwrite", 9);
		close_rec(t, r);
	}
	assert_false(t->complete);
	assert_string_equal(t->file, t->path);
	assert_non_null(strstr(t->error, "cannot create the file"));
	text = slurp(victim, NULL);
	assert_string_equal(text, "keep\n");
	free(text);
}

static void test_file_size_limit_breaks_and_cuts_back(void **state)
{
	struct tmp *t = *state;
	struct rlimit old, lim;
	char line[200], *text, *out;
	size_t len;
	int i, n;
	struct record *r;

	signal(SIGXFSZ, SIG_IGN); /* as the agent: EFBIG, not death */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = (struct rlimit){ 4096, old.rlim_max }; /* the soft limit only: it goes back up */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	r = start(t);
	memset(line, 'y', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (i = 0; i < 100; i++) {
		record_output(r, (const uint8_t *)line, sizeof(line));
		uv_run(&t->loop, UV_RUN_NOWAIT);
	}
	close_rec(t, r);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_false(t->complete);
	assert_true(strstr(t->error, "short write") != NULL || strstr(t->error, "too large"));
	text = slurp(t->path, &len);
	assert_true(len > 0 && len <= 4096);
	assert_int_equal(text[len - 1], '\n'); /* whole lines only */
	free(text);
	out = texts(t->path, "o", &n);
	assert_true(n > 0 && n < 100); /* the whole lines of a write cut short stay */
	free(out);
}

static void test_a_disk_that_falls_behind_breaks_not_grows(void **state)
{
	struct tmp *t = *state;
	struct record *r = start(t);
	uint8_t chunk[8192];
	char *out;
	int i, n;

	/* The loop does not run: the first write stays under way, events pile up to the cap. */
	memset(chunk, 'z', sizeof(chunk));
	for (i = 0; i < 64; i++)
		record_output(r, chunk, sizeof(chunk));
	close_rec(t, r);
	assert_false(t->complete);
	assert_non_null(strstr(t->error, "fell too far behind"));
	out = texts(t->path, "o", &n); /* what was written is whole lines */
	assert_true(n < 64);
	free(out);
}

static void test_a_slow_disk_paces_the_session(void **state)
{
	struct tmp *t = *state;
	struct record *r = start(t);
	uint8_t chunk[8192];
	char *out;
	int i, n, paused = 0;

	/* A session that stops reading when told, and reads on at the room callback: nothing
	 * is lost however far ahead of the disk its output runs. */
	memset(chunk, 'p', sizeof(chunk));
	for (i = 0; i < 200; i++) {
		record_output(r, chunk, sizeof(chunk));
		if (record_full(r)) {
			int before = t->rooms;
			paused++;
			while (t->rooms == before)
				uv_run(&t->loop, UV_RUN_ONCE);
			assert_false(record_full(r));
		}
	}
	assert_true(paused > 0);
	assert_int_equal(t->rooms, paused);
	close_rec(t, r);
	assert_true(t->complete);
	out = texts(t->path, "o", &n);
	assert_int_equal(strlen(out), 200 * sizeof(chunk));
	free(out);
}

static void test_dir_checks(void **state)
{
	struct tmp *t = *state;
	struct record_dir *rd = NULL;
	char path[PATH_MAX], err[512];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/made", t->dir);
	assert_int_equal(record_dir_new(&rd, &t->loop, path, false, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	uv_walk(&t->loop, close_handle, NULL); /* its timer first, as at the agent's exit */
	uv_run(&t->loop, UV_RUN_DEFAULT);
	record_dir_free(rd);

	snprintf(path, sizeof(path), "%s/file", t->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_true(record_dir_new(&rd, &t->loop, path, false, err, sizeof(err)) < 0);
	assert_null(rd);
	assert_non_null(strstr(err, "not a directory"));

	snprintf(path, sizeof(path), "%s/shared", t->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0777), 0);
	assert_true(record_dir_new(&rd, &t->loop, path, false, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "chmod go-w"));

	snprintf(path, sizeof(path), "%s/no/such", t->dir);
	assert_true(record_dir_new(&rd, &t->loop, path, false, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "cannot create the directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_characters_are_kept_whole, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_invalid_bytes_and_controls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resize_and_no_input_by_default, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_input_when_asked, setup_input, teardown),
		cmocka_unit_test_setup_teardown(test_no_tty_no_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_planted_symlink_is_not_followed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_file_size_limit_breaks_and_cuts_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_disk_that_falls_behind_breaks_not_grows,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_slow_disk_paces_the_session, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dir_checks, setup, teardown),
	};
	return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
