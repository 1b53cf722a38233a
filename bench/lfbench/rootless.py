"""What the rootless container-start workload needs around it: the
unprivileged user (created with subordinate id ranges when missing),
/dev/fuse opened to it for the workload, a scratch directory it owns and
can reach, and the keywords that run a command as that user.

Commands run as the user through subprocess.Popen(user=, group=,
extra_groups=[]), so no wrapper program (runuser, setpriv) sits in the
timed region."""

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile

from . import util
from .util import BenchError, progress

DEFAULT_USER = "lfbench"
SUBID_FILES = ("/etc/subuid", "/etc/subgid")
SUBID_COUNT = 65536
# Ranges start at least here (where useradd starts them).
SUBID_FIRST = 100000


def _subid_ranges(path):
    """[(name, start, count)] of one subordinate id file."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) != 3:
                    continue
                try:
                    out.append((fields[0], int(fields[1]), int(fields[2])))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return out


def _has_range(pw, path):
    return any(n in (pw.pw_name, str(pw.pw_uid)) and count >= SUBID_COUNT
               for n, _, count in _subid_ranges(path))


def _free_range_start():
    """The first multiple of 65536 above every range of both files: a
    range no other user of the machine has."""
    end = SUBID_FIRST
    for path in SUBID_FILES:
        for _, start, count in _subid_ranges(path):
            end = max(end, start + count)
    return -(-end // SUBID_COUNT) * SUBID_COUNT


def ensure_user(name, may_create):
    """(pwd entry, None, [notes]) of the unprivileged user, created when
    missing (with a subordinate uid and gid range of its own) if
    may_create; (None, reason, []) when there is none to use."""
    notes = []
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        pw = None
    if pw is None:
        if not may_create:
            return None, "no user %s (--no-install: not created)" % name, []
        if not util.which("useradd"):
            return None, "no user %s and no useradd to create it" % name, []
        r = subprocess.run(["useradd", "--system", "--no-create-home",
                            "--shell", "/usr/sbin/nologin", name],
                           capture_output=True)
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            return None, "useradd %s failed: %s" % (
                name, util.last_line(r.stderr)), []
        progress("container_start_rootless: created the system user %s"
                 % name)
        notes.append("the bench created the system user %s (useradd "
                     "--system) for the rootless container start" % name)
    if pw.pw_uid == 0:
        return None, "user %s is root" % name, []
    missing = [p for p in SUBID_FILES if not _has_range(pw, p)]
    if missing and may_create:
        start = _free_range_start()
        for path in missing:
            with open(path, "a") as f:
                f.write("%s:%d:%d\n" % (name, start, SUBID_COUNT))
        notes.append("the bench gave user %s the subordinate id range "
                     "%d-%d in %s" % (name, start, start + SUBID_COUNT - 1,
                                      " and ".join(missing)))
    return pw, None, notes


def has_subid_ranges(pw):
    return all(_has_range(pw, p) for p in SUBID_FILES)


@contextlib.contextmanager
def fuse_open_to_all(notes):
    """/dev/fuse mode 0666 for the block (a rootless FUSE mount opens it
    itself; Debian has 0666, some machines 0600), then its own mode again,
    also when the block is interrupted."""
    try:
        old = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    except OSError:
        yield
        return
    if old & 0o666 == 0o666 or not util.is_root():
        yield
        return
    os.chmod("/dev/fuse", old | 0o666)
    notes.append("/dev/fuse was mode %o: the bench set it to %o for the "
                 "rootless container start and put %o back after" % (
                     old, old | 0o666, old))
    try:
        yield
    finally:
        os.chmod("/dev/fuse", old)


class User:
    """The unprivileged user and its scratch directory: what runs as it,
    with which environment."""

    def __init__(self, pw, base, own_base):
        self.pw = pw
        self.name = pw.pw_name
        self.uid = pw.pw_uid
        self.gid = pw.pw_gid
        self.base = base            # the user's scratch directory
        self.own_base = own_base    # made under /tmp for the run
        self.home = self.mkdir("home")
        # layerrun keeps its state in $TMPDIR/layerrun-UID (no
        # XDG_RUNTIME_DIR: no login session).
        self.tmp = self.mkdir("tmp", 0o700)

    def mkdir(self, rel, mode=0o755):
        """A fresh directory of the user's below its scratch."""
        path = os.path.join(self.base, rel)
        util.fresh_dir(path)
        os.chmod(path, mode)
        os.chown(path, self.uid, self.gid)
        return path

    def chown_tree(self, path):
        util.run(["chown", "-R", "--no-dereference", "%d:%d" % (
            self.uid, self.gid), "--", path])

    def env(self, **extra):
        e = dict(os.environ, HOME=self.home, USER=self.name,
                 LOGNAME=self.name, TMPDIR=self.tmp)
        # No login session: no runtime directory, no session bus; and
        # nothing of root's configuration.
        for k in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                  "XDG_CACHE_HOME", "XDG_STATE_HOME",
                  "DBUS_SESSION_BUS_ADDRESS", "MAIL", "SUDO_USER",
                  "SUDO_UID", "SUDO_GID", "SUDO_COMMAND"):
            e.pop(k, None)
        e.update(extra)
        return e

    def kw(self, env=None, cwd=None):
        """The keywords of util.run, util.timed and subprocess that run a
        command as the user."""
        return {"user": self.uid, "group": self.gid, "extra_groups": [],
                "env": env if env is not None else self.env(),
                "cwd": cwd or self.home}

    def can_reach(self, path):
        r = subprocess.run(["test", "-d", path, "-a", "-w", path, "-a", "-x",
                            path], capture_output=True, timeout=60,
                           **self.kw(cwd="/"))
        return r.returncode == 0

    def leftovers(self, marks):
        """Pids of the user's processes whose command line names one of
        marks (its directories)."""
        out = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                if os.stat("/proc/" + p).st_uid != self.uid:
                    continue
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if any(m.encode() in cmdline for m in marks):
                out.append(int(p))
        return out

    def end_leftovers(self, marks, notes):
        """Ends what the workload's commands left running, by pid."""
        pids = self.leftovers(marks)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            util.wait_pid_gone(pid, 10)
        if pids:
            notes.append("container_start_rootless: ended %d process(es) "
                         "the launchers left behind" % len(pids))

    def remove(self):
        util.rmtree(self.base)
        if self.own_base:
            shutil.rmtree(self.own_base, ignore_errors=True)


def make_user_scratch(pw, scratch):
    """The user's scratch directory: below the run's scratch when the user
    can reach it, else a fresh directory under /tmp (mode 0755) made for
    the run.  Returns a User."""
    d = os.path.join(scratch, "rootless")
    util.fresh_dir(d)
    os.chmod(d, 0o755)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    u = User(pw, d, None)
    if u.can_reach(d):
        return u
    util.rmtree(d)
    top = tempfile.mkdtemp(prefix="lfb-", dir="/tmp")
    progress("container_start_rootless: %s cannot reach the run's scratch "
             "directory; its files go to %s" % (pw.pw_name, top))
    os.chmod(top, 0o755)
    d = os.path.join(top, "user")
    os.makedirs(d)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    u = User(pw, d, top)
    if not u.can_reach(d):
        u.remove()
        raise BenchError("user %s cannot reach a directory under /tmp"
                         % pw.pw_name)
    return u
