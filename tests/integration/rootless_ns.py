"""A test body run where rootless podman runs layerfs.

`run(body)` forks a child that becomes root of a new user namespace
mapping ID_COUNT ids from host id ID_BASE on (what /etc/subuid gives a
user: not the host's root, who stays unmapped; `ids=1` maps ID_BASE
alone, as for a user without a range), in a mount namespace that
namespace owns, and calls body(ns) there.  Everything the body
mounts (layerfs with `-f`, its daemon a child of the body's process) is
mounted in that namespace, as a rootless daemon mounts, and only
processes of that user namespace may use such a FUSE mount: the kernel
refuses the host's root (EOVERFLOW, its id having no name there), so
the body reads and compares from inside too.

What only the host's root may do, the parent does on request, in the
child's mount namespace: `ns.mount_overlay()` and `ns.umount()` mount
and unmount kernel overlayfs with the host's credentials, so that the
reference mount has the options (redirect_dir, index) a user namespace
would be refused.

The child's mount namespace starts without the FUSE and overlay mounts
the host had (other tests' or other runs'): a copy would hold their
superblocks, so that their daemons would not end when the host
unmounts them.  When the body returns, the parent ends what is still
running in that namespace (daemons the body could not unmount), which
takes its mounts with it.
"""

import ctypes
import json
import os
import signal
import subprocess
import time
import traceback
import unittest

ID_BASE = 100000
ID_COUNT = 65536

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 2
PR_SET_DUMPABLE = 4

_libc = ctypes.CDLL(None, use_errno=True)


def dumpable_again():
    """Undoes what a change of this process's ids does to it: the
    kernel makes it undumpable, and since its memory was made in the
    host's user namespace (forked, not exec'ed in the new one) only the
    host's root could then read its /proc files, where the daemon finds
    a caller's capabilities, groups and namespace.  A process exec'ed
    in the namespace, as every container's is, needs none of this."""
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "PR_SET_DUMPABLE")


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def _send(f, **msg):
    f.write(json.dumps(msg) + "\n")
    f.flush()


def _receive(f):
    line = f.readline()
    return json.loads(line) if line else None


def _mount_points():
    """(path, fstype) of this mount namespace's mounts."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            out.append((parts[4].encode().decode("unicode_escape"),
                        parts[sep + 1]))
    return out


def _detach_foreign_mounts():
    """Drops this (private, host-owned) copy's FUSE and overlay mounts,
    deepest first."""
    mine = [p for p, t in _mount_points()
            if t.startswith("fuse") or t == "overlay"]
    for p in sorted(mine, key=len, reverse=True):
        _libc.umount2(p.encode(), MNT_DETACH)


class Namespace:
    """The child's end: the parent's services."""

    def __init__(self, to_parent, from_parent):
        self._out = to_parent
        self._in = from_parent

    def _ask(self, **req):
        _send(self._out, **req)
        reply = _receive(self._in)
        if reply is None:
            raise RuntimeError("the parent of the user namespace is gone")
        return reply

    def mount_overlay(self, mnt, opts):
        """Kernel overlayfs at mnt, mounted by the host's root; raises
        OSError with mount's message if refused."""
        r = self._ask(op="mount", mnt=mnt, opts=opts)
        if not r["ok"]:
            raise OSError(r["err"])

    def umount(self, mnt):
        self._ask(op="umount", mnt=mnt)


def _enter(ns):
    """This process root of the new user namespace, in a mount namespace
    of its own."""
    # A private copy first, owned by the host's user namespace, to drop
    # the host's FUSE and overlay mounts from; the namespace the body
    # runs in is copied from it.
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None),
           "mount --make-rprivate /")
    _detach_foreign_mounts()
    _check(_libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    r = ns._ask(op="map")
    if not r["ok"]:
        raise OSError(r["err"])
    os.setresgid(0, 0, 0)
    os.setgroups([])
    os.setresuid(0, 0, 0)
    dumpable_again()
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    ns._ask(op="ready")


def _child(body, to_parent, from_parent):
    ns = Namespace(to_parent, from_parent)
    verdict, text = "error", "did not start"
    try:
        try:
            _enter(ns)
        except OSError as e:
            raise unittest.SkipTest("no rootless user namespace here: %s"
                                    % e)
        body(ns)
        verdict, text = "ok", ""
    except unittest.SkipTest as e:
        verdict, text = "skip", str(e)
    except AssertionError as e:
        verdict, text = "fail", str(e)
    except BaseException:
        verdict, text = "error", traceback.format_exc()
    try:
        _send(to_parent, op="end", verdict=verdict, text=text)
    finally:
        os._exit(0)


def _processes_in(mntns):
    """Pids of the processes in the mount namespace named mntns."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/ns/mnt" % pid) == mntns:
                out.append(int(pid))
        except OSError:
            pass
    return out


def _serve(pid, ids, req):
    """The reply to one request of the child."""
    if req["op"] == "map":
        try:
            for name in ("uid_map", "gid_map"):
                with open("/proc/%d/%s" % (pid, name), "w") as f:
                    f.write("0 %d %d\n" % (ID_BASE, ids))
            return {"ok": True}
        except OSError as e:
            return {"ok": False, "err": "writing the id maps: %s" % e}
    if req["op"] == "mount":
        r = subprocess.run(["nsenter", "-t", str(pid), "-m", "--", "mount",
                            "-t", "overlay", "overlay", "-o", req["opts"],
                            req["mnt"]], capture_output=True, timeout=60)
        return {"ok": r.returncode == 0,
                "err": r.stderr.decode(errors="replace").strip()}
    if req["op"] == "umount":
        subprocess.run(["nsenter", "-t", str(pid), "-m", "--", "umount",
                        req["mnt"]], capture_output=True, timeout=60)
        return {"ok": True}
    return {"ok": True}


def run(body, ids=ID_COUNT):
    """Runs body(ns) as root of a rootless user namespace (above) that
    maps ids ids, and raises here what it raised: a failure as a
    failure, a skip as a skip, anything else as an error with the
    child's traceback."""
    if not os.path.exists("/proc/self/ns/user"):
        raise unittest.SkipTest("no user namespaces")
    c_read, p_write = os.pipe()
    p_read, c_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(p_read)
        os.close(p_write)
        _child(body, os.fdopen(c_write, "w"), os.fdopen(c_read))
    os.close(c_read)
    os.close(c_write)
    to_child, from_child = os.fdopen(p_write, "w"), os.fdopen(p_read)
    end, mntns = None, None
    try:
        while True:
            req = _receive(from_child)
            if req is None or req["op"] == "end":
                end = req
                break
            if req["op"] == "ready":
                mntns = os.readlink("/proc/%d/ns/mnt" % pid)
            _send(to_child, **_serve(pid, ids, req))
    finally:
        to_child.close()
        from_child.close()
        os.waitpid(pid, 0)
        # Whatever the body left running (daemons it could not unmount)
        # holds the namespace and its mounts: ended, by pid, here.
        for _ in range(50):
            left = _processes_in(mntns) if mntns else []
            if not left:
                break
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
    if end is None:
        raise RuntimeError("the child in the user namespace ended without "
                           "a word")
    if end["verdict"] == "skip":
        raise unittest.SkipTest(end["text"])
    if end["verdict"] == "fail":
        raise AssertionError(end["text"])
    if end["verdict"] == "error":
        raise RuntimeError("in the user namespace:\n" + end["text"])
