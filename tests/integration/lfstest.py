"""Shared helpers for the integration tests: real mounts, layer builders,
tree snapshots and skips with reasons.

Every test mounts for real.  Mounts live under a per-test temporary
directory and are unmounted (or aborted, if the daemon hangs) in tearDown,
so a crashed daemon never blocks the next test.
"""

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("LFS_BUILD", os.path.join(ROOT, "build"))
LAYERFS = os.path.join(BUILD, "layerfs")
LAYERRUN = os.path.join(BUILD, "layerrun")
LAYERTOOL = os.path.join(BUILD, "layertool")
# Prefix of every temporary directory, so the runner can clean up after a
# test that was killed.
TMP_PREFIX = "lfstest-"
# An optional wrapper for the daemon (valgrind in `make check-valgrind`).
DAEMON_WRAPPER = os.environ.get("LFS_DAEMON_WRAPPER", "").split()
# A daemon several times slower than the plain build (valgrind, ASan,
# TSan).  Taken once, from the environment: a test that puts a wrapper
# before the daemon for one mount (prlimit, setpriv, taskset) does not
# make it slower.
SLOW_DAEMON = bool(DAEMON_WRAPPER) or any(
    os.environ.get(v) for v in ("ASAN_OPTIONS", "TSAN_OPTIONS"))
# Options every mount of the run adds last (LFS_EXTRA_OPTS=udba=reval
# runs the tests in that mode).
EXTRA_OPTS = [o for o in os.environ.get("LFS_EXTRA_OPTS", "").split(",") if o]


def is_root():
    return os.geteuid() == 0


def have_tool(name):
    return shutil.which(name) is not None


def kernel_overlay_available():
    try:
        with open("/proc/filesystems") as f:
            if any(line.split()[-1] == "overlay" for line in f):
                return True
    except OSError:
        return False
    return subprocess.run(["modprobe", "overlay"],
                          capture_output=True).returncode == 0


def mounted_fstype(path):
    """The filesystem type mounted exactly at path, or None."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            mnt = parts[4].encode().decode("unicode_escape")
            if mnt == path:
                sep = parts.index("-")
                return parts[sep + 1]
    return None


def fuse_connection_of(path):
    """The FUSE connection number (minor device) of the mount at path."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4].encode().decode("unicode_escape") == path:
                return int(parts[2].split(":")[1])
    return None


def force_unmount(path):
    """Unmounts path even if its daemon is dead or stuck."""
    conn = fuse_connection_of(path)
    if conn is not None:
        abort = "/sys/fs/fuse/connections/%d/abort" % conn
        if os.path.exists(abort):
            with contextlib.suppress(OSError):
                with open(abort, "w") as f:
                    f.write("1")
    for cmd in (["fusermount3", "-uz", path], ["umount", "-l", path]):
        if mounted_fstype(path) is None:
            return
        subprocess.run(cmd, capture_output=True, timeout=30)


def wait_stopped(pid, timeout=10):
    """Waits until every thread of the stopped process pid is in state
    T: a thread that was running when SIGSTOP came may still serve a
    request meanwhile.  (io_uring's own workers, iou-*, take no stop.)"""
    deadline = time.time() + timeout
    while True:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    comm, rest = f.read().rsplit(")", 1)
            except FileNotFoundError:
                continue
            if not comm.split("(", 1)[1].startswith("iou-"):
                states.append(rest.split()[0])
        if all(s in "Tt" for s in states):
            return
        if time.time() > deadline:
            raise AssertionError("process %d did not stop: thread states "
                                 "%s" % (pid, states))
        time.sleep(0.01)


# nanosleep and clock_nanosleep, by machine: the system calls a thread
# sleeps in at an LFS_FAULT_PAUSE point (fs/fault.c calls nanosleep,
# which glibc makes with clock_nanosleep).
SLEEP_SYSCALLS = {"x86_64": {35, 230}, "aarch64": {101, 115}}


