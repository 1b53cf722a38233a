"""Kernel overlayfs mounts and whiteout-format conversion for the
differential tests.  The conversion here is deliberately independent of
layerfs's own code, so the two can check each other."""

import os
import shutil
import stat
import subprocess

WH = ".wh."
OPQ = ".wh..wh..opq"


def copy_layer(src, dst):
    """A copy keeping types, modes, owners, times, xattrs and hard links."""
    subprocess.run(["cp", "-a", "--", src, dst], check=True,
                   capture_output=True)


def to_overlay_format(root, opaque_xattr="trusted.overlay.opaque"):
    """Converts a dotwh layer in place to the kernel overlay format."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        for name in list(filenames) + list(dirnames):
            if name == OPQ:
                os.unlink(os.path.join(dirpath, name))
                os.setxattr(dirpath, opaque_xattr, b"y")
            elif name.startswith(WH) and not name.startswith(WH + WH):
                target = os.path.join(dirpath, name[len(WH):])
                if os.path.lexists(target):
                    # A whiteout next to a real entry of the same layer
                    # only hides the layers below: the entry stays, and a
                    # directory becomes opaque (a file hides below anyway).
                    os.unlink(os.path.join(dirpath, name))
                    if os.path.isdir(target) and not os.path.islink(target):
                        os.setxattr(target, opaque_xattr, b"y")
                    continue
                os.unlink(os.path.join(dirpath, name))
                os.mknod(target, stat.S_IFCHR, os.makedev(0, 0))


def to_dotwh_format(root):
    """Converts a kernel-overlay layer in place to the dotwh format."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        for attr in ("trusted.overlay.opaque", "user.overlay.opaque"):
            try:
                if os.getxattr(dirpath, attr) == b"y":
                    os.removexattr(dirpath, attr)
                    open(os.path.join(dirpath, OPQ), "w").close()
            except OSError:
                pass
        for name in list(filenames) + list(dirnames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                os.unlink(p)
                open(os.path.join(dirpath, WH + name), "w").close()
        # Kernel bookkeeping that is not content.
        for attr in ("trusted.overlay.origin", "trusted.overlay.impure",
                     "trusted.overlay.redirect", "trusted.overlay.metacopy"):
            for name in list(filenames) + [""]:
                with_path = os.path.join(dirpath, name) if name else dirpath
                try:
                    os.removexattr(with_path, attr, follow_symlinks=False)
                except OSError:
                    pass


def mount_overlay(mnt, lower, upper=None, work=None, extra=""):
    opts = "lowerdir=" + ":".join(lower)
    if upper:
        opts += ",upperdir=%s,workdir=%s" % (upper, work)
    if extra:
        opts += "," + extra
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, mnt],
                   check=True, capture_output=True)


def umount(mnt):
    subprocess.run(["umount", mnt], capture_output=True)
