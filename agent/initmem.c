/* initmem.c: the inits entered before and what was learnt of them (see initmem.h). */
#include "agent/initmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent/scdump.h"

struct slot {
	pid_t pid;
	unsigned long long start; /* 0: a free slot */
	int has_filters, n_filters;
	struct sock_fprog filters[SCDUMP_MAX];
	int has_spec;
	struct ocispec spec;
};

struct initmem {
	pthread_mutex_t lock;
	struct slot slots[INITMEM_SLOTS];
	unsigned next; /* the slot a new init takes (the oldest) */
};

struct initmem *initmem_new(void)
{
	struct initmem *m = calloc(1, sizeof(*m));

	if (m != NULL)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void initmem_free(struct initmem *m)
{
	unsigned i;

	if (m == NULL)
		return;
	for (i = 0; i < INITMEM_SLOTS; i++)
		scdump_free(m->slots[i].filters, m->slots[i].n_filters);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* The slot of the init (the lock held); with MAKE, a new one (the oldest slot emptied) when
 * there is none. NULL when there is none, or START is unknown. */
static struct slot *find(struct initmem *m, pid_t pid, unsigned long long start, int make)
{
	struct slot *s;
	unsigned i;

	if (start == 0)
		return NULL;
	for (i = 0; i < INITMEM_SLOTS; i++)
		if (m->slots[i].pid == pid && m->slots[i].start == start)
			return &m->slots[i];
	if (!make)
		return NULL;
	s = &m->slots[m->next++ % INITMEM_SLOTS];
	scdump_free(s->filters, s->n_filters);
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->start = start;
	return s;
}

int initmem_spec(struct initmem *m, pid_t pid, unsigned long long start, struct ocispec *out)
{
	struct slot *s;
	int ret = 0;

	if (m == NULL)
		return 0;
	pthread_mutex_lock(&m->lock);
	if ((s = find(m, pid, start, 0)) != NULL && s->has_spec) {
		*out = s->spec;
		ret = 1;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void initmem_put_spec(struct initmem *m, pid_t pid, unsigned long long start,
		      const struct ocispec *spec)
{
	struct slot *s;

	if (m == NULL)
		return;
	pthread_mutex_lock(&m->lock);
	if ((s = find(m, pid, start, 1)) != NULL) {
		s->spec = *spec;
		s->has_spec = 1;
	}
	pthread_mutex_unlock(&m->lock);
}

int initmem_filters(struct initmem *m, pid_t pid, unsigned long long start, struct sock_fprog *dst,
		    int *n)
{
	struct slot *s;
	int ret = 0;

	if (m == NULL)
		return 0;
	pthread_mutex_lock(&m->lock);
	if ((s = find(m, pid, start, 0)) != NULL && s->has_filters) {
		ret = scdump_copy(dst, s->filters, s->n_filters);
		if (ret == 0) {
			*n = s->n_filters;
			ret = 1;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void initmem_put_filters(struct initmem *m, pid_t pid, unsigned long long start,
			 const struct sock_fprog *src, int n)
{
	struct slot *s;

	if (m == NULL)
		return;
	pthread_mutex_lock(&m->lock);
	if ((s = find(m, pid, start, 1)) != NULL && !s->has_filters &&
	    scdump_copy(s->filters, src, n) == 0) {
		s->n_filters = n;
		s->has_filters = 1;
	}
	pthread_mutex_unlock(&m->lock);
}
