/* ticket_test.c: the agent's session tickets (proto/ticket.c) with the clock in the test's
 * hands: what is sealed opens unchanged, a resealed ticket keeps the first authentication time,
 * a chain of resumptions ends at notAfter or a day after the full handshake, a ticket lives an
 * hour, and a key still opens its tickets for one rotation after it stopped sealing, not two.
 * A ticket that is damaged or sealed by other keys is told apart from an expired one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/ticket.h"

#define T0  1800000000 /* 2027-01-15 */
#define CAP 1024

static const uint8_t session[] = "an mbedTLS session, serialised";

/* Not random, but every draw differs: keys and their ids do too. */
static int counter_rng(void *arg, unsigned char *out, size_t len)
{
	uint64_t *x = arg;
	size_t i;

	for (i = 0; i < len; i++) {
		*x ^= *x << 13;
		*x ^= *x >> 7;
		*x ^= *x << 17;
		out[i] = (unsigned char)(*x >> 24);
	}
	return 0;
}

struct fixture {
	uint64_t rng;
	struct ticket_keys *keys;
	struct ticket_claims alice;
	uint8_t ticket[CAP];
	size_t len;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->rng = 0x9e3779b97f4a7c15ull;
	assert_int_equal(ticket_keys_new(&f->keys, counter_rng, &f->rng, T0), 0);
	strcpy(f->alice.cn, "alice");
	memcpy(f->alice.serial, "\x40\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
	       16);
	f->alice.serial_len = 16;
	strcpy(f->alice.groups[0], "ops");
	strcpy(f->alice.groups[1], "dev");
	f->alice.n_groups = 2;
	f->alice.auth_time = T0;
	f->alice.not_after = T0 + 30 * 86400;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ticket_keys_free(f->keys);
	free(f);
	return 0;
}

/* Seals C at NOW into F's ticket buffer; returns the lifetime given. */
static uint32_t seal(struct fixture *f, int64_t now, const struct ticket_claims *c)
{
	uint32_t lifetime = 0;

	assert_int_equal(ticket_seal(f->keys, now, c, session, sizeof(session), f->ticket, CAP,
				     &f->len, &lifetime),
			 0);
	return lifetime;
}

/* Seals for a client whose full handshake is NOW. */
static void seal_fresh(struct fixture *f, int64_t now)
{
	struct ticket_claims c = f->alice;

	c.auth_time = now;
	seal(f, now, &c);
}

/* Opens a copy of F's ticket at NOW (opening decrypts in place). */
static int open_copy(struct fixture *f, int64_t now, struct ticket_claims *c)
{
	uint8_t copy[CAP];
	const uint8_t *s = NULL;
	size_t slen = 0;
	int ret;

	memcpy(copy, f->ticket, f->len);
	ret = ticket_open(f->keys, now, copy, f->len, c, &s, &slen);
	if (ret == 0) {
		assert_int_equal(slen, sizeof(session));
		assert_memory_equal(s, session, sizeof(session));
	}
	return ret;
}

static void test_what_is_sealed_opens_unchanged(void **state)
{
	struct fixture *f = *state;
	struct ticket_claims got;

	assert_int_equal(seal(f, T0, &f->alice), TICKET_LIFETIME);
	assert_int_equal(f->len,
			 TICKET_OVERHEAD + 1 + 24 + 1 + 16 + 1 + 5 + 1 + 4 + 4 + sizeof(session));
	/* Sealed: neither the CN, the groups nor the session shows. */
	assert_null(memmem(f->ticket, f->len, "alice", 5));
	assert_null(memmem(f->ticket, f->len, "ops", 3));
	assert_null(memmem(f->ticket, f->len, "serialised", 10));
	assert_int_equal(open_copy(f, T0 + 10, &got), 0);
	assert_string_equal(got.cn, "alice");
	assert_int_equal(got.n_groups, 2);
	assert_string_equal(got.groups[0], "ops");
	assert_string_equal(got.groups[1], "dev");
	assert_int_equal(got.serial_len, 16);
	assert_memory_equal(got.serial, f->alice.serial, 16);
	assert_int_equal(got.auth_time, T0);
	assert_int_equal(got.not_after, T0 + 30 * 86400);
}

