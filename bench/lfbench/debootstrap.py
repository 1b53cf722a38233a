"""A Debian minbase tree from debootstrap, when a mirror is reachable.

Tried once per cache: a short probe of the mirror first, then debootstrap
with a time limit.  Any failure gives a reason and the caller falls back
to the synthetic tree."""

import os
import urllib.error
import urllib.request

from . import util
from .util import BenchError, progress

DEFAULT_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"


def _mirror_reachable(mirror, suite, timeout=10):
    url = "%s/dists/%s/Release" % (mirror.rstrip("/"), suite)
    try:
        req = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status == 200, "HTTP %d from %s" % (r.status, url)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return False, "%s: %s" % (url, reason)


def _ensure_debootstrap():
    if util.which("debootstrap"):
        return None
    if not util.is_root():
        return "debootstrap is not installed (apt-get install debootstrap)"
    progress("installing debootstrap with apt-get")
    r = util.run(["apt-get", "install", "-y", "--no-install-recommends",
                  "debootstrap"], check=False, timeout=600,
                 env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if r.returncode != 0 or not util.which("debootstrap"):
        return "cannot install debootstrap: %s" % util.last_line(r.stderr)
    return None


def minbase_tree(cache_root, mirror=DEFAULT_MIRROR, timeout=1200):
    """Returns (path of a cached minbase root, None) or (None, reason)."""
    base = os.path.join(cache_root, "debootstrap-%s-minbase" % SUITE)
    rootfs = os.path.join(base, "rootfs")
    if os.path.exists(os.path.join(base, "COMPLETE")):
        return rootfs, None
    if not util.is_root():
        return None, "debootstrap needs root"
    why = _ensure_debootstrap()
    if why:
        return None, why
    ok, why = _mirror_reachable(mirror, SUITE)
    if not ok:
        return None, "Debian mirror not reachable (%s)" % why
    progress("debootstrap --variant=minbase %s from %s (at most %ds)"
             % (SUITE, mirror, timeout))
    util.fresh_dir(base)
    try:
        r = util.run(["debootstrap", "--variant=minbase", SUITE, rootfs,
                      mirror], check=False, timeout=timeout)
        failed = r.returncode != 0
        reason = "debootstrap failed (exit %d): %s" % (
            r.returncode, util.last_line(r.stdout + r.stderr))
    except BenchError as e:
        failed, reason = True, str(e)
    # debootstrap mounts /proc and /sys inside the target while it works;
    # a failed run can leave them behind.
    for m in sorted(util.mounts_below(rootfs), reverse=True):
        util.force_unmount(m)
    if failed:
        util.rmtree(base)
        return None, reason
    # The package archive is not part of an installed system.
    cache = os.path.join(rootfs, "var/cache/apt/archives")
    if os.path.isdir(cache):
        for n in os.listdir(cache):
            if n.endswith(".deb"):
                os.unlink(os.path.join(cache, n))
    with open(os.path.join(base, "COMPLETE"), "w") as f:
        f.write(mirror + "\n")
    return rootfs, None
