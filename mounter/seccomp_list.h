/*
 * The system calls a container may not make (seccomp.c), as
 * SECCOMP_DENY(name, capability): a granted capability lifts the ban
 * (--cap-add), NO_CAP means nothing does.  The build turns the names
 * into each ABI's numbers (gen/seccomp_numbers.c); a name an ABI lacks
 * is left out there.
 *
 * The first group reaches what no namespace separates; the second is
 * kernel surface a container has no use for; the rest the kernel already
 * refuses without the capability, refused a second time in case one of
 * its checks is wrong (as Docker's profile does).  clone, unshare and
 * setns stay open: new namespaces need CAP_SYS_ADMIN, except a user
 * namespace, which the container cannot make (user.max_user_namespaces
 * is 0 in its own, ctr_child.c).
 */

/* The kernel keyrings are one per user for the whole host: a container
 * could read the keys of its user (root's, for a root container). */
SECCOMP_DENY(keyctl, NO_CAP)
SECCOMP_DENY(add_key, NO_CAP)
SECCOMP_DENY(request_key, NO_CAP)
/* io_uring performs opens, reads and sends that seccomp never sees. */
SECCOMP_DENY(io_uring_setup, NO_CAP)
SECCOMP_DENY(io_uring_enter, NO_CAP)
SECCOMP_DENY(io_uring_register, NO_CAP)
/* Kernel surface with a history of exploits and no use in a container. */
SECCOMP_DENY(userfaultfd, CAP_SYS_PTRACE)
SECCOMP_DENY(perf_event_open, CAP_PERFMON)
SECCOMP_DENY(bpf, CAP_BPF)
SECCOMP_DENY(uselib, NO_CAP)
SECCOMP_DENY(ustat, NO_CAP)
SECCOMP_DENY(sysfs, NO_CAP)
SECCOMP_DENY(_sysctl, NO_CAP)
SECCOMP_DENY(lookup_dcookie, NO_CAP)
SECCOMP_DENY(vm86, NO_CAP)
SECCOMP_DENY(vm86old, NO_CAP)
/* Refused without the capability by the kernel too. */
SECCOMP_DENY(mount, CAP_SYS_ADMIN)
SECCOMP_DENY(umount, CAP_SYS_ADMIN)
SECCOMP_DENY(umount2, CAP_SYS_ADMIN)
SECCOMP_DENY(pivot_root, CAP_SYS_ADMIN)
SECCOMP_DENY(fsopen, CAP_SYS_ADMIN)
SECCOMP_DENY(fsconfig, CAP_SYS_ADMIN)
SECCOMP_DENY(fsmount, CAP_SYS_ADMIN)
SECCOMP_DENY(fspick, CAP_SYS_ADMIN)
SECCOMP_DENY(move_mount, CAP_SYS_ADMIN)
SECCOMP_DENY(open_tree, CAP_SYS_ADMIN)
SECCOMP_DENY(mount_setattr, CAP_SYS_ADMIN)
SECCOMP_DENY(swapon, CAP_SYS_ADMIN)
SECCOMP_DENY(swapoff, CAP_SYS_ADMIN)
SECCOMP_DENY(quotactl, CAP_SYS_ADMIN)
SECCOMP_DENY(quotactl_fd, CAP_SYS_ADMIN)
SECCOMP_DENY(fanotify_init, CAP_SYS_ADMIN)
SECCOMP_DENY(open_by_handle_at, CAP_DAC_READ_SEARCH)
SECCOMP_DENY(kexec_load, CAP_SYS_BOOT)
SECCOMP_DENY(kexec_file_load, CAP_SYS_BOOT)
SECCOMP_DENY(reboot, CAP_SYS_BOOT)
SECCOMP_DENY(init_module, CAP_SYS_MODULE)
SECCOMP_DENY(finit_module, CAP_SYS_MODULE)
SECCOMP_DENY(delete_module, CAP_SYS_MODULE)
SECCOMP_DENY(iopl, CAP_SYS_RAWIO)
SECCOMP_DENY(ioperm, CAP_SYS_RAWIO)
SECCOMP_DENY(acct, CAP_SYS_PACCT)
SECCOMP_DENY(settimeofday, CAP_SYS_TIME)
SECCOMP_DENY(stime, CAP_SYS_TIME)
SECCOMP_DENY(clock_settime, CAP_SYS_TIME)
SECCOMP_DENY(clock_settime64, CAP_SYS_TIME)
SECCOMP_DENY(clock_adjtime, CAP_SYS_TIME)
SECCOMP_DENY(clock_adjtime64, CAP_SYS_TIME)
SECCOMP_DENY(syslog, CAP_SYSLOG)
SECCOMP_DENY(vhangup, CAP_SYS_TTY_CONFIG)
