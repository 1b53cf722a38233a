"""Small helpers of the benchmark: progress on stderr, commands, mounts,
caches and processes."""

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time

_START = time.monotonic()
_QUIET = False


class BenchError(Exception):
    """A failure the user sees as one line: 'bench: <message>'."""


def set_quiet(quiet):
    global _QUIET
    _QUIET = quiet


def progress(msg):
    """One progress line on stderr, stamped with the time since start."""
    if _QUIET:
        return
    t = time.monotonic() - _START
    sys.stderr.write("[%4d:%02d] %s\n" % (t // 60, t % 60, msg))
    sys.stderr.flush()


def is_root():
    return os.geteuid() == 0


def have_cap(bit):
    """Whether this process has capability number bit in its effective set."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << bit))
    except OSError:
        pass
    return False


CAP_SYS_RESOURCE = 24


def which(name):
    return shutil.which(name)


def run(args, check=True, timeout=3600, **kw):
    """subprocess.run with captured output and one clear error line."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    try:
        r = subprocess.run(args, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise BenchError("%s: timed out after %ds" % (_show(args), timeout))
    except OSError as e:
        raise BenchError("cannot run %s: %s" % (_show(args), e.strerror))
    if check and r.returncode != 0:
        raise BenchError("%s failed (exit %d): %s" % (
            _show(args), r.returncode, last_line(r.stderr)))
    return r


def last_line(data):
    """The last non-empty line of a command's output, for error messages."""
    if data is None:
        return ""
    if isinstance(data, bytes):
        data = data.decode(errors="replace")
    lines = [x.strip() for x in data.strip().splitlines() if x.strip()]
    return lines[-1] if lines else ""


def _show(args):
    if isinstance(args, str):
        return args
    return " ".join(os.path.basename(a) if i == 0 else a
                    for i, a in enumerate(args[:4])) + \
        (" ..." if len(args) > 4 else "")


def timed(args, timeout=3600, **kw):
    """Runs a command and returns (seconds, CompletedProcess).

    The clock covers the command only (fork and exec included), not the
    Python work around it.  On timeout the command's whole process group
    is killed, so a pipeline cannot outlive it."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(args, start_new_session=True, **kw)
    except OSError as e:
        raise BenchError("cannot run %s: %s" % (_show(args), e.strerror))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise BenchError("%s: timed out after %ds" % (_show(args), timeout))
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    t1 = time.perf_counter()
    return t1 - t0, subprocess.CompletedProcess(args, proc.returncode, out,
                                                err)


def drop_caches():
    """Drops the page, dentry and inode caches (root only)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def can_drop_caches():
    return is_root() and os.access("/proc/sys/vm/drop_caches", os.W_OK)


def mountinfo():
    """(mountpoint, fstype) for every mount of this process's namespace."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            mnt = parts[4].encode().decode("unicode_escape")
            sep = parts.index("-")
            out.append((mnt, parts[sep + 1]))
    return out


def mounted_fstype(path):
    path = os.path.realpath(path)
    kind = None
    for mnt, fstype in mountinfo():
        if mnt == path:
            kind = fstype
    return kind


def mounts_below(path):
    path = os.path.realpath(path)
    return [m for m, _ in mountinfo()
            if m == path or m.startswith(path + "/")]


def fuse_connection(path):
    """The FUSE connection number (minor device) of the mount at path."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4].encode().decode("unicode_escape") == path:
                return int(parts[2].split(":")[1])
    return None


def force_unmount(path):
    """Unmounts path even when its daemon is stuck: the FUSE connection is
    aborted first, then the mount is detached."""
    kind = mounted_fstype(path)
    if kind is None:
        return
    if kind.startswith("fuse"):
        conn = fuse_connection(path)
        abort = "/sys/fs/fuse/connections/%s/abort" % conn
        with contextlib.suppress(OSError):
            with open(abort, "w") as f:
                f.write("1")
    for cmd in (["umount", path], ["fusermount3", "-uz", path],
                ["fusermount", "-uz", path], ["umount", "-l", path]):
        if mounted_fstype(path) is None:
            return
        with contextlib.suppress(Exception):
            subprocess.run(cmd, capture_output=True, timeout=60)


def wait_pid_gone(pid, timeout=30.0):
    """Waits until process pid has exited (it need not be our child).
    Through a pidfd, which the kernel makes readable the moment the
    process exits: looking every millisecond instead rounded each exit
    up to the next look, adding up to a millisecond to a timed unmount
    whose daemon was not gone at the first one."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):
        return _poll_pid_gone(pid, timeout)
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        if not p.poll(int(timeout * 1000)):
            return False
    finally:
        os.close(fd)
    # A zombie of ours is reaped.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return True


def _poll_pid_gone(pid, timeout):
    """wait_pid_gone where pidfds are missing (Linux before 5.3)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie of ours counts as gone once reaped.
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.001)
    return False


def find_daemon(exe_names, mountpoint):
    """The pid of a daemon whose command line names mountpoint."""
    mnt = os.path.realpath(mountpoint).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0]:
            continue
        if os.path.basename(argv[0]).decode(errors="replace") not in exe_names:
            continue
        if any(os.path.realpath(a) == mnt for a in argv[1:] if a):
            return int(entry)
    return None


def vm_kib(pid, field):
    """A memory figure of /proc/PID/status (VmHWM: peak resident set,
    VmRSS: resident set now), in KiB."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError as e:
        raise BenchError("cannot read the status of pid %d: %s"
                         % (pid, e.strerror))
    raise BenchError("no %s for pid %d" % (field, pid))


def settled_rss_kib(pid, timeout=5.0):
    """VmRSS once it has stopped falling for a while (forgets arrive in
    batches after the kernel drops its caches), or after timeout."""
    deadline = time.monotonic() + timeout
    last = vm_kib(pid, "VmRSS")
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = vm_kib(pid, "VmRSS")
        if now >= last:
            return now
        last = now
    return last


def rmtree(path):
    """Removes a tree; refuses when something is mounted inside it."""
    if not os.path.lexists(path):
        return
    busy = mounts_below(path)
    if busy:
        for m in sorted(busy, reverse=True):
            force_unmount(m)
        busy = mounts_below(path)
        if busy:
            raise BenchError("cannot remove '%s': '%s' is still mounted"
                             % (path, busy[0]))
    subprocess.run(["rm", "-rf", "--one-file-system", "--", path],
                   check=False, capture_output=True)
    if os.path.lexists(path):
        raise BenchError("cannot remove '%s'" % path)


def fresh_dir(path):
    rmtree(path)
    os.makedirs(path)
    return path


def copy_tree(src, dst):
    """A copy keeping types, modes, owners, times, xattrs, holes and hard
    links (cp -a)."""
    run(["cp", "-a", "--", src, dst])


def count_lines(data):
    return len([x for x in data.splitlines() if x])
