// The built-in copy of the RuntimeDefault policy, used only where the
// maintained profile (/usr/share/containers/seccomp.json, Debian package
// golang-github-containers-common) is not installed. It takes the same
// decisions as containers-common 0.50's profile (seccomp.test.ts compares the
// two whenever the file is present), written down by concern so a reviewer
// can reason about each group:
// - unknown syscalls fail with ENOSYS, not EPERM: a program probing a syscall
//   newer than the profile (clone3, faccessat2 once were) falls back to the
//   older one, where EPERM would make it give up;
// - what the kernel already restricts by capability or permission (mount,
//   unshare, ptrace, reboot, keyctl…) is allowed and left to the kernel,
//   whose answer is EPERM without the capability;
// - what the kernel does not guard well enough inside a container
//   (sethostname, bpf, module loading, clock setting…) is allowed only with
//   the capability and refused with EPERM otherwise;
// - obsolete and host-wide syscalls are refused with EPERM.
import type { MaintainedProfile, ProfileRule } from './seccomp.js';

const FILES = [
  'access', 'faccessat', 'faccessat2', 'chdir', 'fchdir', 'chmod', 'fchmod', 'fchmodat', 'chown', 'chown32', 'fchown',
  'fchown32', 'fchownat', 'lchown', 'lchown32', 'close', 'close_range', 'creat', 'dup', 'dup2', 'dup3', 'fadvise64',
  'fadvise64_64', 'fallocate', 'fcntl', 'fcntl64', 'fdatasync', 'flock', 'fstat', 'fstat64', 'fstatat64', 'fstatfs',
  'fstatfs64', 'fsync', 'ftruncate', 'ftruncate64', 'getcwd', 'getdents', 'getdents64', 'link', 'linkat', 'lseek',
  '_llseek', 'lstat', 'lstat64', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'newfstatat', 'open', 'openat', 'openat2',
  'pread64', 'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat',
  'readv', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'sendfile64', 'splice', 'stat', 'stat64', 'statfs',
  'statfs64', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'tee', 'truncate', 'truncate64',
  'umask', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimensat_time64', 'utimes', 'futimesat', 'write', 'writev',
  'copy_file_range', 'getxattr', 'lgetxattr', 'fgetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'setxattr',
  'lsetxattr', 'fsetxattr', 'removexattr', 'lremovexattr', 'fremovexattr', 'memfd_create', 'name_to_handle_at',
  'ioctl', 'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'fanotify_mark', 'io_cancel',
  'io_destroy', 'io_getevents', 'io_setup', 'io_submit', 'readdir',
];

const MEMORY = [
  'brk', 'madvise', 'membarrier', 'mincore', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mmap2', 'mprotect', 'mremap',
  'msync', 'munlock', 'munlockall', 'munmap', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'remap_file_pages',
  'set_mempolicy', 'get_mempolicy', 'mbind', 'memfd_secret',
];

const PROCESS = [
  'capget', 'capset', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'vfork', 'getegid', 'getegid32', 'geteuid',
  'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getpgid', 'getpgrp', 'getpid', 'getppid',
  'getpriority', 'getresgid', 'getresgid32', 'getresuid', 'getresuid32', 'getrlimit', 'get_robust_list', 'getrusage',
  'getsid', 'gettid', 'getuid', 'getuid32', 'ioprio_get', 'ioprio_set', 'kill', 'prctl', 'prlimit64', 'rseq',
  'sched_getaffinity', 'sched_getattr', 'sched_getparam', 'sched_get_priority_max', 'sched_get_priority_min',
  'sched_getscheduler', 'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_setaffinity', 'sched_setattr',
  'sched_setparam', 'sched_setscheduler', 'sched_yield', 'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid',
  'setgid32', 'setgroups', 'setgroups32', 'setitimer', 'setpgid', 'setpriority', 'setregid', 'setregid32',
  'setresgid', 'setresgid32', 'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'set_robust_list',
  'setsid', 'set_thread_area', 'set_tid_address', 'setuid', 'setuid32', 'tgkill', 'tkill', 'times', 'uname', 'wait4',
  'waitid', 'waitpid', 'pidfd_open', 'pidfd_send_signal', 'pidfd_getfd', 'process_mrelease', 'getitimer', 'alarm',
  'pause', 'restart_syscall', 'get_thread_area', 'sysinfo', 'getcpu', 'futex', 'futex_time64', 'landlock_add_rule',
  'landlock_create_ruleset', 'landlock_restrict_self', 'seccomp', 'getrandom', 'ugetrlimit', 'syscall',
];

const SIGNALS_AND_TIME = [
  'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend',
  'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'sigaction', 'sigaltstack', 'signal', 'signalfd',
  'signalfd4', 'sigpending', 'sigprocmask', 'sigreturn', 'sigsuspend', 'clock_getres', 'clock_getres_time64',
  'clock_gettime', 'clock_gettime64', 'clock_nanosleep', 'clock_nanosleep_time64', 'gettimeofday', 'nanosleep',
  'time', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime',
  'timer_settime64', 'timerfd_create', 'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64',
  'timerfd', 'adjtimex', 'clock_adjtime', 'clock_adjtime64',
];

const IO_WAIT_AND_IPC = [
  'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait',
  'epoll_wait_old', 'eventfd', 'eventfd2', 'poll', 'ppoll', 'ppoll_time64', 'pselect6', 'pselect6_time64', 'select',
  '_newselect', 'pipe', 'pipe2', 'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64',
  'mq_timedsend', 'mq_timedsend_time64', 'mq_unlink', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget',
  'semop', 'semtimedop', 'semtimedop_time64', 'shmat', 'shmctl', 'shmdt', 'shmget', 'ipc',
];

