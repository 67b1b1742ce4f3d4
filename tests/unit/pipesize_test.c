/* pipesize_test.c: pipesize_grow() on real pipes and FIFOs: grown to the size asked, never
 * shrunk, other fds left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/pipesize.h"

#define WANT (256 * 1024)

/* A pipe of Linux's default size (64 KiB, less than WANT) into P. */
static void small_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_true(fcntl(p[0], F_GETPIPE_SZ) < WANT);
}

static void test_pipe_is_grown_from_either_end(void **state)
{
	int p[2];

	small_pipe(p);
	pipesize_grow(p[1], WANT);
	assert_int_equal(fcntl(p[0], F_GETPIPE_SZ), WANT);
	close(p[0]);
	close(p[1]);

	small_pipe(p);
	pipesize_grow(p[0], WANT);
	assert_int_equal(fcntl(p[1], F_GETPIPE_SZ), WANT);
	close(p[0]);
	close(p[1]);
}

/* What the pipe holds stays in it, in order. */
static void test_data_survives(void **state)
{
	char buf[16] = { 0 };
	int p[2];

	small_pipe(p);
	assert_int_equal(write(p[1], "hello", 5), 5);
	pipesize_grow(p[1], WANT);
	assert_int_equal(fcntl(p[0], F_GETPIPE_SZ), WANT);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 5);
	assert_string_equal(buf, "hello");
	close(p[0]);
	close(p[1]);
}

static void test_bigger_pipe_is_not_shrunk(void **state)
{
	int p[2];

	small_pipe(p);
	if (fcntl(p[1], F_SETPIPE_SZ, 2 * WANT) < 0) {
		close(p[0]);
		close(p[1]);
		skip(); /* past this user's pipe quota or pipe-max-size */
	}
	assert_int_equal(fcntl(p[1], F_GETPIPE_SZ), 2 * WANT);
	pipesize_grow(p[1], WANT);
	assert_int_equal(fcntl(p[1], F_GETPIPE_SZ), 2 * WANT);
	close(p[0]);
	close(p[1]);
}

static void test_named_fifo_is_grown(void **state)
{
	char dir[] = "/tmp/pipesize-XXXXXX", path[64];
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* O_RDWR: opened without a second party, as Linux allows for a FIFO. */
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETPIPE_SZ) < WANT);
	pipesize_grow(fd, WANT);
	assert_int_equal(fcntl(fd, F_GETPIPE_SZ), WANT);
	close(fd);
	unlink(path);
	rmdir(dir);
}

/* A regular file, a character device and a closed fd: nothing changes, nothing fails. */
static void test_other_fds_are_left_alone(void **state)
{
	char path[] = "/tmp/pipesize-XXXXXX", buf[16] = { 0 };
	struct stat before, after;
	int fd = mkstemp(path), null;

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "abc", 3), 3);
	assert_int_equal(fstat(fd, &before), 0);
	pipesize_grow(fd, WANT);
	assert_int_equal(fstat(fd, &after), 0);
	assert_int_equal(after.st_size, 3);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 3);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 3);
	assert_string_equal(buf, "abc");
	assert_true(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
		    after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
	close(fd);

	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(null >= 0);
	pipesize_grow(null, WANT);
	assert_int_equal(write(null, "x", 1), 1);
	close(null);

	pipesize_grow(-1, WANT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipe_is_grown_from_either_end),
		cmocka_unit_test(test_data_survives),
		cmocka_unit_test(test_bigger_pipe_is_not_shrunk),
		cmocka_unit_test(test_named_fifo_is_grown),
		cmocka_unit_test(test_other_fds_are_left_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
