/*
 * policy: the default request policy, which allows every request.  The
 * filter engine (issue 4) replaces this file's body; the contract is in
 * policy.h.
 */
#include "proxy/policy.h"

#include <stdio.h>

int policy_init(const struct config *cfg, char *err, size_t errlen)
{
	return 0;
}

int policy_reload(const struct config *cfg, char *err, size_t errlen)
{
	return 0;
}

void policy_shutdown(void)
{
}

int policy_decide(const struct policy_request *req, struct policy_result *res)
{
	res->action = POLICY_ALLOW;
	snprintf(res->verdict, sizeof res->verdict, "allow");
	return 0;
}