const NETWORK = [
  'accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'listen', 'recv', 'recvfrom',
  'recvmmsg', 'recvmmsg_time64', 'recvmsg', 'send', 'sendmmsg', 'sendmsg', 'sendto', 'setsockopt', 'shutdown',
  'socketcall', 'socketpair',
];

/** Guarded by the kernel's own capability and permission checks. */
const KERNEL_CHECKED = [
  'clone', 'clone3', 'unshare', 'setns', 'mount', 'umount', 'umount2', 'pivot_root', 'fsconfig', 'fsmount', 'fsopen',
  'fspick', 'mount_setattr', 'move_mount', 'open_tree', 'ptrace', 'process_vm_readv', 'process_vm_writev', 'reboot',
  'syslog', 'keyctl',
];

/** Obsolete, or reaching past the container to the host: refused whatever the capabilities. */
const REFUSED = [
  'bdflush', 'io_pgetevents', 'kexec_file_load', 'kexec_load', 'migrate_pages', 'move_pages', 'nfsservctl', 'nice',
  'oldfstat', 'oldlstat', 'oldolduname', 'oldstat', 'olduname', 'pciconfig_iobase', 'pciconfig_read',
  'pciconfig_write', 'sgetmask', 'ssetmask', 'swapcontext', 'swapoff', 'swapon', 'sysfs', 'uselib', 'userfaultfd',
  'ustat', 'vm86', 'vm86old', 'vmsplice',
];

/** Allowed only with the capability, EPERM without it. */
const BY_CAPABILITY: [string, string[]][] = [
  ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
  ['CAP_SYS_ADMIN', ['bpf', 'fanotify_init', 'lookup_dcookie', 'perf_event_open', 'quotactl', 'setdomainname', 'sethostname', 'setns']],
  ['CAP_SYS_CHROOT', ['chroot']],
  ['CAP_SYS_MODULE', ['delete_module', 'finit_module', 'init_module', 'query_module']],
  ['CAP_SYS_PACCT', ['acct']],
  ['CAP_SYS_PTRACE', ['kcmp', 'process_madvise']],
  ['CAP_SYS_RAWIO', ['ioperm', 'iopl']],
  ['CAP_SYS_TIME', ['clock_settime', 'clock_settime64', 'settimeofday', 'stime']],
  ['CAP_SYS_TTY_CONFIG', ['vhangup']],
];

/** Syscalls of one architecture family, by libseccomp's native names. */
const BY_ARCH: [string[], string[]][] = [
  [['amd64', 'x32'], ['arch_prctl']],
  [['amd64', 'x32', 'x86'], ['modify_ldt']],
  [['arm', 'arm64'], ['arm_fadvise64_64', 'arm_sync_file_range', 'breakpoint', 'cacheflush', 'set_tls', 'sync_file_range2']],
  [['ppc64le'], ['sync_file_range2']],
  [['s390', 's390x'], ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr']],
];

// personality(2) only with the values programs use to ask for the Linux
// personality (PER_LINUX, PER_LINUX32, with UNAME26) or to query it (0xffffffff).
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

const EPERM = 1;
const EINVAL = 22;
const ENOSYS = 38;
const AF_NETLINK = 16;
const NETLINK_AUDIT = 9;

const eq = (index: number, value: number, op = 'SCMP_CMP_EQ') => ({ index, value, valueTwo: 0, op });

function rules(): ProfileRule[] {
  const out: ProfileRule[] = [
    { names: REFUSED, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
    {
      names: [
        ...FILES, ...MEMORY, ...PROCESS, ...SIGNALS_AND_TIME, ...IO_WAIT_AND_IPC, ...NETWORK, ...KERNEL_CHECKED,
      ].sort(),
      action: 'SCMP_ACT_ALLOW',
    },
    ...PERSONALITIES.map((v): ProfileRule => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [eq(0, v)] })),
    ...BY_ARCH.map(([arches, names]): ProfileRule => ({ names, action: 'SCMP_ACT_ALLOW', includes: { arches } })),
  ];
  for (const [cap, names] of BY_CAPABILITY) {
    out.push({ names, action: 'SCMP_ACT_ALLOW', includes: { caps: [cap] } });
    out.push({ names, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, excludes: { caps: [cap] } });
  }
  // Without CAP_AUDIT_WRITE a container may not open the kernel's audit
  // socket (EINVAL, as if the protocol did not exist); every other socket is fine.
  const noAudit = { caps: ['CAP_AUDIT_WRITE'] };
  out.push(
    { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: EINVAL, args: [eq(0, AF_NETLINK), eq(2, NETLINK_AUDIT)], excludes: noAudit },
    { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [eq(2, NETLINK_AUDIT, 'SCMP_CMP_NE')], excludes: noAudit },
    { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [eq(0, AF_NETLINK, 'SCMP_CMP_NE')], excludes: noAudit },
    { names: ['socket'], action: 'SCMP_ACT_ALLOW', includes: noAudit },
  );
  return out;
}

export const BUILTIN_PROFILE: MaintainedProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: ENOSYS,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    { architecture: 'SCMP_ARCH_MIPS64', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'] },
    { architecture: 'SCMP_ARCH_MIPS64N32', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'] },
    { architecture: 'SCMP_ARCH_MIPSEL64', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'] },
    { architecture: 'SCMP_ARCH_MIPSEL64N32', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'] },
    { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
  ],
  syscalls: rules(),
};
