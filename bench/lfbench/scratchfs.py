"""Where a run's upper layers and scratch trees live.

By default on the filesystem of the cache.  `--scratch-fs ext4-journal`
makes a journaled ext4 for the run instead, on a sparse loop image in
the cache, mounted on the run's scratch directory: the kind of disk most
machines have, where the fsync of kernel overlayfs's data copy-up and
every metadata change pay for the journal.  The layers stay where they
are; only what the workloads write moves.
"""

import os

from . import util
from .util import BenchError

KINDS = ("host", "ext4-journal")
# Sparse: it takes what the workloads write (the 1 GiB copy-ups, the fio
# file, the untar), not this.
IMAGE_BYTES = 16 << 30
NEEDED_FREE = 8 << 30


def image_of(scratch):
    return scratch + ".ext4"


def prepare(kind, scratch):
    """Makes the scratch filesystem; returns a description of it for the
    results, or None for the host's."""
    if kind == "host":
        return None
    if not util.is_root():
        raise BenchError("--scratch-fs %s needs root (mount)" % kind)
    if not util.which("mkfs.ext4"):
        raise BenchError("--scratch-fs %s needs mkfs.ext4 (e2fsprogs)"
                         % kind)
    img = image_of(scratch)
    st = os.statvfs(os.path.dirname(img))
    if st.f_bavail * st.f_frsize < NEEDED_FREE:
        raise BenchError("--scratch-fs %s needs %d GiB free next to the "
                         "cache" % (kind, NEEDED_FREE >> 30))
    with open(img, "wb") as f:
        f.truncate(IMAGE_BYTES)
    try:
        util.run(["mkfs.ext4", "-q", "-F", "-O", "has_journal",
                  "-E", "nodiscard", img])
        os.makedirs(scratch, exist_ok=True)
        util.run(["mount", "-o", "loop", img, scratch])
    except BenchError:
        release(scratch)
        raise
    return "ext4 with a journal, made for the run on a %d GiB sparse " \
        "loop image (--scratch-fs %s)" % (IMAGE_BYTES >> 30, kind)


def release(scratch):
    """Unmounts and deletes the run's image, if it made one (also one an
    interrupted run left)."""
    img = image_of(scratch)
    if not os.path.exists(img):
        return
    util.force_unmount(scratch)
    if util.mounted_fstype(scratch) is None:
        os.unlink(img)