/* What the agent does on each resumption: open, then seal the same claims anew. The chain
 * keeps the first authentication time and ends a day after it, however often it renews. */
static void test_a_chain_of_resumptions_keeps_the_auth_time_and_ends_after_a_day(void **state)
{
	struct fixture *f = *state;
	struct ticket_claims c = f->alice;
	int64_t now = T0;
	int renewals = 0;

	seal(f, now, &c);
	for (;;) {
		now += 50 * 60;
		if (open_copy(f, now, &c) != 0)
			break;
		assert_int_equal(c.auth_time, T0);
		renewals++;
		seal(f, now, &c);
	}
	assert_int_equal(open_copy(f, now, &c), REXEC_ETICKET_EXPIRED);
	assert_true(now >= T0 + TICKET_CHAIN_MAX);
	assert_true(now < T0 + TICKET_CHAIN_MAX + 50 * 60);
	assert_int_equal(renewals, 28); /* every 50 minutes, for the 24 hours less one step */
}

/* Near its end the chain hands out shorter tickets, and none past it. */
static void test_the_chain_ends_at_the_certificates_not_after(void **state)
{
	struct fixture *f = *state;
	struct ticket_claims c = f->alice, got;
	uint32_t lifetime;
	size_t len;

	c.not_after = T0 + 100;
	assert_int_equal(seal(f, T0, &c), 100);
	assert_int_equal(open_copy(f, T0 + 99, &got), 0);
	assert_int_equal(open_copy(f, T0 + 100, &got), REXEC_ETICKET_EXPIRED);
	assert_int_equal(ticket_seal(f->keys, T0 + 100, &c, session, sizeof(session), f->ticket,
				     CAP, &len, &lifetime),
			 REXEC_ETICKET_EXPIRED);
	/* Already past: a certificate that expired before the handshake never gets one. */
	c.not_after = T0 - 1;
	assert_int_equal(ticket_seal(f->keys, T0, &c, session, sizeof(session), f->ticket, CAP,
				     &len, &lifetime),
			 REXEC_ETICKET_EXPIRED);
	/* Close to the day's end, the day decides. */
	c = f->alice;
	assert_int_equal(seal(f, T0 + TICKET_CHAIN_MAX - 60, &c), 60);
}

static void test_a_ticket_lives_an_hour(void **state)
{
	struct fixture *f = *state;
	struct ticket_claims got;

	seal(f, T0 + 1000, &f->alice);
	assert_int_equal(open_copy(f, T0 + 1000 + TICKET_LIFETIME, &got), 0);
	assert_int_equal(open_copy(f, T0 + 1000 + TICKET_LIFETIME + 1, &got),
			 REXEC_ETICKET_EXPIRED);
	/* Made "later" than now: the clock went back; not trusted either. */
	assert_int_equal(open_copy(f, T0 + 999, &got), REXEC_ETICKET_EXPIRED);
}

