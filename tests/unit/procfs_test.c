/* uses: agent/procfs.c */
/* procfs_test.c: /proc/PID/stat fields of this very process (state, ppid, start time) and of
 * a child whose comm holds a space and a ')', which must not shift the fields; whole small
 * files read into a buffer (exactly full, one byte over, empty, missing) and split into lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/procfs.h"

static void test_own_fields(void **unused)
{
	char v[64];

	assert_int_equal(procfs_stat_field(getpid(), 3, v, sizeof(v)), 0);
	/* qemu-user (`packaging/zig build cross-test` sets REXEC_UNDER_QEMU) writes the emulated
	 * process's own stat file itself, with only pid, comm, ppid and start time filled in. */
	if (getenv("REXEC_UNDER_QEMU") != NULL)
		print_message("[  SKIP    ] own stat state (qemu-user says \"%s\")\n", v);
	else
		assert_string_equal(v, "R");
	assert_int_equal(procfs_stat_field(getpid(), 4, v, sizeof(v)), 0);
	assert_int_equal(strtol(v, NULL, 10), getppid());
	assert_int_equal(procfs_stat_field(getpid(), 22, v, sizeof(v)), 0);
	assert_true(strtoull(v, NULL, 10) > 0);
	assert_int_equal(procfs_stat_field(getpid(), 2, v, sizeof(v)), -EINVAL);
	assert_int_equal(procfs_stat_field(getpid(), 99, v, sizeof(v)), -EINVAL);
	assert_int_equal(procfs_stat_field(0x7ffffff0, 3, v, sizeof(v)), -ENOENT);
}

static void test_awkward_comm(void **unused)
{
	int ready[2], st;
	char v[64], c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_NAME, "a) b (c", 0, 0, 0);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(procfs_stat_field(pid, 4, v, sizeof(v)), 0);
	assert_int_equal(strtol(v, NULL, 10), getpid());
	assert_int_equal(procfs_stat_field(pid, 5, v, sizeof(v)), 0); /* pgrp: ours */
	assert_int_equal(strtol(v, NULL, 10), getpgrp());
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(ready[0]);
	close(ready[1]);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_read_whole_files(void **unused)
{
	char dir[] = "/tmp/procfs_test.XXXXXX", path[64], buf[8], *p, *line;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	write_file(path, "1234567"); /* exactly SIZE - 1 */
	assert_int_equal(procfs_read(path, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "1234567");
	write_file(path, "12345678"); /* one byte over */
	assert_int_equal(procfs_read(path, buf, sizeof(buf)), -EFBIG);
	assert_string_equal(buf, "1234567"); /* what fits stays, for callers that use it */
	write_file(path, "");
	assert_int_equal(procfs_read(path, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	write_file(path, "a\n\nbc");
	assert_int_equal(procfs_read(path, buf, sizeof(buf)), 5);
	p = buf;
	assert_non_null(line = procfs_line(&p));
	assert_string_equal(line, "a");
	assert_non_null(line = procfs_line(&p));
	assert_string_equal(line, "");
	assert_non_null(line = procfs_line(&p));
	assert_string_equal(line, "bc");
	assert_null(procfs_line(&p));
	unlink(path);
	assert_int_equal(procfs_read(path, buf, sizeof(buf)), -ENOENT);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_fields),
		cmocka_unit_test(test_awkward_comm),
		cmocka_unit_test(test_read_whole_files),
	};
	return cmocka_run_group_tests_name("procfs", tests, NULL, NULL);
}
