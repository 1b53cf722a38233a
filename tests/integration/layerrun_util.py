"""Helpers for the layerrun tests: a busybox-static image imported with
layertool, an unprivileged user for the rootless runs, /dev/fuse opened to
that user for the run, and layerrun run as root or as that user.

The image is a rootfs tarball made here by GNU tar: busybox-static with
its applets, the static test payload (tests/payload/lrpayload.c) and a
small /etc.  As root it is imported natively; for the rootless runs the
unprivileged user imports it itself (owners kept in override_stat
xattrs), as a rootless user of layerrun would.
"""

import contextlib
import fcntl
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time

import lfstest

LAYERRUN = lfstest.LAYERRUN
LAYERTOOL = lfstest.LAYERTOOL
PAYLOAD = os.path.join(lfstest.BUILD, "tests", "lrpayload")
# The unprivileged user of the rootless runs (created when missing).
TEST_USER = "lrtest"
APPLETS = ("sh", "ls", "cat", "echo", "ps", "hostname", "mount", "id",
           "rm", "mkdir", "sleep", "grep", "touch", "readlink", "ln",
           "chroot", "umount", "wc", "head", "stat", "true", "false",
           "kill", "mv", "chmod", "env")
# Docker's default capability set, as a CapEff mask.
DOCKER_DEFAULT_CAPS = 0xa80425fb


def find_busybox():
    """A statically linked busybox, or None."""
    for b in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if b and os.path.exists(b):
            r = subprocess.run(["file", "-L", b], capture_output=True)
            if r.returncode != 0 or b"statically linked" in r.stdout:
                return b
    return None


