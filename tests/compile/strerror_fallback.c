/* Compile check: parx_strerror where the C library has no strerrordesc_np
   (glibc before 2.32, musl), forced here with PARX__NO_STRERRORDESC: every
   errno code that a parx function is documented to return, or may pass
   on from a system call, still has a name, not "unknown error". */
#define _GNU_SOURCE
#define PARX__NO_STRERRORDESC
#define PARX_IMPLEMENTATION
#include "parx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    static const int codes[] = {
        EINVAL, ENOMEM, ENODEV, EAGAIN, ETIMEDOUT, EIO, EBUSY, ECANCELED, ENOSPC,
        EPERM, EFAULT, EOPNOTSUPP, ENOENT, ENOTSUP, EFBIG, ENOSYS, ECHILD, EUSERS,
        ESPIPE, ENXIO, EBADMSG, EACCES, ENAMETOOLONG, EISDIR, EEXIST, ECONNRESET,
        EBADF, E2BIG, EMFILE, ERANGE, EOVERFLOW, EDEADLK, ENOTSOCK,
        /* passed on from the system calls under them */
        EINTR, ENFILE, ENOTDIR, ELOOP, EROFS, ETXTBSY, EXDEV, EPIPE, EDQUOT, ESTALE, ENOLCK,
        ENOEXEC, ENOBUFS, EMSGSIZE, EAFNOSUPPORT, ENOTCONN,
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(parx_strerror(-codes[i]), "unknown error") == 0) {
            printf("# -%d has no name\n", codes[i]);
            bad++;
        }
    int unknown = strcmp(parx_strerror(-4095), "unknown error") == 0;
    printf("1..2\n%s 1 - every errno code parx returns has a name without strerrordesc_np\n"
           "%s 2 - others are \"unknown error\"\n",
           bad ? "not ok" : "ok", unknown ? "ok" : "not ok");
    return bad || !unknown;
}
