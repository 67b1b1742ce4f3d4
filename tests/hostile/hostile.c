/* hostile.c: a tiny static multi-call binary that plays a hostile container for the e2e tests
 * (as crun's tests/init.c serves its tests). It is bind-mounted into a container and run as its
 * init (PID 1) or as a process in it:
 *
 *   hostile fake-seccomp   set no_new_privs, stack a seccomp filter that makes capset, the
 *                          set*id calls, setgroups and prctl return 0 without doing anything,
 *                          then idle as init (a direct exec that installed the init's filters
 *                          before dropping its privileges would keep them all)
 *   hostile stop-all FILE  idle until FILE exists, then SIGSTOP every process it can see, over
 *                          and over (a process joining the container stops before its exec)
 *   hostile idle           idle as init (SIGTERM ends it)
 *
 * Test-only: never installed with the product. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void idle(void)
{
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	for (;;)
		pause();
}

#define FAKE(nr)                                         \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0)

static int fake_seccomp(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		FAKE(SYS_capset),
		FAKE(SYS_setuid),
		FAKE(SYS_setgid),
		FAKE(SYS_setreuid),
		FAKE(SYS_setregid),
		FAKE(SYS_setresuid),
		FAKE(SYS_setresgid),
		FAKE(SYS_setfsuid),
		FAKE(SYS_setfsgid),
		FAKE(SYS_setgroups),
		FAKE(SYS_prctl),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		fprintf(stderr, "hostile: seccomp: %s\n", strerror(errno));
		return 1;
	}
	fprintf(stderr, "hostile: fake-success filter installed\n");
	idle();
	return 0;
}

static int stop_all(const char *trigger)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	signal(SIGTERM, on_term);
	while (access(trigger, F_OK) < 0)
		nanosleep(&tick, NULL);
	/* kill(-1) reaches every process of the pid namespace but ourselves (and init, when we
	 * are not it). */
	for (;;) {
		kill(-1, SIGSTOP);
		sched_yield();
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "fake-seccomp") == 0)
		return fake_seccomp();
	if (argc >= 3 && strcmp(argv[1], "stop-all") == 0)
		return stop_all(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "idle") == 0)
		idle();
	fprintf(stderr, "usage: hostile fake-seccomp | stop-all FILE | idle\n");
	return 2;
}