/* The key seals for TICKET_ROTATE; then it only opens, for one more period. */
static void test_an_old_key_opens_for_one_rotation_not_two(void **state)
{
	struct fixture *f = *state;
	struct ticket_claims got;
	uint8_t first_id[4], old_ticket[CAP];
	size_t old_len;
	int64_t sealed = T0 + TICKET_ROTATE - 30 * 60;

	seal_fresh(f, sealed);
	memcpy(first_id, f->ticket, 4);
	memcpy(old_ticket, f->ticket, f->len);
	old_len = f->len;

	/* One rotation: tickets get a new key, the old one still opens. */
	seal_fresh(f, T0 + TICKET_ROTATE + 10 * 60);
	assert_memory_not_equal(f->ticket, first_id, 4);
	memcpy(f->ticket, old_ticket, old_len);
	f->len = old_len;
	assert_int_equal(open_copy(f, T0 + TICKET_ROTATE + 10 * 60, &got), 0);
	assert_string_equal(got.cn, "alice");

	/* Two rotations: the first key is gone (not merely expired tickets). */
	seal_fresh(f, T0 + 2 * TICKET_ROTATE + 20 * 60);
	memcpy(f->ticket, old_ticket, old_len);
	assert_int_equal(open_copy(f, T0 + 2 * TICKET_ROTATE + 20 * 60, &got), REXEC_ETICKET_KEY);
}

/* Rotation happens on opening too, and a key idle for two periods goes at once. */
static void test_an_idle_agent_drops_both_keys(void **state)
{
	struct fixture *f = *state;
	struct ticket_claims got;

	seal_fresh(f, T0);
	assert_int_equal(open_copy(f, T0 + 2 * TICKET_ROTATE, &got), REXEC_ETICKET_KEY);
	seal_fresh(f, T0 + 2 * TICKET_ROTATE);
	assert_int_equal(open_copy(f, T0 + 2 * TICKET_ROTATE + 1, &got), 0);
}

static void test_foreign_damaged_and_malformed_tickets(void **state)
{
	struct fixture *f = *state;
	struct ticket_keys *other = NULL;
	struct ticket_claims got, c = f->alice;
	uint64_t rng = 42;
	uint32_t lifetime;
	size_t len;

	assert_int_equal(ticket_keys_new(&other, counter_rng, &rng, T0), 0);
	assert_int_equal(ticket_seal(other, T0, &c, session, sizeof(session), f->ticket, CAP,
				     &f->len, &lifetime),
			 0);
	ticket_keys_free(other);
	assert_int_equal(open_copy(f, T0, &got),
			 REXEC_ETICKET_KEY); /* another agent's, a restarted one's */

	seal(f, T0, &c);
	f->ticket[f->len - 20] ^= 1;
	assert_int_equal(open_copy(f, T0, &got), -EBADMSG);
	f->ticket[f->len - 20] ^= 1;
	f->len = 4 + 12 + 15;
	assert_int_equal(open_copy(f, T0, &got), -EBADMSG);

	c.cn[0] = 0;
	assert_int_equal(ticket_seal(f->keys, T0, &c, session, sizeof(session), f->ticket, CAP,
				     &len, &lifetime),
			 -EINVAL);
	c = f->alice;
	c.serial_len = TICKET_SERIAL_MAX + 1;
	assert_int_equal(ticket_seal(f->keys, T0, &c, session, sizeof(session), f->ticket, CAP,
				     &len, &lifetime),
			 -EINVAL);
	c = f->alice;
	c.n_groups = TICKET_GROUPS_MAX + 1;
	assert_int_equal(ticket_seal(f->keys, T0, &c, session, sizeof(session), f->ticket, CAP,
				     &len, &lifetime),
			 -EINVAL);
	c = f->alice;
	c.groups[1][0] = 0;
	assert_int_equal(ticket_seal(f->keys, T0, &c, session, sizeof(session), f->ticket, CAP,
				     &len, &lifetime),
			 -EINVAL);
	c = f->alice;
	assert_int_equal(ticket_seal(f->keys, T0, &c, session, sizeof(session), f->ticket,
				     TICKET_OVERHEAD + 40, &len, &lifetime),
			 -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_what_is_sealed_opens_unchanged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_a_chain_of_resumptions_keeps_the_auth_time_and_ends_after_a_day, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_the_chain_ends_at_the_certificates_not_after,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_ticket_lives_an_hour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_old_key_opens_for_one_rotation_not_two,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_idle_agent_drops_both_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_foreign_damaged_and_malformed_tickets, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