def wait_paused(pid, n=1, timeout=30):
    """Waits until n threads of the daemon pid sleep, as one does for a
    second at an LFS_FAULT_PAUSE point: a step the test means to come
    during the pause would otherwise have to guess when it began (a
    slow daemon reaches the point later).  Nothing else in the daemon
    sleeps but for moments; under TSan, though, its background thread
    does (no module check-tsan runs uses this)."""
    calls = SLEEP_SYSCALLS[os.uname().machine]
    deadline = time.time() + timeout
    while True:
        asleep = 0
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                    nr = f.read().split()[0]
            except (FileNotFoundError, IndexError):
                continue
            # "running" for a thread not in a system call.
            asleep += nr.isdigit() and int(nr) in calls
        if asleep >= n:
            return
        if time.time() > deadline:
            raise AssertionError("%d threads of process %d paused, not %d"
                                 % (asleep, pid, n))
        time.sleep(0.01)


class Mount:
    """A layerfs mount run in the foreground by this process."""

    def __init__(self, mnt, args, proc):
        self.path = mnt
        self.args = args
        self.proc = proc

    @property
    def pid(self):
        return self.proc.pid

    def unmount(self, timeout=30):
        if mounted_fstype(self.path) is not None:
            r = subprocess.run(["fusermount3", "-u", self.path],
                               capture_output=True, timeout=timeout)
            if r.returncode != 0 and is_root():
                subprocess.run(["umount", self.path], capture_output=True,
                               timeout=timeout)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            force_unmount(self.path)
            raise
        return self.proc.returncode

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait()
        force_unmount(self.path)

    def stderr(self):
        if self.proc.stderr is None:
            return ""
        try:
            return self.proc.stderr.read().decode(errors="replace")
        except Exception:
            return ""


def start_layerfs(mnt, lower, upper=None, work=None, opts=(), extra=(),
                  env=None, timeout=20):
    """Mounts with `layerfs -f` in the background and waits until ready."""
    o = ["lowerdir=" + ":".join(lower)]
    if upper:
        o.append("upperdir=" + upper)
        o.append("workdir=" + work)
    o.extend(opts)
    o.extend(EXTRA_OPTS)
    args = DAEMON_WRAPPER + [LAYERFS, "-f", "-o", ",".join(o)] + list(extra) \
        + [mnt]
    # Error replies on the daemon's stderr (fs/reply_trace.h): a failed
    # test shows them, and so whether its errno came from the daemon.
    env = dict(os.environ if env is None else env)
    env.setdefault("LFS_TRACE_ERRORS", "1")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if mounted_fstype(mnt) == "fuse.layerfs":
            return Mount(mnt, args, proc)
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")
            raise RuntimeError("layerfs exited with %d: %s"
                               % (proc.returncode, err.strip()))
        time.sleep(0.01)
    proc.kill()
    force_unmount(mnt)
    raise RuntimeError("layerfs did not mount within %ds" % timeout)


def errno_of(fn, *args, **kw):
    """The errno fn(*args, **kw) fails with, or 0."""
    try:
        fn(*args, **kw)
        return 0
    except OSError as e:
        return e.errno


def daemon_refuses_a_request(mnt, name):
    """Makes the daemon of the mount at mnt answer one request with an
    error of its own, which no check of the kernel's makes first: a
    0/0 character device, a whiteout, is refused (EPERM) by layerfs
    alone.  Needs CAP_MKNOD."""
    try:
        os.mknod(os.path.join(mnt, name), 0o600 | stat.S_IFCHR, 0)
    except PermissionError:
        return
    raise AssertionError("the mknod of a 0/0 device was not refused")


def read(path):
    """The whole file, as bytes."""
    with open(path, "rb") as f:
        return f.read()


def write(path, data, mode="w"):
    with open(path, mode) as f:
        f.write(data)


def names_view(root, names):
    """For the given names under root (those that exist): data, link
    count and mode; and the names that share each inode."""
    seen, inodes = {}, {}
    for n in names:
        p = os.path.join(root, n)
        try:
            st = os.lstat(p)
            seen[n] = (read(p), st.st_nlink, st.st_mode)
        except FileNotFoundError:
            continue
        inodes.setdefault(st.st_ino, []).append(n)
    return seen, sorted(sorted(v) for v in inodes.values())


RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def statx_sync(path, follow=False):
    """The attributes of path as the filesystem answers them now
    (statx AT_STATX_FORCE_SYNC: FUSE asks the daemon instead of using
    what the kernel cached), as the fields of a tree entry; None if it
    fails."""
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, AT_SYMLINK_NOFOLLOW, AT_STATX_FORCE_SYNC = -100, 0x100, 0x2000
    buf = ctypes.create_string_buffer(256)
    flags = AT_STATX_FORCE_SYNC | (0 if follow else AT_SYMLINK_NOFOLLOW)
    if libc.statx(AT_FDCWD, os.fsencode(path), flags, 0x7ff, buf) != 0:
        return None
    _, _, _, nlink, uid, gid, mode, _, _, size = struct.unpack_from(
        "<IIQIIIHHQQ", buf.raw)
    out = {"type": stat.S_IFMT(mode), "mode": stat.S_IMODE(mode),
           "uid": uid, "gid": gid}
    if not stat.S_ISDIR(mode):
        out["nlink"] = nlink
    if stat.S_ISREG(mode):
        out["size"] = size
    return out


def linkat(src, dst, follow):
    """linkat(2): os.link calls link(2), which never follows a symlink,
    when follow_symlinks is left true."""
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, AT_SYMLINK_FOLLOW = -100, 0x400
    if libc.linkat(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst),
                   AT_SYMLINK_FOLLOW if follow else 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2