def write_rootfs(root, busybox, extra=None):
    """A minimal busybox root filesystem in root."""
    for d in ("bin", "etc", "root", "tmp", "proc", "sys", "dev", "home"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy(busybox, os.path.join(root, "bin", "busybox"))
    shutil.copy(PAYLOAD, os.path.join(root, "bin", "lrpayload"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(root, "bin", a))
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                      "app:x:1000:1000:app:/home:/bin/sh\n",
        "etc/group": "root:x:0:\napp:x:1000:\n",
        "etc/motd": "from the image\n",
        "etc/hosts": "10.9.9.9 image-host-file\n",
        "etc/linked": "one file, two names\n",
    }
    files.update(extra or {})
    for name, text in files.items():
        p = os.path.join(root, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    os.link(os.path.join(root, "etc", "linked"),
            os.path.join(root, "home", "linked"))


def make_rootfs_tar(workdir, busybox, extra=None):
    root = os.path.join(workdir, "rootfs")
    write_rootfs(root, busybox, extra)
    out = os.path.join(workdir, "rootfs.tar")
    subprocess.run(["tar", "--numeric-owner", "--owner=0", "--group=0",
                    "-C", root, "-cf", out, "."], check=True,
                   capture_output=True)
    shutil.rmtree(root)
    return out


def user_ids(name):
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def has_subid_range(name):
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                if not any(l.split(":")[0] == name for l in f):
                    return False
        except OSError:
            return False
    return True


def ensure_test_user():
    """(uid, gid) of the unprivileged test user, created with a subuid
    range when missing; (None, reason) when that is impossible."""
    ids = user_ids(TEST_USER)
    if ids is None:
        if not lfstest.is_root() or not shutil.which("useradd"):
            return None, "no user %s and cannot create one" % TEST_USER
        r = subprocess.run(["useradd", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", TEST_USER],
                           capture_output=True)
        ids = user_ids(TEST_USER)
        if ids is None:
            return None, "useradd %s failed: %s" % (
                TEST_USER, r.stderr.decode(errors="replace").strip())
    if not has_subid_range(TEST_USER) and lfstest.is_root():
        # A range no other user of this machine has.
        start = 300000 + 65536 * (ids[0] % 1000)
        for path in ("/etc/subuid", "/etc/subgid"):
            with open(path, "a") as f:
                f.write("%s:%d:65536\n" % (TEST_USER, start))
    return ids, None


# Shared by every test process that opens /dev/fuse to all: the mode it
# had before the first of them, restored by the last.
FUSE_MODE_LOCK = "/tmp/lfstest-dev-fuse.lock"


@contextlib.contextmanager
def fuse_open_to_all():
    """/dev/fuse mode 0666 for the block, then the mode it had (0600 on
    some machines): a rootless layerfs must open it.  Runs of the tests
    side by side share the change (a lock file), so that one ending does
    not close /dev/fuse under another's next mount."""
    if not lfstest.is_root():
        yield
        return
    with open(FUSE_MODE_LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        saved = lock.read().strip()
        old = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
        if not saved and old & 0o666 != 0o666:
            lock.truncate(0)
            lock.write("%o" % old)
            lock.flush()
            os.chmod("/dev/fuse", old | 0o666)
        # Shared while the block runs; the last one out restores.
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            _restore_fuse_mode_if_last(lock)


def _restore_fuse_mode_if_last(lock):
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return   # another block still runs: it restores
    lock.seek(0)
    saved = lock.read().strip()
    if saved:
        os.chmod("/dev/fuse", int(saved, 8))
        lock.truncate(0)


@contextlib.contextmanager
def fuse_mode(mode):
    """/dev/fuse with MODE for the block, then its own mode again."""
    old = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    os.chmod("/dev/fuse", mode)
    try:
        yield
    finally:
        os.chmod("/dev/fuse", old)


class Launcher:
    """Runs layerrun with its state in root_dir, as root or as a user."""

    def __init__(self, root_dir, user=None):
        self.root_dir = root_dir
        self.user = user  # None: as we are

    def argv(self, args):
        cmd = [LAYERRUN, "--root", self.root_dir] + list(args)
        if self.user is None:
            return cmd
        return ["runuser", "-u", self.user, "--"] + cmd

    def as_user(self, args):
        """Any command, as this launcher's user."""
        if self.user is None:
            return list(args)
        return ["runuser", "-u", self.user, "--"] + list(args)

    def run(self, args, timeout=60, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.argv(args), timeout=timeout, **kw)

    def popen(self, args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("stdin", subprocess.DEVNULL)
        # runuser would only forward some signals: signal layerrun itself.
        return subprocess.Popen(self.argv(args), **kw)

    def state_pids(self, name):
        """init, monitor and daemon pids from the container's state."""
        path = os.path.join(self.root_dir, name, "state")
        out = {}
        with open(path) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                if k in ("pid", "monitor_pid", "daemon_pid"):
                    out[k] = int(v)
        return out

    def remove_all(self):
        """Removes every container left by a test (killing it), and ends
        the user namespace keeper its runs started."""
        if not os.path.isdir(self.root_dir):
            return
        for name in os.listdir(self.root_dir):
            if os.path.isfile(os.path.join(self.root_dir, name, "state")):
                self.run(["rm", "-f", name], timeout=60)
        pid = self.userns_keeper()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not pid_alive(pid), timeout=10)

    def userns_keeper(self):
        """The pid of the kept user namespace's process recorded in the
        state root (.userns), when that process still runs; else None."""
        try:
            with open(os.path.join(self.root_dir, ".userns")) as f:
                pid, start = (int(v) for v in f.read().split())
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%d/comm" % pid) as f:
                comm = f.read().strip()
        except (OSError, ValueError):
            return None
        # Field 22 of stat is the start time; fields[0] here is field 3.
        if int(fields[19]) != start or comm != "layerrun-userns":
            return None
        return pid


def wait_for(pred, timeout=20, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def reaped(p):
    """Yields the Popen p; on the way out kills it if it still runs,
    waits for it and closes its pipes."""
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for f in (p.stdout, p.stderr):
            if f:
                f.close()


def kill_quietly(pid, sig=signal.SIGKILL):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
