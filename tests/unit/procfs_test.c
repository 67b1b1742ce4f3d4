/* uses: agent/procfs.c */
/* procfs_test.c: /proc/PID/stat fields of this very process (state, ppid, start time) and of
 * a child whose comm holds a space and a ')', which must not shift the fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_fields),
		cmocka_unit_test(test_awkward_comm),
	};
	return cmocka_run_group_tests_name("procfs", tests, NULL, NULL);
}