def utimensat(path, nsecs):
    """utimensat(2) with the two tv_nsec given (UTIME_NOW or UTIME_OMIT
    each, which os.utime cannot mix), tv_sec 0."""
    libc = ctypes.CDLL(None, use_errno=True)
    times = (ctypes.c_long * 4)(0, nsecs[0], 0, nsecs[1])
    if libc.utimensat(-100, os.fsencode(path), times, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def syncfs(path):
    """syncfs(2) of the filesystem holding path: its dirty data written
    back (the os module offers only sync)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.syncfs(fd) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    finally:
        os.close(fd)


def renameat2(old, new, flags):
    """renameat2(2), which the os module does not offer."""
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100
    r = libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD,
                       os.fsencode(new), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


SYS_GETDENTS64 = {"x86_64": 217, "aarch64": 61}.get(os.uname().machine, 217)


def getdents_entries(fd, bufsize=65536):
    """(name, d_ino, d_off) of the directory open as fd, as
    getdents64(2) gives them in replies of bufsize bytes, "." and ".."
    included (os.scandir leaves those out, and may stat)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(bufsize)
    while True:
        n = libc.syscall(SYS_GETDENTS64, fd, buf, len(buf))
        if n < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        if n == 0:
            return
        pos = 0
        while pos < n:
            ino, off, reclen = struct.unpack_from("<QqH", buf.raw, pos)
            name = buf.raw[pos + 19:pos + reclen].split(b"\0", 1)[0]
            yield os.fsdecode(name), ino, off
            pos += reclen


def getdents(path):
    """{name: d_ino} of a directory as getdents64(2) gives it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return {name: ino for name, ino, _ in getdents_entries(fd)}
    finally:
        os.close(fd)


def write_tree(root, spec):
    """Builds files under root from a dict.

    key: relative path; a trailing "/" makes a directory.
    value: str/bytes content for a file, None for a directory, or a tuple:
      ("symlink", target) ("fifo",) ("chardev", major, minor)
      ("whiteout",)   a 0/0 character device (overlay format)
      ("opaque",)     directory with trusted.overlay.opaque=y
      ("hardlink", other_relative_path)
      ("file", content, mode)
    """
    for rel, val in spec.items():
        path = os.path.join(root, rel.rstrip("/"))
        os.makedirs(os.path.dirname(path) or root, exist_ok=True)
        if rel.endswith("/") or val is None:
            os.makedirs(path, exist_ok=True)
            continue
        if isinstance(val, (str, bytes)):
            with open(path, "wb") as f:
                f.write(val.encode() if isinstance(val, str) else val)
            continue
        kind = val[0]
        if kind == "symlink":
            os.symlink(val[1], path)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "chardev":
            os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(val[1], val[2]))
        elif kind == "whiteout":
            os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
        elif kind == "opaque":
            os.makedirs(path, exist_ok=True)
            os.setxattr(path, "trusted.overlay.opaque", b"y")
        elif kind == "hardlink":
            os.link(os.path.join(root, val[1]), path)
        elif kind == "file":
            with open(path, "wb") as f:
                data = val[1]
                f.write(data.encode() if isinstance(data, str) else data)
            os.chmod(path, val[2])
        else:
            raise ValueError("unknown tree entry kind %r" % (kind,))


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


ACL_XATTRS = ("system.posix_acl_access", "system.posix_acl_default")


def snapshot(root, content=True, xattrs=False, inodes=False, times=False,
             acls=False, trusted=False, tolerant=False):
    """A comparable description of the tree under root.

    Maps each relative path to a tuple of what a user sees: type, mode,
    owner, size, content digest, link target, device numbers, and
    optionally xattrs (user.* and security.capability; with acls, the
    POSIX ACLs' system.posix_acl_* too; with trusted, trusted.* but
    kernel overlayfs's own trusted.overlay.*) and inode numbers.  With
    tolerant, a path that cannot be stat'ed or a file that cannot be read
    gets the error in its entry instead of ending the walk.
    """
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            try:
                st = os.lstat(full)
            except OSError as e:
                if not tolerant:
                    raise
                out[rel] = {"lstat": errno.errorcode.get(e.errno, e.errno)}
                continue
            entry = {"type": stat.S_IFMT(st.st_mode),
                     "mode": stat.S_IMODE(st.st_mode),
                     "uid": st.st_uid, "gid": st.st_gid}
            if stat.S_ISREG(st.st_mode):
                entry["size"] = st.st_size
                if content:
                    try:
                        entry["sha"] = file_digest(full)
                    except OSError as e:
                        if not tolerant:
                            raise
                        entry["sha"] = "read fails: " + errno.errorcode.get(
                            e.errno, str(e.errno))
            elif stat.S_ISLNK(st.st_mode):
                entry["target"] = os.readlink(full)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                entry["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            if xattrs and not stat.S_ISLNK(st.st_mode):
                try:
                    names = sorted(n for n in os.listxattr(full)
                                   if n.startswith("user.")
                                   or n == "security.capability"
                                   or (acls and n in ACL_XATTRS)
                                   or (trusted and
                                       n.startswith("trusted.") and
                                       not n.startswith("trusted.overlay.")))
                    entry["xattrs"] = {n: os.getxattr(full, n) for n in names}
                except OSError:
                    entry["xattrs"] = None
            if inodes:
                entry["ino"] = st.st_ino
            if times:
                entry["mtime"] = st.st_mtime_ns
            out[rel] = entry
    return out


ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = \
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def acl_value(entries):
    """The binary value of system.posix_acl_* for entries, a list of
    (tag, perm, id) (id None for the owner, owning group, mask and
    other), sorted here as the kernel wants them."""
    out = struct.pack("<I", 2)
    for tag, perm, qual in sorted(entries,
                                  key=lambda e: (e[0], e[2] or 0)):
        out += struct.pack("<HHI", tag, perm,
                           0xFFFFFFFF if qual is None else qual)
    return out


def acl_entries(value):
    """The (tag, perm, id) entries of an ACL xattr value."""
    return [(t, p, None if i == 0xFFFFFFFF else i)
            for t, p, i in struct.iter_unpack("<HHI", value[4:])]


# Inode flags (lsattr/chattr) through FS_IOC_GETFLAGS and SETFLAGS.
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x10
FS_APPEND_FL = 0x20
FS_NODUMP_FL = 0x40
FS_PROTECT_FL = FS_IMMUTABLE_FL | FS_APPEND_FL


def inode_flags(path):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS,
                                              b"\0" * 4))[0]
    finally:
        os.close(fd)


FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE = \
    0x01, 0x02, 0x10


def fallocate(fd, mode, off, n):
    """fallocate(2), which os.posix_fallocate offers without its mode."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(n)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def change_inode_flags(path, add=0, drop=0):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        now = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS,
                                             b"\0" * 4))[0]
        fcntl.ioctl(fd, FS_IOC_SETFLAGS,
                    struct.pack("i", (now | add) & ~drop))
    finally:
        os.close(fd)


