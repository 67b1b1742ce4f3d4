/* fuzz_file.h: for targets whose parser reads a file by path: the input becomes the content
 * of one memfd for the whole run, named through /proc/self/fd (a regular file, no disk). */
#ifndef REXEC_FUZZ_FILE_H
#define REXEC_FUZZ_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Writes DATA (SIZE bytes) as the file's whole content and returns its path (static). */
static inline const char *fuzz_file(const void *data, size_t size)
{
	static char path[64];
	static int fd = -1;

	if (fd < 0) {
		if ((fd = memfd_create("fuzz", MFD_CLOEXEC)) < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	return path;
}

#endif
