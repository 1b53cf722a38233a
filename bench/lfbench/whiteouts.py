"""Deletions and opaque directories, written in each implementation's own
format.

- dotwh (OCI layers, aufs; layerfs's native format, also read by
  fuse-overlayfs): an empty file `.wh.NAME` hides NAME; a file
  `.wh..wh..opq` makes its directory opaque.
- overlay (kernel overlayfs, fuse-overlayfs): a 0/0 character device
  named NAME; an opaque directory carries trusted.overlay.opaque=y.  Both
  need root (mknod of a device, a trusted.* xattr).
- unionfs (unionfs-fuse 1.0, Debian 12): a parallel tree
  `.unionfs-fuse/` at the top of the branch; `PATH_HIDDEN~` (a file or
  directory) hides PATH in the branches below.  A `_HIDDEN~` directory
  next to a real directory in the same branch makes that directory opaque:
  unionfs-fuse stops merging below the branch that has it.  unionfs-fuse
  honours these markers in read-only branches too, so a lower-layer
  deletion can be expressed.  (Newer unionfs-fuse releases call the
  meta directory `.unionfs`.)
"""

import os
import stat

FORMATS = ("dotwh", "overlay", "unionfs")

UNIONFS_METADIR = ".unionfs-fuse"
UNIONFS_HIDETAG = "_HIDDEN~"


def format_needs_root(fmt):
    return fmt == "overlay"


def write_whiteout(layer_root, rel, fmt):
    """Records in layer_root that rel (relative path) is deleted."""
    parent, name = os.path.split(rel)
    if fmt == "dotwh":
        os.makedirs(os.path.join(layer_root, parent), exist_ok=True)
        path = os.path.join(layer_root, parent, ".wh." + name)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    elif fmt == "overlay":
        os.makedirs(os.path.join(layer_root, parent), exist_ok=True)
        os.mknod(os.path.join(layer_root, rel), stat.S_IFCHR | 0o000,
                 os.makedev(0, 0))
    elif fmt == "unionfs":
        meta = os.path.join(layer_root, UNIONFS_METADIR, parent)
        os.makedirs(meta, exist_ok=True)
        path = os.path.join(meta, name + UNIONFS_HIDETAG)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    else:
        raise ValueError("unknown whiteout format %r" % fmt)


def write_opaque(layer_root, reldir, fmt):
    """Marks reldir (which exists in layer_root) as opaque."""
    path = os.path.join(layer_root, reldir)
    if fmt == "dotwh":
        os.close(os.open(os.path.join(path, ".wh..wh..opq"),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    elif fmt == "overlay":
        os.setxattr(path, "trusted.overlay.opaque", b"y")
    elif fmt == "unionfs":
        meta = os.path.join(layer_root, UNIONFS_METADIR, reldir) + \
            UNIONFS_HIDETAG
        os.makedirs(meta, mode=0o700)
    else:
        raise ValueError("unknown whiteout format %r" % fmt)


def count_markers(layer_root):
    """(whiteouts, opaque directories) found in a layer, any format; used
    to check that a materialised layer carries what its plan says."""
    wh = opq = 0
    meta = os.path.join(layer_root, UNIONFS_METADIR)
    for dirpath, dirnames, filenames in os.walk(layer_root):
        if dirpath == meta or dirpath.startswith(meta + "/"):
            for n in dirnames + filenames:
                if n.endswith(UNIONFS_HIDETAG):
                    if n in dirnames:
                        opq += 1
                    else:
                        wh += 1
            continue
        try:
            if os.getxattr(dirpath, "trusted.overlay.opaque") == b"y":
                opq += 1
        except OSError:
            pass
        for n in filenames:
            full = os.path.join(dirpath, n)
            if n == ".wh..wh..opq":
                opq += 1
            elif n.startswith(".wh."):
                wh += 1
            else:
                st = os.lstat(full)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    wh += 1
    return wh, opq