def unprotect_tree(root):
    """Takes the immutable and append-only flags off every real file
    and directory under root (not through the mounts there), so that it
    can be removed."""
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs
                   if not os.path.ismount(os.path.join(dirpath, d))]
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
                if (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) \
                        and inode_flags(p) & FS_PROTECT_FL:
                    change_inode_flags(p, drop=FS_PROTECT_FL)
            except OSError:
                pass


# Known bugs (reported) make their tests skip with the reason, unless
# LFS_STRICT_KNOWN_BUGS=1 makes them fail; once fixed, the tests pass.
STRICT_KNOWN_BUGS = os.environ.get("LFS_STRICT_KNOWN_BUGS") == "1"


def make_deep_tree(root, depth, leaf="leaf", data="deep\n", name="d"):
    """root/d/d/.../d/leaf, DEPTH directories deep, made one descriptor
    at a time (a path from root would stop at PATH_MAX)."""
    os.makedirs(root, exist_ok=True)
    fd = os.open(root, os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        if leaf:
            with open(os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644,
                              dir_fd=fd), "w") as f:
                f.write(data)
    finally:
        os.close(fd)
    return root


def walk_down(root, depth, name="d"):
    """An O_DIRECTORY descriptor of root/d/... DEPTH levels down, opened
    one level at a time; the caller closes it."""
    fd = os.open(root, os.O_DIRECTORY)
    for _ in range(depth):
        nfd = os.open(name, os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return fd


# The descriptor limit deep-tree tests run programs with: a walk that
# holds a descriptor per level fails at a few hundred levels.
LOW_FD_LIMIT = 256


def low_fd_limit():
    """A preexec_fn: the open-files limit lowered to LOW_FD_LIMIT."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    low = LOW_FD_LIMIT if hard == resource.RLIM_INFINITY \
        else min(LOW_FD_LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))


def known_bug(test, what):
    if STRICT_KNOWN_BUGS:
        test.fail("known bug: " + what)
    test.skipTest("KNOWN BUG (reported): " + what)


class LayerfsTestCase(unittest.TestCase):
    """Base class: a scratch directory and mounts that are always cleaned."""

    def setUp(self):
        if not os.path.exists(LAYERFS):
            self.fail("%s is missing: run make first" % LAYERFS)
        self.tmp = tempfile.mkdtemp(prefix=TMP_PREFIX)
        os.chmod(self.tmp, 0o755)
        self._mounts = []
        self._daemons = []  # every daemon started, for failure reports
        self._lfs_cleanups = []

    def tearDown(self):
        # The test's own cleanups first: files it left open (closed by
        # addCleanup) would make the unmount below wait for its timeout.
        self.doCleanups()
        for m in reversed(self._mounts):
            if mounted_fstype(m.path) is not None:
                try:
                    m.unmount(timeout=20)
                except Exception:
                    force_unmount(m.path)
            if m.proc.poll() is None:
                m.proc.kill()
                m.proc.wait()
        if self._failed():
            self._report_daemon_messages()
        for fn in reversed(self._lfs_cleanups):
            with contextlib.suppress(Exception):
                fn()
        # Kernel overlay or bind mounts a test made.
        with open("/proc/self/mountinfo") as f:
            mine = [l.split()[4] for l in f if l.split()[4].startswith(self.tmp)]
        for m in sorted(mine, reverse=True):
            force_unmount(m)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _failed(self):
        """Whether the test (or one of its subtests) has failed so far."""
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return False
        return any(t is self or getattr(t, "test_case", None) is self
                   for t, _ in list(result.failures) + list(result.errors))

    def _report_daemon_messages(self):
        """What the daemons of a failed test wrote to stderr, so that a
        failure seen once (in CI, say) carries the daemon's side."""
        for m in self._daemons:
            if m.proc.poll() is None or m.proc.stderr is None:
                continue  # still running: its pipe would not end
            os.set_blocking(m.proc.stderr.fileno(), False)
            text = m.stderr().strip()
            if text:
                lines = text.splitlines()[-20:]
                sys.stderr.write("daemon of %s said:\n%s\n" % (
                    m.path, "\n".join("  " + l for l in lines)))

    def before_cleanup(self, fn):
        """Runs fn in tearDown before the scratch directory is removed
        (unittest's addCleanup runs after it)."""
        self._lfs_cleanups.append(fn)

    def path(self, *parts):
        p = os.path.join(self.tmp, *parts)
        return p

    def mkdirs(self, *names):
        out = []
        for n in names:
            p = self.path(n)
            os.makedirs(p, exist_ok=True)
            out.append(p)
        return out if len(out) > 1 else out[0]

    def holds_deep_trees(self):
        """The scratch directory is to be removed by rm -rf: shutil.rmtree
        recurses once per level, and gives up on deep trees."""
        if not getattr(self, "_rm_rf", False):
            self._rm_rf = True
            self.before_cleanup(lambda: subprocess.run(
                ["rm", "-rf", self.tmp], capture_output=True))

    def deep_tree(self, name, depth, leaf="leaf", data="deep\n"):
        """make_deep_tree at NAME in the scratch directory."""
        self.holds_deep_trees()
        return make_deep_tree(self.path(name), depth, leaf, data)

    def layer(self, name, spec):
        p = self.path(name)
        os.makedirs(p, exist_ok=True)
        write_tree(p, spec)
        return p

    def mount(self, lower, upper=None, work=None, opts=(), mnt=None,
              extra=(), env=None):
        mnt = mnt or self.path("mnt%d" % len(self._mounts))
        os.makedirs(mnt, exist_ok=True)
        m = start_layerfs(mnt, lower, upper, work, opts, extra, env)
        self._mounts.append(m)
        self._daemons.append(m)
        return m

    def kernel_overlay(self, lower, name, upper=True):
        """lower mounted by kernel overlayfs (with an upper layer of its
        own, unless upper is false), unmounted at cleanup: the path, or
        None where kernel overlayfs is not available.  For tests that
        hold layerfs to what the kernel does."""
        import overlay_util as ovl
        if not kernel_overlay_available():
            return None
        mnt = self.mkdirs(name + "-kmnt")
        if upper:
            ovl.mount_overlay(mnt, lower, self.mkdirs(name + "-kup"),
                              self.mkdirs(name + "-kwork"))
        else:
            ovl.mount_overlay(mnt, lower)
        self.before_cleanup(lambda: ovl.umount(mnt))
        return mnt

    def mount_rw(self, lower, opts=(), name="rw", env=None):
        """A mount with a fresh upper and work directory."""
        upper = self.path(name + "-upper")
        work = self.path(name + "-work")
        os.makedirs(upper, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        m = self.mount(lower, upper, work, opts, env=env)
        m.upper = upper
        m.work = work
        return m

    def require_root(self):
        if not is_root():
            self.skipTest("needs root")

    def require_kernel_overlay(self):
        """For a test that mounts kernel overlayfs beside layerfs (an
        oracle, or a writer of overlay-format layers): needs root and
        the overlay module."""
        self.require_root()
        if not kernel_overlay_available():
            self.skipTest("kernel overlayfs is not available")

    def layers_one_of_them_stoppable(self):
        """A layer holding "file", and a layerfs mount (its daemon can be
        stopped: check_past_a_stuck_request) whose directories s0 and s1
        hold "file".  A directory for each case of a test: one a case has
        read is in the inner mount's kernel caches, which answer without
        its daemon (a second case would then see nothing stuck)."""
        self.require_unchanging_layers(
            "looks for changes in every layer, the stopped one too")
        fast = self.layer("fast", {"file": "fast\n"})
        inner_src = self.layer("inner-src", {"s0/file": "slow\n",
                                             "s1/file": "slow\n"})
        return fast, self.mount([inner_src], mnt=self.path("inner"))

    def check_past_a_stuck_request(self, m, inner, slow, served,
                                   senders=contextlib.nullcontext):
        """With the daemon of `inner` (a layer of m) stopped, a stat of
        slow/file through m waits on it; a stat of "file", which m finds
        in a layer above, must then be served (or, where served is
        false, wait too).  The threads that send them are started inside
        senders().  Unmounts m."""
        done = []

        def stat(rel):
            os.stat(os.path.join(m.path, rel))
            done.append(rel)

        os.kill(inner.pid, signal.SIGSTOP)
        try:
            wait_stopped(inner.pid)
            with senders():
                stuck = threading.Thread(target=stat,
                                         args=(slow + "/file",),
                                         daemon=True)
                stuck.start()
                time.sleep(0.3)
                other = threading.Thread(target=stat, args=("file",),
                                         daemon=True)
                other.start()
            other.join(timeout=10 if served else 1)
            self.assertEqual(done, ["file"] if served else [])
        finally:
            os.kill(inner.pid, signal.SIGCONT)
        stuck.join(timeout=30)
        other.join(timeout=30)
        self.assertEqual(sorted(done), ["file", slow + "/file"])
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)

    def require_unchanging_layers(self, given_up):
        """For a test of what layerfs gains from lower layers that never
        change, which a run in udba=reval mode (LFS_EXTRA_OPTS) gives up
        (README, "udba=reval"): given_up says what, in the skip."""
        if "udba=reval" in EXTRA_OPTS:
            self.skipTest("udba=reval (LFS_EXTRA_OPTS) " + given_up)

    def require_metacopy(self):
        """For a test of metadata-only copies, which a run in udba=reval
        mode does not make."""
        self.require_unchanging_layers("makes no metadata-only copies")

    def require_inode_flags(self):
        """For a test that makes files immutable or append-only in its
        scratch directory (which must take the flags), and has them
        taken off before that directory is removed."""
        probe = self.path("inode-flags-probe")
        with open(probe, "w"):
            pass
        try:
            change_inode_flags(probe, add=FS_APPEND_FL)
        except OSError as e:
            self.skipTest("no inode flags under %s: %s"
                          % (self.path(""), e))
        change_inode_flags(probe, drop=FS_APPEND_FL)
        os.unlink(probe)
        # Protected files would outlive the removal of the scratch
        # directory.
        self.before_cleanup(lambda: unprotect_tree(self.path("")))

    def require_tool(self, *names):
        for n in names:
            if not have_tool(n):
                self.skipTest("needs %s (not installed)" % n)

    def require_strace(self):
        """strace, to inject a signal at a chosen system call; not under
        AddressSanitizer, whose leak check refuses to run traced (the
        program exits 1 whatever it did)."""
        self.require_tool("strace")
        if os.environ.get("ASAN_OPTIONS"):
            self.skipTest("LeakSanitizer does not run under strace")

    def run_cmd(self, args, check=True, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("timeout", 120)
        r = subprocess.run(args, **kw)
        if check and r.returncode != 0:
            self.fail("%s failed (%d): %s" % (
                " ".join(args), r.returncode,
                (r.stderr or b"").decode(errors="replace")))
        return r


class _MarkedResult(unittest.TextTestResult):
    """Prints one "@@result" line per test for run.py to count."""

    def _mark(self, test, verdict, why=""):
        why = " ".join(str(why).split())[:300]
        # A subtest's id has a space ("test_x (seed=3)"); run.py reads the
        # id as one word.
        tid = "".join(test.id().split())
        self.stream.write("\n@@result %s %s %s\n" % (tid, verdict, why))
        self.stream.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self._mark(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._mark(test, "fail", err[1])

    def addError(self, test, err):
        super().addError(test, err)
        self._mark(test, "fail", "%s: %s" % (err[0].__name__, err[1]))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._mark(test, "skip", reason)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._mark(subtest, "fail", err[1])


def main():
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_MarkedResult,
                                     warnings="ignore")
    unittest.main(testRunner=runner)
