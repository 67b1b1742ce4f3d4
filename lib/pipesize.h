/* pipesize.h: a pipe's kernel buffer grown for a bulk stream (Linux's F_SETPIPE_SZ). Both ends
 * use it: the agent on a session's stdin and stdout pipes, the client on its own stdin and
 * stdout when they are pipes. */
#ifndef REXEC_PIPESIZE_H
#define REXEC_PIPESIZE_H

/* Grows the buffer of the pipe or FIFO FD to SIZE bytes when it is smaller. Best effort: a
 * pipe already as large or larger is left as it is (never shrunk, which could fail on the
 * data it holds), any other fd is left alone, and the limits /proc/sys/fs/pipe-max-size and
 * the user's pipe quota put on it are not errors (the size stays). Does nothing where the
 * system has no F_SETPIPE_SZ (the client's macOS build). */
void pipesize_grow(int fd, int size);

#endif
