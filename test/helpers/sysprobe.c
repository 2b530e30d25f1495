// Calls the named system calls once each and prints "<name> <errno>" (0 when
// the call succeeded), so a test can tell a seccomp refusal (the profile's
// errno) from the kernel's own answer. Built static by sysprobe.ts so it runs
// in any image. Every call is harmless on success: getrandom reads 16 bytes,
// keyctl and request_key look up keys that do not exist, swapon names a path
// that does not exist, sethostname renames the pod's own UTS namespace and
// mount covers / of the container's own mount namespace.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *n = argv[i];
    char buf[16];
    long r = -1;
    errno = 0;
    if (!strcmp(n, "getrandom")) r = syscall(SYS_getrandom, buf, sizeof buf, 0);
    /* KEYCTL_GET_KEYRING_ID of KEY_SPEC_THREAD_KEYRING, without creating it */
    else if (!strcmp(n, "keyctl")) r = syscall(SYS_keyctl, 0, -1, 0);
    else if (!strcmp(n, "request_key")) r = syscall(SYS_request_key, "user", "berth-probe-absent", NULL, 0);
    else if (!strcmp(n, "swapon")) r = syscall(SYS_swapon, "/berth-probe-absent", 0);
    else if (!strcmp(n, "sethostname")) r = syscall(SYS_sethostname, "probed", 6);
    else if (!strcmp(n, "mount")) r = syscall(SYS_mount, "none", "/", "tmpfs", 0, NULL);
    else errno = EINVAL;
    printf("%s %d\n", n, r < 0 ? errno : 0);
  }
  return 0;
}
