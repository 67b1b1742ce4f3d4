/* pipesize.c: grow a pipe's buffer, best effort (pipesize.h). */
#include "lib/pipesize.h"

#include <fcntl.h>
#include <sys/stat.h>

/* As OpenZFS's libzfs_set_pipe_max() does, the size is read first and only ever raised: a
 * smaller F_SETPIPE_SZ would shrink a pipe someone made larger on purpose (pipesz(1), a
 * shell), and fails with EBUSY when the pipe holds more than the new size. */
void pipesize_grow(int fd, int size)
{
#if defined(F_SETPIPE_SZ) /* Linux */
	struct stat st;
	int now;

	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && (now = fcntl(fd, F_GETPIPE_SZ)) > 0 &&
	    now < size)
		(void)fcntl(fd, F_SETPIPE_SZ, size);
#else
	(void)fd;
	(void)size;
#endif
}
