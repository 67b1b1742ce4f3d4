/* policyctl.h: the policy's place in the agent (policy.h): which one it starts with (policy:,
 * --dev's own, or --allow-all; none is refused), its reload on SIGHUP, and the commands that
 * test a policy before it is deployed: --check-policy FILE and --explain. */
#ifndef REXEC_AGENT_POLICYCTL_H
#define REXEC_AGENT_POLICYCTL_H

#include "agent/agent.h"
#include "agent/config.h"

/* 1 when ARGV asks for --check-policy or --explain (then policyctl_main() is the whole run). */
int policyctl_wanted(int argc, char **argv);

/* `rexec-agent --check-policy FILE`: "FILE: ok (N rules)" and 0, or the FILE:LINE error and 1.
 * `rexec-agent --explain --policy FILE --who NAME [--group G]... VERB TARGET [TARGET...]
 * [--user U] [--default-user U] [--command "ARGV..."] [--option O]...`: "allow" or "deny"
 * and the rule that decided; 0 for allow, 1 for deny, 2 for a usage or policy error. */
int policyctl_main(int argc, char **argv);

/* The policy A starts with, from CFG: the file of `policy:`; --dev's STATE_DIR/policy.yaml
 * (written if missing) when none is given; or, with allow_all, one that allows everything
 * (with a warning). Without either, a message that says how to fix it. Returns 0, or an exit
 * code for main. */
int policyctl_setup(struct agent *a, struct agent_config *cfg);

/* SIGHUP: the policy file read again; one that does not load leaves the old policy in force
 * and the error is logged with FILE:LINE. Sessions running are not touched. */
void policyctl_reload(struct agent *a);

#endif
