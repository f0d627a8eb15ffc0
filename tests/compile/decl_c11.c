/* Compile check: the declarations alone, as C11.
   parx.h comes first, so anything it needs it must include itself; the build
   compiles this file with -std=c11 -Wall -Wextra -Wpedantic -Werror. The
   implementation is linked from parx.c, so this also checks that the
   declarations match the definitions a separate unit provides. */
#include "parx.h"

#include <errno.h>
#include <stdio.h>

int main(void)
{
    const char *msg = parx_strerror(-EINVAL);
    int ok = msg != NULL && msg[0] != '\0';

    printf("1..1\n%s 1 - parx_strerror(-EINVAL) names the error through the declarations\n",
           ok ? "ok" : "not ok");
    return ok ? 0 : 1;
}
