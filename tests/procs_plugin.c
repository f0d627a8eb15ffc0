/* SPDX-License-Identifier: MIT */
/* tests/procs_plugin.c -- a library for tests/procs_caller.c to dlopen:
   built twice (PLUGIN_RESULT 43 and 44), the same code at the same offsets,
   so that the second, loaded where the first was unloaded, has its job
   function at the first one's address. */
int plugin_job(void *arg);

int plugin_job(void *arg)
{
    (void)arg;
    return PLUGIN_RESULT;
}
