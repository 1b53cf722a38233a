"""layerfs against kernel overlayfs: seeded random operations.

Random lower layers (two or three: nested directories, files of varied
sizes, a few over 128 KiB and some sparse, symlinks, fifos, character
devices, hard links, `.wh.` whiteouts of lower names, opaque
directories, files over directories and directories over files, user.*
and trusted.* xattrs, varied modes including set-id and sticky bits,
varied owners, file capabilities on some files, POSIX access ACLs on
some entries and default ACLs on some directories, immutable or
append-only flags on a few files and directories) are written in the OCI
form for layerfs and converted to the kernel's form for overlayfs with
the helpers of test_differential and overlay_util.  Both are mounted
with an upper layer, and one random sequence of operations runs on each,
same path on each: creates (O_EXCL or O_TRUNC, through symlinks or not,
with varied umasks), writes at offsets (holes, files over 128 KiB),
appends, truncates, unlinks, mkdir, rmdir (empty or not), recursive
removes, renames of files and directories (plain, RENAME_NOREPLACE,
RENAME_EXCHANGE, over existing targets, into themselves; RENAME_WHITEOUT,
which both refuse), link, symlink,
character devices made (0/0 refused), chmod, chown, utimes (given
times or the current time), access checks (faccessat), readlink,
set/remove/get/list of user.* and trusted.* xattrs (trusted.* listed
only to root), file capabilities set and removed, access and default
ACLs set or removed (named entries for the unprivileged user and its
groups, masks that hide part of what they grant), reads, listings,
stats, fallocate (allocate, punch a hole, zero a range),
copy_file_range, immutable, append-only and no-dump flags set and
cleared (FS_IOC_SETFLAGS; the first two compared), unnamed files
(O_TMPFILE) named by link(2) or not, and descriptors opened before other
operations changed, replaced, renamed or removed their file, then read,
written (also through a shared writable mapping), truncated,
fallocate'd, chmod'ed, chown'ed, utime'd (given times or the current
time), given xattrs and fstat'ed, or,
for a directory, used to create, make a directory, remove, rename and
stat names relative to it.  SEEK_DATA and SEEK_HOLE (by path and through
the descriptors) are checked against the file's bytes rather than
compared, as where holes lie is the upper filesystem's business: data
must never be reported a hole.  Every operation's outcome (success with
what it returned, or the errno) must be the same on both; every few
operations, at the end, after an unmount and a remount of both on the
same upper layers, and at the end of more operations after that, the
whole merged trees must be the same: names, types, modes, owners, sizes,
contents, link targets, user and trusted xattrs, file capabilities,
ACLs, st_nlink of non-directories, the immutable and append-only flags
of files and directories, and which names share an inode.  Every 100
operations, the upper layer is also exported by `layertool export` (with
the mount's lower layers and work directory, the mount live and synced,
as `layerrun commit` does) and imported back as an image, which
`layertool check` must find clean (but for the warning it gives every
character device) and which, mounted over the same lower layers, must
show the tree the mount shows (link counts apart: the mount counts names
of a lower hard link that the layers themselves hide, which no layer can
carry); and `layertool diff` of the upper layer must list every name
added (A), changed (A or C) and gone (D, or under a directory listed D
or changed into a non-directory), and nothing that is not so, against
the tree of the lower layers alone.

Ten tests, each a sequence of its own: layerfs with its default upper
layer (`.wh.` files), with `whiteout=overlay`, on the kernel's own
lower layers (0/0 whiteouts, overlay.opaque xattrs) instead of their
OCI form, with `xattr_permissions=2,passthrough=0` (owners, modes and
device numbers set through the mount kept in the
user.containers.override_stat xattr of the upper files, and the
writeback cache, as rootless mounts without id ranges have them),
with `passthrough=0`
(no FUSE passthrough: the kernel's writeback cache, as rootless mounts
have; every other seed with `udba=reval` too, lower layers watched),
with `metacopy=0,redirect_dir=off` (data copied on the first
metadata change, a renamed directory's whole subtree copied up), with
`index=off` against the kernel with `index=off` too (a copy-up breaks a
lower hard link on both), rootless (the daemon root of a user namespace
that maps 65536 ids from host id 100000 on, as rootless podman runs it,
in a mount namespace of its own, the operations and comparisons made
from inside, where alone such a mount answers; the kernel's mount made
there by the host's root, rootless_ns.py; the layers' ids shifted into
the range and without the device nodes and protected files such a
daemon cannot copy up; `.wh.` files, 0/0 whiteouts, everything copied
or no index by the seed), rootless with one id mapped
(`xattr_permissions=2`, as rootless podman without an id range
mounts; every entry of the layers that id's, named in their ACLs too;
an image imported there keeps its owners and modes in the override_stat
xattr and leaves its ACLs out, so it is mounted with them and compared
without ACLs), and with the operations run by an
unprivileged user (uid 1000, groups 1000 and 7, owners the layers give
their files) instead of root: permission checks, sticky directories,
set-id bits dropped, owners of what is created.

The seed is printed on stderr (each test draws its own; LFS_SEED=N
replays N in all ten), LFS_DIFF_OPS=N sets the number of operations
before the remount (a quarter more follow it; default 1500), and
LFS_DIFF_CHECK=N how often the trees are compared (default every 10
operations; 1 finds the exact operation that made them differ).  The
operations drawn do not depend on LFS_DIFF_CHECK, but what the kernel
caches does, and so may a bug: a failure prints the replay line with
the values it ran with.  LFS_DIFF_TRACE=1 prints every operation and
both outcomes on stderr, to follow a replay.  LFS_DIFF_AS_USER=1 runs
the operations of every configuration as the unprivileged user.

The kernel is mounted with redirect_dir=on (directories with lower
content can be renamed, as in layerfs, so no EXDEV) and index=on (lower
hard links stay one inode after a copy-up, as in layerfs), or index=off
for layerfs's index=off.  So mounted,
it refused nothing layerfs allows in any run.  Differences by design,
each handled where it arises in the code:
- layerfs refuses names beginning with `.wh.` (EPERM: in an OCI layer
  such a name is a whiteout); the kernel creates them.  The kernel's
  change is undone so the trees stay comparable (a rename to such a
  name is not run on the kernel with index=off, where renaming back
  could not mend the hard link its copy-up broke).
- layerfs refuses to set or remove its own and kernel overlayfs's
  private xattr namespaces through the mount (`user.overlay.*`,
  `user.layerfs.*`, ...: EPERM; they would change how a layer reads);
  the kernel without `userxattr` treats `user.overlay.*` as ordinary
  xattrs.  Undone on the kernel side as well.
- neither can copy up a lower file or directory that has no name any
  more: a metadata change (chmod, chown, utimes, xattr) through a
  descriptor of one removed since it was opened fails on both, with
  ENOENT on layerfs and EEXIST, ENOTDIR, ENOTEMPTY or EIO on the
  kernel.  For a fifo, socket or device the kernel succeeds, by copying
  it up in its upper layer under the name it had, over the whiteout: the
  removed name comes back, at once or once the mount's cached negative
  entry goes (a kernel bug, seen on Linux 6.18).  The whiteout is put
  back (through the mount where the name shows already) and the
  descriptor is closed on both sides.
- with index=off, chown to (-1, -1), by path or descriptor, is not
  run: it changes nothing, and layerfs leaves the file alone, but the
  kernel copies it up, which breaks a lower hard link.
- chown to (-1, -1) of an immutable or append-only file with
  capabilities, and fallocate of an append-only one, are not run: the
  kernel removes the capabilities for any chown and for a fallocate,
  and kernel overlayfs does it past either flag (kept in an xattr
  there); layerfs refuses the removal, and with it the change, as a
  local filesystem does for an immutable file.  For an append-only one
  a local filesystem removes them, but the FUSE client asks that
  removal before the change itself, so layerfs cannot tell it from the
  removal it asks before a chown or a truncation that the flag then
  refuses, which must leave the capabilities (RELIABILITY, open item
  6).
- fstat of a lower file whose last name was removed while it was
  open: no link left on layerfs, as on a local filesystem; the kernel
  shows the lower file's own count.
- with index=off, a rename (plain or exchanging) of one name of a lower
  hard link over another: both show one st_ino, and layerfs does nothing, as POSIX
  asks of a rename between two names of one file; the kernel's two
  overlay inodes are two files to the VFS, which renames one over the
  other.  The operation is not run on the kernel's side.
- the kernel copies data on chmod/chown (metacopy off by default);
  layerfs copies metadata only.  The views are the same.
- a copy-up of a lower hard link (index=on) puts layerfs's copy in the
  index only, leaving the name's directories in their lower layers,
  where the kernel copies them up.  The one difference it makes: the
  removal of an ACL a directory lacks, which kernel overlayfs refuses
  on a lower directory (ENODATA) and the upper filesystem allows on an
  upper one; layerfs's directory is still lower.  Nothing changes.
  The same removal differs the other way where layerfs, mounted with
  redirect_dir=off, copied up a directory's tree to rename it, and the
  kernel's mount (redirect_dir=on) left it lower.
- operations as an unprivileged user: a write (or truncate) of a file
  whose set-group-id bit it does not execute, by a user outside the
  file's group, clears the bit on the kernel's side and not on
  layerfs: the kernel's FUSE client, asked to kill set-id bits without
  the daemon handling it, clears set-group-id only on group-executable
  files, and with passthrough the daemon never sees the write.  Such a
  bit confers nothing (exec ignores it without the group's execute
  bit, and a chmod by the owner outside the group drops it), so in that
  configuration it is left out of both sides' modes.  For the same
  reason a chown(-1, -1) of such a file by a user who neither owns it
  nor is of its group succeeds on layerfs, where the kernel's side
  fails with EPERM (clearing the bit needs the owner).  That chown
  changes nothing but the file's capabilities, which the FUSE client
  removes for it as for any chown; they are removed on the kernel's
  side as well.

- immutable and append-only lower files and directories: the kernel's
  FUSE client does not know these flags, so layerfs refuses what the
  kernel refuses for them, but where the kernel checks them (a name's
  own, or its directory's) before anything else, its FUSE client may
  refuse first for a reason of its own: the caller's permission
  (EACCES), or the types of a rename's or rmdir's names (ENOTDIR,
  EISDIR), where the kernel says EPERM; refused on both.  A `.wh.`
  name the kernel made in an append-only directory is undone with the
  flag lifted for the moment.  And
  the FUSE client answers the removal of a default ACL from a
  non-directory itself (there is none: success, nothing changes), where
  the kernel refuses it for the flags.
  A shared writable mapping of a descriptor of an append-only file
  is refused on both, with EACCES by the kernel and ENODEV by its FUSE
  client (layerfs serves such a file with direct I/O).  A chmod of such
  a file that only clears its set-id bits, which the kernel refuses but
  layerfs cannot tell from the kernel's own clearing of them (allowed),
  is not run.  Nor are, through a descriptor opened before its file
  was made immutable through the mount, a write, truncation, fallocate
  or mapped write: kernel overlayfs keeps that flag in an xattr and
  lets them change its upper file; layerfs keeps it on the upper file,
  whose filesystem refuses them (as ext4 does on a local file).  Nor
  a shared writable mapping of a descriptor opened before its file was
  made append-only, which the kernel refuses for the flag and the FUSE
  client, whose handle was not opened for direct I/O, cannot; nor, the
  other way round, one of a descriptor opened for appending while its
  file was append-only, once the flag is off: the kernel allows it, but
  layerfs served that open with direct I/O, for which the FUSE client
  takes no shared mapping (ENODEV).  An
  access(W_OK) of an immutable file is refused by the kernel (EPERM)
  and allowed by its FUSE client, which asks layerfs nothing for an
  access(2) and does not know the flag; the write itself is refused on
  both.

Not generated: a whiteout in a layer directory that merges with nothing
below it (under an opaque directory of the same layer).  OCI says it
hides nothing, and layerfs shows nothing; the kernel lists the name but
cannot look it up, and never writes such a layer itself.

Bugs it found and that are fixed fail it like any other difference,
their symptom named (TWO_INODES below).  Anything that differs fails the
test with the seed, the operation's index, the operation, both outcomes,
the operations before it and how to replay it.
"""

import contextlib
import ctypes
import errno
import hashlib
import json
import mmap
import os
import random
import stat
import sys

import layerrun_util as lru
import layertool_util as lt
import lfstest
import overlay_util as ovl
import rootless_ns
from lfstest import (ACL_GROUP, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER,
                     ACL_USER, ACL_USER_OBJ, ACL_XATTRS, LayerfsTestCase,
                     RENAME_EXCHANGE, RENAME_NOREPLACE, acl_entries,
                     acl_value, renameat2, snapshot)
from test_differential import kernel_copies

KERNEL_OPTS = "redirect_dir=on,index=on"
# Symlink targets are relative without "..", or absolute under a
# directory that does not exist: an operation that follows one never
# leaves the mount.
NOWHERE = "/lfs-diff-nowhere"
NAMES = "abcdefgh"
OWNERS = (0, 1, 7, 1000, 65534)
# The unprivileged caller of test_random_ops_as_a_user: uid, gid, and a
# supplementary group, each among OWNERS.
USER = (1000, 1000, 7)
USER_CALLER = (USER[0], USER[1], list(USER))
# (trusted.* is listed only to a caller with CAP_SYS_ADMIN.)
XATTRS = ("user.a", "user.b", "user.c", "trusted.t")
# File capabilities (VFS_CAP_REVISION_2, effective; two sets).
CAP_XATTR = "security.capability"
CAPS = (bytes.fromhex("0100000200040000000000000000000000000000"),
        bytes.fromhex("0100000200200000000000000000000000000000"))
# layerfs's private namespaces (see the docstring).
PRIVATE_XATTRS = ("user.overlay.t", "user.layerfs.t")
# POSIX ACLs the layers and the operations give (binary xattr values):
# named entries for the unprivileged caller, its group and others, with
# masks that hide some of what they grant.
ACCESS_ACLS = tuple(acl_value(e) for e in (
    [(ACL_USER_OBJ, 6, None), (ACL_USER, 6, USER[0]),
     (ACL_GROUP_OBJ, 4, None), (ACL_MASK, 6, None),
     (ACL_OTHER, 0, None)],
    [(ACL_USER_OBJ, 7, None), (ACL_USER, 7, 65534),
     (ACL_GROUP_OBJ, 5, None), (ACL_GROUP, 7, USER[2]),
     (ACL_MASK, 5, None), (ACL_OTHER, 5, None)],
    [(ACL_USER_OBJ, 6, None), (ACL_GROUP_OBJ, 0, None),
     (ACL_GROUP, 6, USER[1]), (ACL_MASK, 6, None),
     (ACL_OTHER, 4, None)]))
DEFAULT_ACLS = tuple(acl_value(e) for e in (
    [(ACL_USER_OBJ, 7, None), (ACL_USER, 7, USER[0]),
     (ACL_GROUP_OBJ, 5, None), (ACL_MASK, 7, None),
     (ACL_OTHER, 5, None)],
    [(ACL_USER_OBJ, 7, None), (ACL_GROUP_OBJ, 0, None),
     (ACL_GROUP, 3, USER[2]), (ACL_MASK, 3, None),
     (ACL_OTHER, 0, None)]))
DEFAULT_OPS = 1500
RENAME_WHITEOUT = 4
# How often the upper layer is exported and imported again.
EXPORT_EVERY = 100


TRACE = os.environ.get("LFS_DIFF_TRACE") == "1"


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v else default


def data_of(n, dseed):
    return random.Random(dseed).randbytes(n)


def short_sha(data):
    return hashlib.sha256(data).hexdigest()[:12]


# ---- lower layers ----

def gen_layers(test, rng, id_base=0, rootless=False, one_owner=False):
    """Lower layers in the OCI form, top first.  Owners, the ids of ACL
    entries and the root id of file capabilities are id_base higher on
    disk (for a user namespace mapping from there).  rootless leaves out
    what a rootless daemon cannot copy up (README): immutable and
    append-only flags, and character devices (fifos instead).  With
    one_owner every entry belongs to id_base, and every ACL entry names it
    (a namespace mapping that id alone, where the FUSE client refuses an
    ACL naming an id it cannot map, README)."""
    nlayers = rng.choice((2, 3))
    roots = [test.mkdirs("l%d" % i) for i in range(nlayers)]  # bottom first
    view = {}  # the merged view of the layers made so far: rel -> kind

    def parent_dirs(mine):
        return sorted({""} | {p for p, k in view.items() if k == "d"} |
                      {p for p, k in mine.items() if k == "d"})

    def drop_subtree(rel):
        for p in [p for p in view if p == rel or p.startswith(rel + "/")]:
            del view[p]

    def ensure_dir(root, rel, mine):
        """The directories down to rel in this layer (merged with lower
        directories of the same names)."""
        if not rel:
            return True
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if mine.get(p) not in (None, "d"):
                return False
            if p not in mine:
                if view.get(p) not in (None, "d"):
                    drop_subtree(p)   # a directory over a lower file
                os.mkdir(os.path.join(root, p))
                mine[p] = "d"
        return True

    for li, root in enumerate(roots):
        bottom = li == 0
        mine, blocked = {}, set()
        if not bottom:
            # Opaque directories, then whiteouts of lower names still
            # visible (a whiteout in a directory that merges with nothing
            # below is a name the kernel lists but cannot look up: never
            # written by the kernel itself, and not what is tested here).
            for _ in range(rng.randint(1, 2)):
                dirs = sorted(p for p, k in view.items() if k == "d")
                if not dirs:
                    break
                p = rng.choice(dirs)
                if not ensure_dir(root, p, mine):
                    continue
                open(os.path.join(root, p, ovl.OPQ), "w").close()
                for q in [q for q in view if q.startswith(p + "/")]:
                    del view[q]
            for _ in range(rng.randint(2, 4)):
                lower = sorted(p for p in view if p not in mine)
                if not lower:
                    break
                p = rng.choice(lower)
                d, n = os.path.split(p)
                if not ensure_dir(root, d, mine) or p in mine:
                    continue
                open(os.path.join(root, d, ovl.WH + n), "w").close()
                drop_subtree(p)
                blocked.add(p)
        count = 28 if bottom else rng.randint(8, 14)
        # The bottom layer starts with two files over 128 KiB (one of
        # them sparse) and a hard link.
        big = [True, False] if bottom else []
        linked = not bottom
        for _ in range(count):
            parent = rng.choice(parent_dirs(mine))
            p = (parent + "/" if parent else "") + rng.choice(NAMES)
            if p in mine or p in blocked or p.count("/") > 3:
                continue
            if not ensure_dir(root, parent, mine):
                continue
            full = os.path.join(root, p)
            if view.get(p) == "d":
                drop_subtree(p)   # a file over a lower directory
            kind = rng.choices("dfshpc", (3, 6, 2, 1, 0.5, 0.3))[0]
            if big:
                kind = "f"
            elif not linked:
                kind = "h"
            # Mostly files; a symlink or a fifo may have names too.
            files = sorted(q for q, k in mine.items() if k == "f")
            others = sorted(q for q, k in mine.items() if k in "lp")
            if others and (not files or rng.random() < 0.3):
                files = others
            if kind == "h" and files:
                src = rng.choice(files)
                os.link(os.path.join(root, src), full,
                        follow_symlinks=False)
                kind, linked = mine[src], True
            elif kind == "d":
                os.mkdir(full)
            elif kind == "s":
                os.symlink(symlink_target(rng), full)
                kind = "l"
            elif kind == "p":
                os.mkfifo(full)
            elif kind == "c" and rootless:
                os.mkfifo(full)
                kind = "p"
            elif kind == "c":
                os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 3))
                kind = "p"   # a special file, as names() has it
            else:
                write_lower_file(rng, full, big.pop() if big else None)
                kind = "f"
            mine[p] = kind
        # Attributes last: directory modes after their contents.
        protected = []
        for p in sorted(mine, key=lambda q: -q.count("/")):
            full = os.path.join(root, p)
            uid, gid = rng.choice(OWNERS), rng.choice(OWNERS)
            if one_owner:
                uid = gid = 0
            os.lchown(full, id_base + uid, id_base + gid)
            if mine[p] == "l":
                continue
            if mine[p] == "d":
                os.chmod(full, rng.choice((0o755, 0o755, 0o700, 0o775,
                                           0o2775, 0o1777, 0o555)))
            else:
                os.chmod(full, rng.choice((0o644, 0o644, 0o600, 0o755,
                                           0o4755, 0o2755, 0o2745, 0o444)))
            # (user.* xattrs are for files and directories only.)
            if mine[p] != "p" and rng.random() < 0.25:
                for name in rng.sample(XATTRS, rng.randint(1, 2)):
                    os.setxattr(full, name, b"L%d-%s" % (li, p.encode()))
            if rng.random() < 0.1:
                os.setxattr(full, ACL_XATTRS[0],
                            acl_ids_from(rng.choice(ACCESS_ACLS), id_base,
                                         one_owner))
            if mine[p] == "f" and rng.random() < 0.12:
                os.setxattr(full, CAP_XATTR,
                            caps_rooted_at(rng.choice(CAPS), id_base))
            if mine[p] == "d" and rng.random() < 0.15:
                os.setxattr(full, ACL_XATTRS[1],
                            acl_ids_from(rng.choice(DEFAULT_ACLS), id_base,
                                         one_owner))
            if (mine[p] == "f" and rng.random() < 0.1) or \
                    (mine[p] == "d" and rng.random() < 0.12):
                protected.append((full, rng.choice(
                    (lfstest.FS_IMMUTABLE_FL, lfstest.FS_APPEND_FL))))
        # Last, once every name of a hard link has its attributes and
        # every directory its entries: an immutable or append-only file
        # or directory refuses changes.
        for full, flag in protected if not rootless else ():
            protect(full, flag)
        view.update(mine)
    return list(reversed(roots))


def acl_ids_from(value, id_base, one_owner=False):
    """An ACL value with its named users and groups id_base higher, or
    with one_owner all id_base (no ACL drawn names two users or two
    groups)."""
    if not id_base:
        return value
    return acl_value([(t, p, None if q is None else
                       id_base + (0 if one_owner else q))
                      for t, p, q in acl_entries(value)])


def caps_rooted_at(value, root):
    """A VFS_CAP_REVISION_2 value as revision 3 with root id root: what
    the kernel stores when the root of a user namespace mapping from
    root sets it."""
    if not root:
        return value
    return value[:3] + b"\x03" + value[4:] + root.to_bytes(4, "little")


def protect(path, flag):
    """Gives a lower file or directory an immutable or append-only flag,
    where the filesystem has inode flags (else nothing)."""
    try:
        lfstest.change_inode_flags(path, add=flag)
    except OSError:
        pass


def copy_protection(layers, klayers):
    """The immutable and append-only flags of the lower files and
    directories onto the kernel's copies (cp -a does not copy inode
    flags)."""
    for src, dst in zip(layers, klayers):
        for dirpath, dirs, files in os.walk(src):
            for n in files + dirs:
                p = os.path.join(dirpath, n)
                mode = os.lstat(p).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    continue
                fl = lfstest.inode_flags(p) & lfstest.FS_PROTECT_FL
                if fl:
                    lfstest.change_inode_flags(os.path.join(
                        dst, os.path.relpath(p, src)), add=fl)


def write_lower_file(rng, full, big=None):
    """A file of a random size: empty, small, up to 9000 bytes, over 128
    KiB, or sparse past 128 KiB; big=False or True ask for one of the
    last two."""
    r = rng.random() if big is None else 0.9 if big else 0.99
    with open(full, "wb") as f:
        if r < 0.1:
            pass
        elif r < 0.6:
            f.write(rng.randbytes(rng.randint(1, 100)))
        elif r < 0.85:
            f.write(rng.randbytes(rng.randint(100, 9000)))
        elif r < 0.93:
            f.write(rng.randbytes(rng.randint(130 << 10, 300 << 10)))
        else:
            # Sparse: a hole, then data past 128 KiB.
            f.seek(rng.randint(130 << 10, 250 << 10))
            f.write(rng.randbytes(rng.randint(1, 5000)))


def symlink_target(rng):
    r = rng.random()
    if r < 0.15:
        return NOWHERE + "/" + rng.choice(NAMES)
    return "/".join(rng.choice(NAMES) for _ in range(rng.choice((1, 1, 2))))


# ---- views ----

# The inode flags compared: immutable and append-only, which both keep
# through a copy-up and set through the mount.  Not the no-dump flag,
# which layerfs carries on a copy-up and kernel overlayfs does not, and
# which the upper filesystem hands a new entry from its directory where
# it is created there (kernel overlayfs makes some in its work
# directory); the operations set and clear it all the same.
SHOWN_FLAGS = lfstest.FS_PROTECT_FL


def tree(root):
    """The whole merged tree: lfstest.snapshot with xattrs, plus st_nlink
    of non-directories, the inode flags of files and directories, and the
    sets of names sharing an inode."""
    snap = snapshot(root, xattrs=True, inodes=True, acls=True, trusted=True)
    groups = {}
    for rel, e in snap.items():
        ino = e.pop("ino")
        path = os.path.join(root, rel)
        if e["type"] in (stat.S_IFREG, stat.S_IFDIR):
            e["flags"] = lfstest.inode_flags(path) & SHOWN_FLAGS
        if e["type"] != stat.S_IFDIR:
            e["nlink"] = os.lstat(path).st_nlink
            groups.setdefault(ino, []).append(rel)
    links = sorted(sorted(g) for g in groups.values() if len(g) > 1)
    return snap, links


STAT_FIELDS = ("type", "mode", "uid", "gid", "size", "nlink")


def stale(a, b, fresh):
    """True when a (layerfs, as the kernel cached it) differs from b (the
    kernel overlay) in attributes only, and fresh (layerfs asked again)
    is b: the kernel holds stale attributes of the file."""
    pick = lambda e: {k: e[k] for k in STAT_FIELDS if k in e}
    rest = lambda e: {k: v for k, v in e.items() if k not in STAT_FIELDS}
    return fresh is not None and rest(a) == rest(b) and \
        pick(a) != pick(b) and pick(fresh) == pick(b)


def names(root):
    """(relative path, kind) of every entry, sorted: what operations pick
    from."""
    out = []

    def walk(d, rel):
        for e in sorted(os.scandir(d), key=lambda e: e.name):
            r = rel + e.name
            if e.is_symlink():
                out.append((r, "l"))
            elif e.is_dir():
                out.append((r, "d"))
                walk(e.path, r + "/")
            elif not e.is_file(follow_symlinks=False):
                out.append((r, "p"))   # a fifo or a device
            else:
                out.append((r, "f"))
    walk(root, "")
    return out


def stat_view(st):
    """What an operation reports of a stat: mode (in octal, type
    included), owner, and for non-directories size and link count."""
    v = ("%o" % st.st_mode, st.st_uid, st.st_gid)
    if not stat.S_ISDIR(st.st_mode):
        v += (st.st_size, st.st_nlink)
    return v


def attrs_of(v):
    """A stat_view as the fields of a tree entry (see tree)."""
    mode = int(v[0], 8)
    out = {"type": stat.S_IFMT(mode), "mode": stat.S_IMODE(mode),
           "uid": v[1], "gid": v[2]}
    if len(v) > 3:
        out["size"], out["nlink"] = v[3], v[4]
    return out


def idle_sgid_dropped(m):
    """Mode m without a set-group-id bit that confers nothing, that of a
    regular file its group may not execute: the one bit FUSE leaves
    behind where the kernel clears it (see the docstring)."""
    if stat.S_ISREG(m) and m & stat.S_ISGID and not m & stat.S_IXGRP:
        return m & ~stat.S_ISGID
    return m


def outcome_without_idle_sgid(x):
    """An outcome, idle_sgid_dropped applied to the regular files'
    stat_views it holds."""
    if isinstance(x, tuple) and len(x) in (3, 5) and \
            isinstance(x[0], str) and len(x[0]) == 6 and \
            set(x[0]) <= set("01234567") and \
            stat.S_ISREG(int(x[0], 8)):
        return ("%o" % idle_sgid_dropped(int(x[0], 8)),) + x[1:]
    if isinstance(x, (tuple, list)):
        return type(x)(outcome_without_idle_sgid(v) for v in x)
    return x


def tree_without_idle_sgid(t):
    """A tree (see tree), idle_sgid_dropped applied to its modes."""
    snap, links = t
    return ({rel: dict(e, mode=stat.S_IMODE(
                idle_sgid_dropped(e["type"] | e["mode"])))
             for rel, e in snap.items()}, links)


# ---- operations ----

FD_SLOTS = 4


class Generator:
    """Draws operations.  Paths come from the kernel's current view (the
    reference), from every path seen so far, from recently used paths
    (so that operations meet on the same file), or are new names."""

    def __init__(self, rng):
        self.rng = rng
        self.seen = set()
        self.hot = []
        self.view = []

    def pick(self, want=None, new=0.1):
        rng = self.rng
        r = rng.random()
        cands = [p for p, k in self.view if want is None or k in want]
        if r < new or not self.view:
            dirs = [""] + [p for p, k in self.view if k == "d"]
            d = rng.choice(dirs)
            p = (d + "/" if d else "") + rng.choice(NAMES)
        elif r < new + 0.25 and self.hot:
            p = rng.choice(self.hot)
        elif r < new + 0.35 and self.seen:
            p = rng.choice(sorted(self.seen))
        elif cands:
            p = rng.choice(cands)
        else:
            p = rng.choice(self.view)[0]
        self.seen.add(p)
        self.hot = (self.hot + [p])[-6:]
        return p

    def op(self, i):
        rng = self.rng
        kind = rng.choices(
            ["create", "pwrite", "append", "truncate", "read", "unlink",
             "mkdir", "rmdir", "rmrf", "rename", "link", "symlink", "mkfifo",
             "chmod",
             "chown", "utime", "setxattr", "removexattr", "getxattr",
             "listxattr", "stat", "readdir", "fd_open", "fd_read",
             "fd_write", "fd_stat", "fd_truncate", "fd_chmod", "fd_readdir",
             "fd_close", "reserved", "fallocate", "copy_range", "seek",
             "fd_fallocate", "fd_mmap_write", "fd_seek", "at_create",
             "at_mkdir", "at_remove", "at_rename", "at_stat", "fd_chown",
             "fd_utime", "fd_setxattr", "tmpfile", "setacl", "chattr",
             "setcap", "mknod", "access", "readlink"],
            [6, 8, 4, 5, 4, 5, 4, 4, 1, 10, 4, 3, 1, 3, 3, 2, 3, 2, 1, 1, 2, 2,
             5, 6, 3, 2, 1, 1, 2, 2, 0.5, 2, 2, 1, 1, 2, 1, 2, 1, 1, 2,
             1, 1, 1, 1, 1, 2, 1.5, 1, 0.5, 1.5, 0.5])[0]
        f = rng.random() < 0.8   # follow symlinks
        if kind == "create":
            return (kind, self.pick("f", new=0.4),
                    rng.choice((0o644, 0o600, 0o755, 0o2755, 0o4711)),
                    rng.choice((0o022, 0o022, 0o002, 0o077)),
                    rng.random() < 0.5, not f, rng.choice((0, 3, 700)),
                    rng.randrange(1 << 30))
        if kind == "pwrite":
            big = rng.random() < 0.2
            off = rng.randint(0, 300 << 10) if big else rng.randint(0, 9000)
            return (kind, self.pick("f"), off, rng.choice((1, 50, 4096, 9000)),
                    rng.randrange(1 << 30), not f)
        if kind == "append":
            return (kind, self.pick("f"), rng.randint(1, 2000),
                    rng.randrange(1 << 30))
        if kind == "truncate":
            size = rng.choice((0, rng.randint(1, 9000),
                               rng.randint(128 << 10, 320 << 10)))
            return (kind, self.pick("f"), size)
        if kind == "fallocate":
            return (kind, self.pick("f")) + self.falloc_args()
        if kind == "copy_range":
            return (kind, self.pick("f"), self.pick("f", new=0.2),
                    rng.choice((0, rng.randint(0, 9000),
                                rng.randint(0, 300 << 10))),
                    rng.choice((0, rng.randint(0, 9000),
                                rng.randint(0, 300 << 10))),
                    rng.choice((1, 4096, rng.randint(1, 9000), 1 << 20)))
        if kind == "seek":
            return (kind, self.pick("f")) + self.seek_args()
        if kind == "tmpfile":
            # An unnamed file (open with O_TMPFILE), then named by
            # link(2) through /proc, or left to go at its close.
            return (kind, self.pick("d"), rng.choice((0, 5, 3000)),
                    rng.randrange(1 << 30),
                    self.pick(new=0.6) if rng.random() < 0.7 else None)
        if kind in ("read", "stat", "readdir", "listxattr"):
            return (kind, self.pick("d" if kind == "readdir" else None), f)
        if kind in ("unlink", "rmdir", "rmrf"):
            return (kind, self.pick("d" if kind != "unlink" else "flp"))
        if kind == "mkdir":
            return (kind, self.pick("d", new=0.5),
                    rng.choice((0o755, 0o700, 0o2775, 0o1777)),
                    rng.choice((0o022, 0o002, 0o077)))
        if kind == "rename":
            a = self.pick()
            r = rng.random()
            if r < 0.1:
                b = a + "/" + rng.choice(NAMES)   # into itself
            else:
                b = self.pick(new=0.4)
            # RENAME_WHITEOUT: refused by both (EINVAL).
            flags = rng.choices((0, RENAME_NOREPLACE, RENAME_EXCHANGE,
                                 RENAME_WHITEOUT), (6, 2, 2, 0.3))[0]
            return (kind, a, b, flags)
        if kind == "link":
            return (kind, self.pick("flp"), self.pick(new=0.6), f)
        if kind == "symlink":
            return (kind, symlink_target(rng), self.pick(new=0.6))
        if kind == "mkfifo":
            return (kind, self.pick(new=0.6), rng.choice((0o644, 0o600)),
                    rng.choice((0o022, 0o077)))
        if kind == "mknod":
            # A character device with /dev/null's numbers, or 0/0, which
            # both refuse (it would read as a whiteout).
            return (kind, self.pick(new=0.6), rng.choice((0o666, 0o600)),
                    rng.choice((0o022, 0o077)),
                    rng.choice(((1, 3), (1, 3), (0, 0))))
        if kind == "chmod":
            return (kind, self.pick(), rng.choice(
                (0o644, 0o600, 0o755, 0o700, 0o4755, 0o2755, 0o2775, 0o1777,
                 0o6711, 0o000)))
        if kind == "chown":
            return (kind, self.pick(), rng.choice(OWNERS + (-1,)),
                    rng.choice(OWNERS + (-1,)), f)
        if kind == "utime":
            # Given times (the owner's right), or the current time (None:
            # anyone who may write the file; append-only allows it).
            if rng.random() < 0.3:
                return (kind, self.pick(), None, None, f)
            return (kind, self.pick(), rng.randint(0, 2 << 30) * 1000,
                    rng.randint(0, 2 << 30) * 1000 + rng.choice((0, 123456)),
                    f)
        if kind == "access":
            # faccessat(2) by the real or the effective ids, following a
            # symlink or not.
            return (kind, self.pick(), rng.choice(
                (os.F_OK, os.R_OK, os.W_OK, os.X_OK, os.R_OK | os.W_OK,
                 os.W_OK | os.X_OK)), rng.choice((0, AT_EACCESS)), f)
        if kind == "readlink":
            return (kind, self.pick("l" if rng.random() < 0.8 else None))
        if kind == "setacl":
            # An access or a default ACL set (None: removed).
            which = rng.randrange(2)
            values = (ACCESS_ACLS, DEFAULT_ACLS)[which]
            value = rng.choice(values) if rng.random() < 0.75 else None
            return (kind, self.pick("d" if which else None), which, value, f)
        if kind == "chattr":
            # An inode flag set or cleared through the mount (immutable
            # and append-only need CAP_LINUX_IMMUTABLE); cleared a little
            # more often, so that what is protected is freed again.
            flag = rng.choice((lfstest.FS_IMMUTABLE_FL, lfstest.FS_APPEND_FL,
                               lfstest.FS_NODUMP_FL))
            if rng.random() < 0.45:
                return (kind, self.pick("fd"), flag, 0)
            return (kind, self.pick("fd"), 0, rng.choice(
                (flag, lfstest.FS_PROTECT_FL)))
        if kind == "setcap":
            # File capabilities set (CAP_SETFCAP) or removed; a write,
            # truncation or chown must drop them after.
            value = rng.choice(CAPS) if rng.random() < 0.7 else None
            return (kind, self.pick("f" if rng.random() < 0.9 else None),
                    value, f)
        if kind in ("setxattr", "removexattr", "getxattr"):
            name = rng.choice(XATTRS) if rng.random() < 0.97 \
                else rng.choice(PRIVATE_XATTRS)
            if kind == "setxattr":
                return (kind, self.pick(), name,
                        b"v%d" % i * rng.choice((1, 1, 30)),
                        rng.choice((0, 0, os.XATTR_CREATE, os.XATTR_REPLACE)),
                        f)
            return (kind, self.pick(), name, f)
        slot = rng.randrange(FD_SLOTS)
        if kind == "fd_open":
            return (kind, slot, self.pick("fd"), rng.choice(
                (os.O_RDONLY, os.O_RDONLY, os.O_RDWR, os.O_WRONLY,
                 os.O_RDWR | os.O_APPEND, os.O_RDONLY | os.O_TRUNC,
                 os.O_RDONLY | os.O_DIRECTORY, os.O_RDWR | os.O_NOFOLLOW,
                 os.O_WRONLY | os.O_CREAT)))
        if kind == "fd_read":
            return (kind, slot, rng.choice((0, rng.randint(0, 9000),
                                            rng.randint(0, 300 << 10))),
                    rng.choice((100, 5000, 1 << 20)))
        if kind == "fd_write":
            return (kind, slot, rng.randint(0, 9000), rng.choice((1, 100,
                                                                   5000)),
                    rng.randrange(1 << 30))
        if kind == "fd_truncate":
            return (kind, slot, rng.choice((0, 10, 5000, 200 << 10)))
        if kind == "fd_chmod":
            return (kind, slot, rng.choice((0o600, 0o644, 0o4755)))
        if kind == "fd_chown":
            return (kind, slot, rng.choice(OWNERS + (-1,)),
                    rng.choice(OWNERS + (-1,)))
        if kind == "fd_utime":
            if rng.random() < 0.3:
                return (kind, slot, None, None)   # the current time
            return (kind, slot, rng.randint(0, 2 << 30) * 1000,
                    rng.randint(0, 2 << 30) * 1000)
        if kind == "fd_setxattr":
            return (kind, slot, rng.choice(XATTRS), b"f%d" % i)
        if kind == "fd_fallocate":
            return (kind, slot) + self.falloc_args()
        if kind == "fd_seek":
            return (kind, slot) + self.seek_args()
        if kind == "fd_mmap_write":
            return (kind, slot, rng.randint(0, 300 << 10),
                    rng.choice((1, 100, 5000)), rng.randrange(1 << 30))
        # Relative to a descriptor (of a directory, if it is one), which
        # may have been renamed or removed since it was opened.
        if kind == "at_create":
            return (kind, slot, rng.choice(NAMES), rng.choice((0, 3, 700)),
                    rng.randrange(1 << 30))
        if kind in ("at_mkdir", "at_stat"):
            return (kind, slot, rng.choice(NAMES))
        if kind == "at_remove":
            return (kind, slot, rng.choice(NAMES), rng.random() < 0.3)
        if kind == "at_rename":
            return (kind, slot, rng.choice(NAMES), self.pick(new=0.4))
        if kind in ("fd_stat", "fd_readdir", "fd_close"):
            return (kind, slot)
        # A ".wh." name: refused by layerfs by design.
        d = rng.choice([""] + [p for p, k in self.view if k == "d"])
        return (kind, rng.choice(("create", "mkdir", "rename")),
                (d + "/" if d else "") + ovl.WH + rng.choice(NAMES),
                self.pick("fl"))


    def falloc_args(self):
        """fallocate(2)'s mode, offset and length: allocate (growing the
        file or not), punch a hole, zero a range."""
        rng = self.rng
        return (rng.choice((0, FALLOC_KEEP_SIZE, FALLOC_PUNCH_HOLE |
                            FALLOC_KEEP_SIZE, FALLOC_ZERO_RANGE,
                            FALLOC_ZERO_RANGE | FALLOC_KEEP_SIZE)),
                rng.choice((0, rng.randint(0, 9000),
                            rng.randint(0, 300 << 10))),
                rng.choice((1, 4096, rng.randint(1, 9000), 200 << 10)))

    def seek_args(self):
        """lseek(2)'s whence (SEEK_DATA or SEEK_HOLE) and offset."""
        rng = self.rng
        return (rng.choice((SEEK_DATA, SEEK_HOLE)),
                rng.choice((0, rng.randint(0, 9000),
                            rng.randint(0, 300 << 10))))


@contextlib.contextmanager
def umask_of(mask):
    """Runs the block with the process's umask set to mask."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# Every open is non-blocking: a name may be (or a symlink may lead to) a
# fifo, whose open would wait for the other end; on both sides the same.
NB = os.O_NONBLOCK


def apply(root, op, fds):
    """Runs op under root; returns ("ok", what it returned...) or the
    errno's name."""
    try:
        return ("ok",) + tuple(_apply(root, op, fds))
    except OSError as e:
        return (errno.errorcode.get(e.errno, str(e.errno)),)


def _apply(root, op, fds):
    j = lambda rel: os.path.join(root, rel)
    kind = op[0]
    if kind == "create":
        _, rel, mode, umask, excl, nofollow, n, dseed = op
        flags = os.O_WRONLY | os.O_CREAT | NB | \
            (os.O_EXCL if excl else os.O_TRUNC) | \
            (os.O_NOFOLLOW if nofollow else 0)
        with umask_of(umask):
            fd = os.open(j(rel), flags, mode)
        try:
            return [os.write(fd, data_of(n, dseed)) if n else 0]
        finally:
            os.close(fd)
    if kind == "pwrite":
        _, rel, off, n, dseed, nofollow = op
        fd = os.open(j(rel), os.O_WRONLY | NB |
                     (os.O_NOFOLLOW if nofollow else 0))
        try:
            return [os.pwrite(fd, data_of(n, dseed), off)]
        finally:
            os.close(fd)
    if kind == "append":
        _, rel, n, dseed = op
        fd = os.open(j(rel), os.O_WRONLY | os.O_APPEND | NB)
        try:
            return [os.write(fd, data_of(n, dseed)), stat_view(os.fstat(fd))]
        finally:
            os.close(fd)
    if kind == "truncate":
        os.truncate(j(op[1]), op[2])
        return []
    if kind == "read":
        fd = os.open(j(op[1]), os.O_RDONLY | NB |
                     (0 if op[2] else os.O_NOFOLLOW))
        try:
            data = b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
        finally:
            os.close(fd)
        return [len(data), short_sha(data)]
    if kind == "stat":
        return [stat_view(os.stat(j(op[1]), follow_symlinks=op[2]))]
    if kind == "readdir":
        return sorted(os.listdir(j(op[1])))
    if kind == "unlink":
        os.unlink(j(op[1]))
        return []
    if kind == "rmdir":
        os.rmdir(j(op[1]))
        return []
    if kind == "rmrf":
        rmrf(j(op[1]))
        return []
    if kind == "mkdir":
        with umask_of(op[3]):
            os.mkdir(j(op[1]), op[2])
        return []
    if kind == "rename":
        _, a, b, flags = op
        if flags:
            renameat2(j(a), j(b), flags)
        else:
            os.rename(j(a), j(b))
        return []
    if kind == "link":
        lfstest.linkat(j(op[1]), j(op[2]), op[3])
        return [os.lstat(j(op[2])).st_nlink]
    if kind == "symlink":
        os.symlink(op[1], j(op[2]))
        return []
    if kind == "mkfifo":
        with umask_of(op[3]):
            os.mkfifo(j(op[1]), op[2])
        return [stat_view(os.lstat(j(op[1])))]
    if kind == "mknod":
        with umask_of(op[3]):
            os.mknod(j(op[1]), stat.S_IFCHR | op[2], os.makedev(*op[4]))
        return [stat_view(os.lstat(j(op[1])))]
    if kind == "chmod":
        os.chmod(j(op[1]), op[2])
        return [stat_view(os.stat(j(op[1])))]
    if kind == "chown":
        _, rel, uid, gid, f = op
        os.chown(j(rel), uid, gid, follow_symlinks=f)
        return [stat_view(os.stat(j(rel), follow_symlinks=f))]
    if kind == "utime":
        _, rel, a, m, f = op
        if a is None:
            os.utime(j(rel), None, follow_symlinks=f)
            return []   # the two clocks' "now" differ
        os.utime(j(rel), ns=(a, m), follow_symlinks=f)
        st = os.stat(j(rel), follow_symlinks=f)
        return [st.st_atime_ns, st.st_mtime_ns]
    if kind == "access":
        _, rel, mode, flags, f = op
        faccessat(j(rel), mode,
                  flags | (0 if f else AT_SYMLINK_NOFOLLOW))
        return []
    if kind == "readlink":
        return [os.readlink(j(op[1]))]
    if kind == "setxattr":
        _, rel, name, value, flags, f = op
        os.setxattr(j(rel), name, value, flags, follow_symlinks=f)
        return []
    if kind == "removexattr":
        os.removexattr(j(op[1]), op[2], follow_symlinks=op[3])
        return []
    if kind == "setcap":
        _, rel, value, f = op
        if value is None:
            os.removexattr(j(rel), CAP_XATTR, follow_symlinks=f)
        else:
            os.setxattr(j(rel), CAP_XATTR, value, follow_symlinks=f)
        return []
    if kind == "chattr":
        lfstest.change_inode_flags(j(op[1]), add=op[2], drop=op[3])
        return [lfstest.inode_flags(j(op[1])) & SHOWN_FLAGS]
    if kind == "setacl":
        _, rel, which, value, f = op
        name = ACL_XATTRS[which]
        if value is None:
            os.removexattr(j(rel), name, follow_symlinks=f)
        else:
            os.setxattr(j(rel), name, value, follow_symlinks=f)
        return [stat_view(os.stat(j(rel), follow_symlinks=f))]
    if kind == "getxattr":
        return [os.getxattr(j(op[1]), op[2], follow_symlinks=op[3])]
    if kind == "listxattr":
        return sorted(n for n in os.listxattr(j(op[1]), follow_symlinks=op[2])
                      if n.startswith("user."))
    if kind == "fallocate":
        fd = os.open(j(op[1]), os.O_WRONLY | NB)
        try:
            return fallocate(fd, *op[2:])
        finally:
            os.close(fd)
    if kind == "copy_range":
        _, src, dst, off_in, off_out, n = op
        fd_in = os.open(j(src), os.O_RDONLY | NB)
        try:
            fd_out = os.open(j(dst), os.O_WRONLY | os.O_CREAT | NB, 0o644)
            try:
                return [os.copy_file_range(fd_in, fd_out, n, off_in, off_out),
                        stat_view(os.fstat(fd_out))]
            finally:
                os.close(fd_out)
        finally:
            os.close(fd_in)
    if kind == "tmpfile":
        _, rel, n, dseed, name = op
        fd = os.open(j(rel), os.O_TMPFILE | os.O_RDWR, 0o640)
        try:
            os.write(fd, data_of(n, dseed))
            if name is not None:
                lfstest.linkat("/proc/self/fd/%d" % fd, j(name), True)
            return [stat_view(os.fstat(fd))]
        finally:
            os.close(fd)
    if kind == "seek":
        fd = os.open(j(op[1]), os.O_RDONLY | NB)
        try:
            return seek_holes(fd, *op[2:])
        finally:
            os.close(fd)
    if kind == "reserved":
        _, how, rel, other = op
        if how == "create":
            os.close(os.open(j(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        elif how == "mkdir":
            os.mkdir(j(rel))
        else:
            os.rename(j(other), j(rel))
        return []
    # Descriptors.
    slot = op[1]
    if kind == "fd_open":
        if slot in fds:
            os.close(fds.pop(slot))
        fds[slot] = os.open(j(op[2]), op[3] | NB)
        return []
    if slot not in fds:
        return ["no descriptor"]
    fd = fds[slot]
    if kind == "fd_read":
        data = os.pread(fd, op[3], op[2])
        return [len(data), short_sha(data)]
    if kind == "fd_write":
        return [os.pwrite(fd, data_of(op[3], op[4]), op[2])]
    if kind == "fd_truncate":
        os.ftruncate(fd, op[2])
        return []
    if kind == "fd_chmod":
        os.fchmod(fd, op[2])
        return [stat_view(os.fstat(fd))]
    if kind == "fd_fallocate":
        return fallocate(fd, *op[2:])
    if kind == "fd_seek":
        return seek_holes(fd, *op[2:])
    if kind == "fd_mmap_write":
        return mmap_write(fd, *op[2:])
    if kind == "at_create":
        _, _, name, n, dseed = op
        wfd = os.open(name, os.O_WRONLY | os.O_CREAT | NB, 0o640, dir_fd=fd)
        try:
            os.write(wfd, data_of(n, dseed))
            return [stat_view(os.fstat(wfd))]
        finally:
            os.close(wfd)
    if kind == "at_mkdir":
        os.mkdir(op[2], 0o750, dir_fd=fd)
        return [stat_view(os.stat(op[2], dir_fd=fd, follow_symlinks=False))]
    if kind == "at_remove":
        if op[3]:
            os.rmdir(op[2], dir_fd=fd)
        else:
            os.unlink(op[2], dir_fd=fd)
        return []
    if kind == "at_rename":
        os.rename(op[2], j(op[3]), src_dir_fd=fd)
        return []
    if kind == "at_stat":
        return [stat_view(os.stat(op[2], dir_fd=fd, follow_symlinks=False))]
    if kind == "fd_chown":
        os.fchown(fd, op[2], op[3])
        return [stat_view(os.fstat(fd))]
    if kind == "fd_utime":
        if op[2] is None:
            os.utime(fd, None)
            return []   # the two clocks' "now" differ
        os.utime(fd, ns=(op[2], op[3]))
        st = os.fstat(fd)
        return [st.st_atime_ns, st.st_mtime_ns]
    if kind == "fd_setxattr":
        os.setxattr(fd, op[2], op[3])
        return [os.getxattr(fd, op[2])]
    if kind == "fd_stat":
        return [stat_view(os.fstat(fd))]
    if kind == "fd_readdir":
        return sorted(os.listdir(fd))   # from the start: a dup, rewound
    if kind == "fd_close":
        os.close(fds.pop(slot))
        return []
    raise ValueError(op)


AT_EACCESS, AT_SYMLINK_NOFOLLOW = 0x200, 0x100


def faccessat(path, mode, flags):
    """faccessat(2) with its flags (os.access hides the errno)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.faccessat(-100, os.fsencode(path), mode, flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


FALLOC_KEEP_SIZE = lfstest.FALLOC_FL_KEEP_SIZE
FALLOC_PUNCH_HOLE = lfstest.FALLOC_FL_PUNCH_HOLE
FALLOC_ZERO_RANGE = lfstest.FALLOC_FL_ZERO_RANGE
SEEK_DATA, SEEK_HOLE = 3, 4


def fallocate(fd, mode, off, n):
    """fallocate(2); returns the file's stat_view after it."""
    lfstest.fallocate(fd, mode, off, n)
    return [stat_view(os.fstat(fd))]


def seek_holes(fd, whence, off):
    """lseek(2) with SEEK_DATA or SEEK_HOLE.  Where the holes lie is the
    upper filesystem's and the copy-up's business (a hole may be
    reported as data), so the answer is checked against the file's bytes
    rather than compared: data never lies in what is reported a hole,
    and the offset returned is within the file.  Returns "consistent",
    ENXIO at or past the end of the file, or what was wrong."""
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        return ["a directory"]   # its offsets are the filesystem's own
    size = st.st_size
    try:
        r = os.lseek(fd, off, whence)
    except OSError as e:
        if e.errno != errno.ENXIO or off >= size:
            raise
        if whence == SEEK_HOLE:
            return ["ENXIO before the end of the file"]
        r = size   # no data after off: what is left must read as zeros
    if not off <= r <= size:
        return ["offset %d outside %d..%d" % (r, off, size)]
    # The bytes are read through a new descriptor of the same file: fd
    # may be write-only.
    rfd = os.open("/proc/self/fd/%d" % fd, os.O_RDONLY | NB)
    try:
        if whence == SEEK_DATA and os.pread(rfd, r - off, off).strip(b"\0"):
            return ["data in %d..%d, reported a hole" % (off, r)]
        if whence == SEEK_HOLE and r < size and os.pread(rfd, 1, r) != b"\0":
            return ["data at %d, reported a hole" % r]
    finally:
        os.close(rfd)
    return ["consistent"]


def mmap_write(fd, off, n, dseed):
    """Writes n bytes at off (taken modulo the file's size, never past
    its end) through a shared writable mapping of the whole file, then
    msync and unmap."""
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        return ["a directory"]   # its size is the filesystem's own
    size = st.st_size
    if size == 0:
        return ["empty"]
    off %= size
    n = min(n, size - off)
    m = mmap.mmap(fd, size, mmap.MAP_SHARED,
                  mmap.PROT_READ | mmap.PROT_WRITE)
    try:
        m[off:off + n] = data_of(n, dseed)
        m.flush()
    finally:
        m.close()
    return [n]


def rmrf(p):
    if stat.S_ISDIR(os.lstat(p).st_mode):
        for n in sorted(os.listdir(p)):
            rmrf(os.path.join(p, n))
        os.rmdir(p)
    else:
        os.unlink(p)


def protect_flags_of_file(fd):
    """The immutable and append-only flags of descriptor fd's file, if
    it is a regular file (else 0)."""
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return lfstest.inode_flags("/proc/self/fd/%d" % fd) & \
                lfstest.FS_PROTECT_FL
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def append_lifted(path):
    """path's directory without its append-only flag for the moment (a
    name may be taken out of it)."""
    parent = os.path.dirname(path)
    lifted = lfstest.inode_flags(parent) & lfstest.FS_APPEND_FL
    if lifted:
        lfstest.change_inode_flags(parent, drop=lifted)
    try:
        yield
    finally:
        if lifted:
            lfstest.change_inode_flags(parent, add=lifted)


def undo_on_kernel(k, op, theirs):
    """Takes back, on the kernel's side, what layerfs refuses by design
    (see the docstring), so that the trees stay comparable."""
    j = lambda rel: os.path.join(k, rel)
    if op[0] == "reserved":
        _, how, rel, other = op
        with append_lifted(j(rel)):
            if how == "create":
                os.unlink(j(rel))
            elif how == "mkdir":
                os.rmdir(j(rel))
            else:
                os.rename(j(rel), j(other))
    elif op[0] == "setxattr" and theirs == ("ok",):
        os.removexattr(j(op[1]), op[2], follow_symlinks=op[5])


def by_design(op, mine, theirs):
    """True for a difference documented in the docstring: layerfs
    refused (EPERM) what the kernel did, or tried."""
    if mine != ("EPERM",):
        return False
    if op[0] == "reserved":
        return theirs[0] == "ok"   # a ".wh." name
    if op[0] in ("setxattr", "removexattr") and op[2] in PRIVATE_XATTRS:
        # Set on the kernel's side, or asked to be removed there
        # (ENODATA: it never stays set).
        return theirs in (("ok",), ("ENODATA",))
    return False


def describe_tree_difference(a, b, names=("layerfs", "kernel")):
    (sa, la), (sb, lb) = a, b
    na, nb = ("%-8s" % (n + ":") for n in names)
    out = []
    for k in sorted(set(sa) | set(sb)):
        if sa.get(k) != sb.get(k):
            out.append("  %s:\n    %s %s\n    %s %s"
                       % (k, na, sa.get(k), nb, sb.get(k)))
    if la != lb:
        out.append("  names sharing an inode:\n    %s %s\n    %s %s"
                   % (na, la, nb, lb))
    return "\n".join(out[:20])


# Metadata changes through a descriptor.
FD_META_CHANGES = ("fd_chmod", "fd_chown", "fd_utime", "fd_setxattr")


# Fixed bugs this test found, whose symptom it still names when it fails.
TWO_INODES = (
    "one file, two kernel inodes (a regression of 1f8ab35): what is done "
    "through an open descriptor does not show through the file's name")


class DifferentialRandom(LayerfsTestCase):
    def setUp(self):
        super().setUp()
        self.require_kernel_overlay()
        if os.path.lexists(NOWHERE):
            self.skipTest("%s exists (symlink targets must lead nowhere)"
                          % NOWHERE)
        self.fds = ({}, {})
        self.fd_is_dir = {}
        # slot -> the immutable and append-only flags of the kernel's
        # file when it was opened
        self.flags_at_open = {}
        # Descriptors opened while an older one kept the file in
        # passthrough mode (passthrough_held_by_an_older_descriptor).
        self.opened_in_passthrough = set()
        self.addCleanup(self.close_fds)

    def close_fds(self):
        for side in self.fds:
            for fd in side.values():
                os.close(fd)
            side.clear()

    def kernel_mount(self, mnt, lower, upper, work):
        # nodev, as layerfs mounts without `-o dev`: the devices the
        # operations make cannot be opened on either.
        opts = self.kernel_opts + ",nodev"
        try:
            if self.ns:
                self.ns.mount_overlay(mnt, "lowerdir=%s,upperdir=%s,"
                                      "workdir=%s,%s" % (":".join(lower),
                                                         upper, work, opts))
            else:
                ovl.mount_overlay(mnt, lower, upper, work, opts)
        except Exception as e:
            err = getattr(e, "stderr", b"") or str(e).encode()
            self.skipTest("kernel overlayfs refuses %s: %s"
                          % (self.kernel_opts,
                             err.decode(errors="replace")))

    def kernel_umount(self, mnt):
        if self.ns:
            self.ns.umount(mnt)
        else:
            ovl.umount(mnt)

    def run_random(self, seed, opts, tag, kernel_opts=KERNEL_OPTS,
                   caller=None, kernel_form=False, rootless=False,
                   rootless_ids=rootless_ns.ID_COUNT):
        self.kernel_opts = kernel_opts
        self.ns = None
        one_id = rootless and rootless_ids == 1
        # (A namespace of one id has no other user to run as.)
        if caller is None and os.environ.get("LFS_DIFF_AS_USER") == "1" \
                and not one_id:
            caller = USER_CALLER
        self.caller = caller
        # Hard links break on copy-up on both sides (see the docstring).
        self.no_index = "index=off" in kernel_opts.split(",")
        nops = env_int("LFS_DIFF_OPS", DEFAULT_OPS)
        every = max(1, env_int("LFS_DIFF_CHECK", 10))
        self.seed, self.tag, self.opts = seed, tag, opts
        self.nops, self.every = nops, every
        print("\n%s: LFS_SEED=%d LFS_DIFF_OPS=%d (layerfs -o %s)"
              % (tag, seed, nops, ",".join(opts) or "defaults"),
              file=sys.stderr, flush=True)
        rng = random.Random(seed)
        self.before_cleanup(lambda: lfstest.unprotect_tree(self.path("")))
        id_base = rootless_ns.ID_BASE if rootless else 0
        layers = gen_layers(self, rng, id_base, rootless, one_id)
        klayers = kernel_copies(self, layers)
        copy_protection(layers, klayers)
        if kernel_form:
            # layerfs reads the kernel's own lower layers (0/0 whiteouts,
            # overlay.opaque xattrs), shared with the kernel's mount.
            layers = klayers
        dirs = self.mkdirs("ku", "kw", "kmnt")
        if not rootless:
            self.before_cleanup(lambda: ovl.umount(dirs[2]))
            self.run_mounted(layers, klayers, *dirs)
            return
        # The scratch directory and the kernel's upper layer belong to
        # the namespace's root, as a rootless user's storage does.
        for d in (self.tmp, dirs[0], dirs[1]):
            os.chown(d, id_base, id_base)

        def body(ns):
            self.ns = ns
            try:
                self.run_mounted(layers, klayers, *dirs)
            finally:
                self.close_fds()
                for m in reversed(self._mounts):
                    if lfstest.mounted_fstype(m.path) is not None:
                        m.unmount(timeout=20)
        with lru.fuse_open_to_all():
            rootless_ns.run(body, rootless_ids)

    def run_mounted(self, layers, klayers, ku, kw, kmnt):
        """Both mounted, the operations run on both and compared, then
        both mounted again and more operations."""
        nops, every, opts = self.nops, self.every, self.opts
        self.kernel_mount(kmnt, klayers, ku, kw)
        m = self.mount_rw(layers, opts=opts, name="lfs")
        self.layers, self.upper, self.work = layers, m.upper, m.work
        self.kernel_upper = ku
        self.lower_view = self.lower_tree(layers)
        self.done = []
        self.opened = {}   # slot -> the operation that opened it
        self.compare_trees(m.path, kmnt, "the lower layers as mounted")

        gen = Generator(random.Random(self.seed * 7919 + 1))
        self.run_ops(gen, 0, nops, m.path, kmnt, every)

        # Persistence: both unmounted and mounted again on the same
        # upper layers, then more operations on what was read back.
        self.close_fds()
        self.opened.clear()
        m.unmount()
        self._mounts.remove(m)
        self.kernel_umount(kmnt)
        m = self.mount(layers, m.upper, m.work, opts=opts,
                       mnt=self.path("lfs-again"))
        self.kernel_mount(kmnt, klayers, ku, kw)
        self.compare_trees(m.path, kmnt, "after a remount of both",
                           nops - 1)
        self.run_ops(gen, nops, nops + nops // 4, m.path, kmnt, every)
        self.close_fds()

    def lower_tree(self, layers):
        """The tree of the lower layers alone, as diff compares with."""
        m = self.mount(layers, mnt=self.path("lower-view"))
        view = tree(m.path)
        m.unmount()
        self._mounts.remove(m)
        return view

    def diff_agrees(self, want, when, i):
        """`layertool diff` (with the work directory) of the upper layer
        against the lower ones, held to the two trees: every name added
        listed A, every name changed A or C, every name gone D (or
        under a directory listed D), and nothing listed that is not so."""
        r = lt.run_layertool(["diff", "--json", "--work", self.work,
                              self.upper] + list(self.layers))
        self.assertEqual(r.returncode, 0, "%s: layertool diff %s: %s" % (
            self.where(i), when, r.stderr.decode(errors="replace")))
        kinds = {c["path"][1:]: c["kind"]
                 for c in json.loads(r.stdout)["changes"]}
        now, before = want[0], self.lower_view[0]
        fields = ("type", "mode", "uid", "gid", "size", "sha", "target",
                  "rdev", "xattrs")

        def changed(p):
            return any(now[p].get(f) != before[p].get(f) for f in fields)

        def deleted(p):
            """p, or a directory above it, listed D, or listed as
            changed into what is no directory (as docker diff shows a
            directory replaced by a file: its content goes with it)."""
            parts = p.split("/")
            for n in range(1, len(parts) + 1):
                q = "/".join(parts[:n])
                if kinds.get(q) == "D" or (
                        n < len(parts) and kinds.get(q) in ("A", "C") and
                        now.get(q, {}).get("type") != stat.S_IFDIR):
                    return True
            return False
        wrong = []
        for p, k in sorted(kinds.items()):
            if (k == "A" and p not in now) or (k == "D" and p not in
                                               before) or \
                    (k == "C" and (p not in now or p not in before)):
                wrong.append("%s listed %s" % (p, k))
        for p in sorted(now):
            if p not in before and kinds.get(p) != "A":
                wrong.append("%s added, listed %s" % (p, kinds.get(p)))
            elif p in before and changed(p) and \
                    kinds.get(p) not in ("A", "C"):
                wrong.append("%s changed, listed %s" % (p, kinds.get(p)))
        for p in sorted(before):
            if p not in now and not deleted(p):
                wrong.append("%s gone, listed %s" % (p, kinds.get(p)))
        if wrong:
            self.fail("%s: layertool diff %s:\n  %s" % (
                self.where(i), when, "\n  ".join(wrong[:20])))

    def export_shows_the_same(self, lfs, when, i):
        """The upper layer, exported by layertool as an OCI layer while
        the mount is live (its data synced, nothing running) and imported
        again, shows over the same lower layers what the mount shows:
        what `layerrun commit` makes of a container."""
        want = tree(lfs)
        lfstest.syncfs(lfs)
        self.diff_agrees(want, when, i)
        out = self.path("export-%d.tar" % i)
        r = lt.run_layertool(["export", "--lower", ":".join(self.layers),
                              "--work", self.work, self.upper, out])
        self.assertEqual(r.returncode, 0, "%s: layertool export %s: %s" % (
            self.where(i), when, r.stderr.decode(errors="replace")))
        img = self.path("exported-%d" % i)
        r = lt.run_layertool(["import", "--store", self.path("store"), out,
                              img])
        self.assertEqual(r.returncode, 0, "%s: layertool import %s: %s" % (
            self.where(i), when, r.stderr.decode(errors="replace")))
        # A clean layer too: no whiteout that hides nothing, no
        # bookkeeping left, nothing `layertool check` warns about but the
        # character devices the operations made (a warning by design).
        stack = lt.image_layers(img) + list(self.layers)
        r = lt.run_layertool(["check"] + stack)
        report = r.stdout.decode(errors="replace")
        findings = [ln for ln in report.splitlines()
                    if ln.startswith(("warning:", "error:"))]
        clean = r.returncode == 0 or (
            r.returncode == 4 and
            all(ln.endswith("[device-file]") for ln in findings))
        self.assertTrue(clean, "%s: layertool check of the layer exported "
                        "%s (exit %d):\n%s" % (self.where(i), when,
                                                 r.returncode, report))
        # Imported where it cannot chown (a user namespace of one id),
        # the image keeps owners and modes in override_stat xattrs, and
        # is mounted with them as layerrun mounts it; its ACLs are left
        # out by design (layertool(1)).
        with open(os.path.join(img, "image.json")) as f:
            override = json.load(f).get("ownership") == "override_stat"
        m = self.mount(stack, mnt=self.path("exported-%d-mnt" % i),
                       opts=("xattr_permissions=2",) if override else ())
        got = tree(m.path)
        m.unmount()
        self._mounts.remove(m)
        os.unlink(out)
        # Link counts apart: the mount's count of a copied-up lower hard
        # link includes its names that the lower layers themselves hide
        # (as kernel overlayfs's does), which no layer can carry; which
        # names share an inode is compared.  Inode flags apart: a layer
        # archive carries none (README).
        for snap, _ in (got, want):
            for e in snap.values():
                e.pop("nlink", None)
                e.pop("flags", None)
                if override and e.get("xattrs"):
                    for name in ACL_XATTRS:
                        e["xattrs"].pop(name, None)
        if got != want:
            self.fail("%s: the upper layer exported %s and imported again "
                      "differs from the mount\n%s" % (
                          self.where(i), when,
                          describe_tree_difference(
                              got, want, ("imported", "mount"))))

    def run_ops(self, gen, start, end, lfs, k, every):
        for i in range(start, end):
            gen.view = names(k)
            op = gen.op(i)
            if self.noop_chown_without_index(op) or \
                    self.kills_caps_of_protected(k, op) or \
                    self.chmod_only_clears_setid_of_protected(k, op) or \
                    self.writes_what_became_protected(op):
                mine = theirs = ("not run",)
            else:
                with self.as_caller():
                    mine = apply(lfs, op, self.fds[0])
                theirs = self.kernel_outcome(k, op, mine)
                if self.caller:
                    mine = outcome_without_idle_sgid(mine)
                    theirs = outcome_without_idle_sgid(theirs)
                    if self.idle_sgid_kept(k, op, mine, theirs):
                        theirs = mine
                        self.kill_caps_as_fuse_does(k, op)

            if self.permission_before_protection(k, op, mine, theirs) or \
                    self.access_to_write_immutable(k, op, mine, theirs) or \
                    self.maps_append_only(op, mine, theirs) or \
                    self.absent_acl_on_one_side_only_lower(op, mine, theirs):
                theirs = mine
            if TRACE:
                print("#%d %s -> %s%s" % (
                    i, fmt_op(op), mine,
                    "" if mine == theirs else " (kernel: %s)" % (theirs,)),
                    file=sys.stderr)
            self.done.append((i, op))
            if op[0] == "fd_open":
                self.opened[op[1]] = (i, op)
                if op[1] in self.fds[1]:
                    self.fd_is_dir[op[1]] = stat.S_ISDIR(
                        os.fstat(self.fds[1][op[1]]).st_mode)
                    self.flags_at_open[op[1]] = protect_flags_of_file(
                        self.fds[1][op[1]])
                    self.opened_in_passthrough.discard(op[1])
                    if self.passthrough_held_by_an_older_descriptor(op):
                        self.opened_in_passthrough.add(op[1])
            if mine != theirs:
                self.explain(i, op, mine, theirs, lfs, k)
            if self.fds[0]:
                self.descriptors_agree(i, op, lfs)
            if (i + 1) % every == 0 or i + 1 == end:
                self.compare_trees(lfs, k, "after operation #%d" % i, i)
            if (i + 1) % EXPORT_EVERY == 0:
                self.export_shows_the_same(lfs, "after operation #%d" % i, i)

    def access_to_write_immutable(self, k, op, mine, theirs):
        """access(W_OK) of an immutable file: the kernel answers EPERM
        for the flag, the FUSE client, which does not know it and asks
        layerfs nothing for an access(2) under default_permissions,
        answers from the mode and ACLs (see the docstring).  A write
        itself is refused on both."""
        if op[0] != "access" or not op[2] & os.W_OK or \
                theirs != ("EPERM",) or mine != ("ok",):
            return False
        try:
            return bool(lfstest.inode_flags(self.kernel_path(k, op)) &
                        lfstest.FS_IMMUTABLE_FL)
        except OSError:
            return False

    def maps_append_only(self, op, mine, theirs):
        """A shared writable mapping of a descriptor of an append-only
        file: the kernel refuses it with EACCES, for the flag, and the
        FUSE client with ENODEV, for the direct I/O layerfs serves such
        a file with (see the docstring)."""
        return op[0] == "fd_mmap_write" and op[1] in self.fds[1] and \
            (mine, theirs) == (("ENODEV",), ("EACCES",)) and \
            protect_flags_of_file(self.fds[1][op[1]]) & \
            lfstest.FS_APPEND_FL

    def flag_gained_since_open(self, op, flag):
        """Whether op works on a descriptor whose file has gained flag
        since it was opened."""
        if not op[0].startswith("fd_") or op[1] not in self.fds[1]:
            return False
        return bool(protect_flags_of_file(self.fds[1][op[1]]) & flag &
                    ~self.flags_at_open.get(op[1], 0))

    def flag_lost_since_open(self, op, flag):
        """Whether op works on a descriptor whose file has lost flag
        since it was opened."""
        if not op[0].startswith("fd_") or op[1] not in self.fds[1]:
            return False
        return bool(self.flags_at_open.get(op[1], 0) & flag &
                    ~protect_flags_of_file(self.fds[1][op[1]]))

    def writes_what_became_protected(self, op):
        """A descriptor opened before its file was made append-only or
        immutable through the mount (see the docstring): a shared
        writable mapping of it, which the kernel refuses for the
        append-only flag and the FUSE client cannot (RELIABILITY, open
        item 6), or a write, truncation or fallocate of an immutable
        file through it, which the upper filesystem refuses on
        layerfs's copy, where the flag is, and allows on kernel
        overlayfs's, whose flag is in an xattr.  And a shared writable
        mapping of a descriptor opened while its file was append-only,
        once the flag is off, which the FUSE client refuses for the
        direct I/O of that open and the kernel allows.  Not run."""
        if op[0] == "fd_mmap_write" and (
                self.flag_gained_since_open(op, lfstest.FS_APPEND_FL) or
                self.flag_lost_since_open(op, lfstest.FS_APPEND_FL) or
                self.passthrough_held_by_an_older_descriptor(op) or
                op[1] in self.opened_in_passthrough):
            return True
        return op[0] in ("fd_write", "fd_truncate", "fd_fallocate",
                         "fd_mmap_write") and \
            self.flag_gained_since_open(op, lfstest.FS_IMMUTABLE_FL)

    def passthrough_held_by_an_older_descriptor(self, op):
        """Another descriptor of op's file in the mount, opened while
        the file was not append-only, is still open: layerfs served it
        in passthrough mode, and the kernel takes every later open of
        the inode in that mode too, whose shared writable mapping it
        checks against the FUSE inode, which carries no flags
        (RELIABILITY, open item 6); a descriptor opened meanwhile stays
        in that mode (opened_in_passthrough).  The same file as layerfs
        has it: without an index, a lower hard link's other name may be
        one on layerfs's side and two on the kernel's.  (Seed
        1112020592.)"""
        if op[1] not in self.fds[0] or op[1] not in self.fds[1] or \
                not protect_flags_of_file(self.fds[1][op[1]]) & \
                lfstest.FS_APPEND_FL:
            return False
        try:
            mine = os.fstat(self.fds[0][op[1]])
        except OSError:
            return False
        for slot, fd in self.fds[0].items():
            if slot == op[1] or \
                    self.flags_at_open.get(slot, 0) & lfstest.FS_APPEND_FL:
                continue
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                return True
        return False

    def kernel_path(self, k, op):
        """The kernel's side of the file op names, as a path (through
        /proc for an operation on a descriptor), or None."""
        if op[0] in ("fd_open", "reserved"):
            return os.path.join(k, op[2])
        if op[0].startswith("fd_") or op[0].startswith("at_"):
            fd = self.fds[1].get(op[1])
            if fd is None:
                return None
            proc = "/proc/self/fd/%d" % fd
            if op[0].startswith("fd_"):
                return proc
            return os.path.join(proc, op[2]) if isinstance(op[2], str) \
                else None
        return os.path.join(k, op[1]) if isinstance(op[1], str) else None

    def chmod_only_clears_setid_of_protected(self, k, op):
        """A chmod of an immutable or append-only file that only clears
        its set-id bits: the kernel refuses it, but layerfs cannot tell
        it from the kernel's own clearing of those bits, which it allows
        (see the docstring): not run.  The mode is the one the FUSE
        client sends: without the set-group-id bit when the caller is
        outside the file's group (and not root)."""
        if op[0] not in ("chmod", "fd_chmod"):
            return False
        path = self.kernel_path(k, op)
        setid = stat.S_ISUID | stat.S_ISGID
        try:
            st = os.stat(path)
            now, want = stat.S_IMODE(st.st_mode), op[2]
            if self.caller and st.st_gid != self.caller[1] and \
                    st.st_gid not in self.caller[2]:
                want &= ~stat.S_ISGID
            return want != now and want & ~setid == now & ~setid and \
                not want & setid & ~now and \
                lfstest.inode_flags(path) & lfstest.FS_PROTECT_FL
        except (OSError, TypeError):
            return False

    def absent_acl_on_one_side_only_lower(self, op, mine, theirs):
        """The removal of an ACL from a file or directory that has none,
        copied up on one side only: ENODATA from a lower layer, success
        from the upper filesystem (see the docstring).  layerfs keeps
        a directory lower where the kernel copies it up for a lower
        hard link below it (its copy went to the index only); with
        redirect_dir=off, layerfs copies up what a rename of a
        directory moves, where the kernel leaves it lower behind a
        redirect."""
        if op[0] != "setacl" or op[3] is not None or \
                {mine[0], theirs[0]} != {"ENODATA", "ok"}:
            return False
        mine_up = os.path.join(self.upper, op[1])
        theirs_up = os.path.join(self.kernel_upper, op[1])
        if mine[0] == "ENODATA":
            mine_up, theirs_up = theirs_up, mine_up
        # mine_up: the side that succeeded, theirs_up: the one refused.
        return os.path.lexists(mine_up) and \
            not os.path.islink(mine_up) and \
            not os.path.lexists(theirs_up)

    def permission_before_protection(self, k, op, mine, theirs):
        """A change of an immutable or append-only file, or of a name in
        such a directory, that the kernel refuses with EPERM for the
        flag before anything else, while its
        FUSE client, which does not know the flag, makes its own checks
        first: the caller's permission (EACCES), or the types of a
        rename's or rmdir's names (ENOTDIR, EISDIR).  Refused on both
        (for a recursive removal: somewhere below).
        Or the removal of a default ACL from a non-directory, which the
        FUSE client answers itself (it has none) without asking layerfs:
        nothing changes on either side."""
        acl_noop = op[0] == "setacl" and op[2] == 1 and op[3] is None \
            and mine[0] == "ok"
        if theirs != ("EPERM",) or not (
                acl_noop or mine in (("EACCES",), ("ENOTDIR",),
                                     ("EISDIR",))):
            return False
        # (A symlink's first operand is its target, not a path.)
        paths = [self.kernel_path(k, op)] if op[0] != "symlink" else []
        if op[0] in ("rename", "copy_range", "link", "symlink"):
            paths.append(os.path.join(k, op[2]))
        elif op[0] == "reserved" and op[3]:
            paths.append(os.path.join(k, op[3]))
        elif op[0] == "at_rename":
            paths.append(os.path.join(k, op[3]))
        elif op[0] == "tmpfile" and op[4]:
            paths.append(os.path.join(k, op[4]))   # the name it gets
        elif op[0] == "rmrf" and paths[0]:
            # Refused somewhere below (the trees are compared after).
            for dirpath, dirs, files in os.walk(paths[0]):
                paths += [os.path.join(dirpath, n) for n in dirs + files]
        for path in [p for p in paths if p]:
            # The name's own flags, or its directory's.
            for q in (path, os.path.dirname(path)):
                try:
                    if lfstest.inode_flags(q) & lfstest.FS_PROTECT_FL:
                        return True
                except OSError:
                    pass
        return False

    def kernel_outcome(self, k, op, mine):
        """op run on the kernel's side, or, where that side would differ
        by design in a way its undo cannot mend, the outcome expected of
        layerfs instead (mine: layerfs's)."""
        if self.renames_one_file(k, op):
            # Unless the caller may not rename there: refused before
            # any filesystem is asked, on the kernel's side alike.
            if mine in (("EACCES",), ("EPERM",)) and self.caller:
                with self.as_caller():
                    return apply(k, op, self.fds[1])
            return ("ok",)
        if self.undo_impossible(k, op):
            # Refused for the name (EPERM), unless the VFS refused an
            # unprivileged caller first, before any filesystem was
            # asked, as it does on the kernel's side (EACCES; in a
            # sticky directory EPERM too).
            if self.caller and mine == ("EACCES",):
                return mine
            return ("EPERM",)
        with self.as_caller():
            return apply(k, op, self.fds[1])

    @contextlib.contextmanager
    def as_caller(self):
        """The operations' credentials: root's, or in the configuration
        that asks for it an unprivileged user's (effective ids only, so
        that the test takes root's back for its comparisons)."""
        if self.caller is None:
            yield
            return
        uid, gid, groups = self.caller
        saved = os.getgroups()
        os.setgroups(groups)
        os.setegid(gid)
        os.seteuid(uid)
        if self.ns:
            rootless_ns.dumpable_again()
        try:
            yield
        finally:
            os.seteuid(0)
            os.setegid(0)
            os.setgroups(saved)
            if self.ns:
                rootless_ns.dumpable_again()

    def renames_one_file(self, k, op):
        """With index=off, a plain or exchanging rename of one name of a
        lower hard link over another: the kernel renames (its two overlay inodes
        are two files to the VFS, though they show one st_ino), layerfs
        does nothing, as POSIX asks of a rename between two names of
        the file st_ino shows (see the docstring)."""
        if not self.no_index or op[0] != "rename" or \
                op[3] not in (0, RENAME_EXCHANGE):
            return False
        try:
            a = os.lstat(os.path.join(k, op[1]))
            b = os.lstat(os.path.join(k, op[2]))
        except OSError:
            return False
        return not stat.S_ISDIR(a.st_mode) and \
            (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    def idle_sgid_kept(self, k, op, mine, theirs):
        """chown(-1, -1) by a user who does not own the file, of a file
        with an idle set-group-id bit (idle_sgid_dropped) and of a group
        the user is not of: the kernel's side clears the bit, which
        needs the owner (EPERM); the FUSE client leaves it and the chown
        changes nothing (see the docstring)."""
        if op[0] not in ("chown", "fd_chown") or op[2:4] != (-1, -1) or \
                mine[0] != "ok" or theirs != ("EPERM",):
            return False
        try:
            st = os.fstat(self.fds[1][op[1]]) if op[0] == "fd_chown" else \
                os.stat(os.path.join(k, op[1]), follow_symlinks=op[4])
        except (OSError, KeyError):
            return False
        # (A chown clears the bit of any non-directory, fifos too.)
        return st.st_uid != self.caller[0] and \
            st.st_gid not in self.caller[2] and \
            not stat.S_ISDIR(st.st_mode) and \
            st.st_mode & stat.S_ISGID and not st.st_mode & stat.S_IXGRP

    def kill_caps_as_fuse_does(self, k, op):
        """After idle_sgid_kept: the FUSE client, which let that chown
        through, removed the file's capabilities for it, as a chown
        removes them on any filesystem; the kernel's side, which
        refused it, kept them.  Removed there too (see the
        docstring)."""
        try:
            if op[0] == "fd_chown":
                os.removexattr(self.fds[1][op[1]], CAP_XATTR)
            else:
                os.removexattr(os.path.join(k, op[1]), CAP_XATTR,
                               follow_symlinks=op[4])
        except (OSError, KeyError):
            pass   # none to remove

    def noop_chown_without_index(self, op):
        """chown to (-1, -1) changes nothing, but kernel overlayfs copies
        the file up for it, which with index=off breaks a lower hard
        link; layerfs leaves the file alone.  Not run in that
        configuration (see the docstring)."""
        return self.no_index and op[0] in ("chown", "fd_chown") and \
            op[2] == op[3] == -1

    def kills_caps_of_protected(self, k, op):
        """A change for which the kernel removes the capabilities of an
        immutable or append-only file past its flag: a chown to (-1, -1)
        (kernel overlayfs does it past either flag, kept in an xattr
        there), or a fallocate of an append-only file.  layerfs refuses
        that removal (see the docstring).  Not run."""
        if op[0] in ("chown", "fd_chown"):
            if op[2] != -1 or op[3] != -1:
                return False
            flags = lfstest.FS_PROTECT_FL
        elif op[0] in ("fallocate", "fd_fallocate"):
            flags = lfstest.FS_APPEND_FL
        else:
            return False
        path = self.kernel_path(k, op)
        follow = op[0] not in ("chown",) or op[4]
        try:
            st = os.stat(path, follow_symlinks=follow)
            if not stat.S_ISREG(st.st_mode) or \
                    not lfstest.inode_flags(path) & flags:
                return False
            os.getxattr(path, CAP_XATTR, follow_symlinks=follow)
            return True
        except (OSError, TypeError):
            return False

    def undo_impossible(self, k, op):
        """A rename to a `.wh.` name, which layerfs refuses by design,
        is undone on the kernel's side by renaming back; with index=off
        that cannot take back the copy-up that broke the file's hard
        links.  Where the kernel would do it (the file and the target's
        directory exist), it is not run there; layerfs must refuse it."""
        if not self.no_index or op[0] != "reserved" or op[1] != "rename":
            return False
        _, _, rel, other = op
        return os.path.lexists(os.path.join(k, other)) and \
            os.path.isdir(os.path.join(k, os.path.dirname(rel))) and \
            not rel.startswith(other + "/")   # into itself: EINVAL

    def explain(self, i, op, mine, theirs, lfs, k):
        """A difference of outcomes: by design (handled), or a failure."""
        what = "op #%d %s\n  layerfs: %s\n  kernel:  %s" % (
            i, fmt_op(op), mine, theirs)
        if by_design(op, mine, theirs):
            undo_on_kernel(k, op, theirs)
            return
        if op[0] == "fd_stat" and self.removed_lower_file(op, mine, theirs):
            return
        if op[0] in FD_META_CHANGES and mine == ("ENOENT",) and \
                theirs in (("EEXIST",), ("ENOTDIR",), ("ENOTEMPTY",),
                           ("EIO",)) and self.removed_since_opened(op):
            # A metadata change through a descriptor of a lower file or
            # directory removed since: neither can copy up what has no
            # name any more (the kernel answers EEXIST, ENOTDIR,
            # ENOTEMPTY or EIO, after what its copy-up finds where the
            # name was: ENOTEMPTY when a directory renamed over a
            # removed one holds entries).  Nothing changed on either
            # side (the trees are compared next).
            return
        if op[0] in FD_META_CHANGES and mine == ("ENOENT",) and \
                theirs[0] == "ok" and self.kernel_revived_name(op, lfs, k):
            return
        if mine[0] == theirs[0] == "ok" and len(mine) == len(theirs):
            diff = [(a, b) for a, b in zip(mine, theirs) if a != b]
            if all(isinstance(a, tuple) for a, b in diff):
                pairs = [(attrs_of(a), attrs_of(b)) for a, b in diff]
                fresh = self.fresh_attrs(lfs, op)
                if len(pairs) == 1 and stale(*pairs[0], fresh):
                    self.two_inodes(i,
                               what + "\n  asked again: %s" % fresh)
        if mine[0] == theirs[0] == "ok":
            two = self.two_views(lfs, self.inos_of(lfs, op))
            if two:
                self.two_inodes(i, what + "\n  " + two)
        self.fail(self.where(i, op) + "\n  layerfs: %s\n  kernel:  %s"
                  % (mine, theirs))

    def kernel_revived_name(self, op, lfs, k):
        """A metadata change through a descriptor of a lower fifo,
        socket or device removed since it was opened: kernel overlayfs
        copies it up in its upper layer under the name it had, over the
        removal's whiteout, and the removed name comes back, at once or
        once the mount's cached negative entry goes (a kernel bug; see
        the docstring).  True when that is what happened; the whiteout
        is then put back, so that the trees stay comparable: through the
        mount where the name shows already, which removes it the
        kernel's own way, else in the kernel's upper layer, which is
        what the mount still shows.  The descriptor is closed on both
        sides."""
        fd = self.fds[1].get(op[1])
        if fd is None:
            return False
        link = os.readlink("/proc/self/fd/%d" % fd)
        if not link.startswith(k + "/") or not link.endswith(" (deleted)"):
            return False
        rel = link[len(k) + 1:-len(" (deleted)")]
        revived = os.path.join(self.kernel_upper, rel)
        try:
            st = os.lstat(revived)
        except OSError:
            return False
        kind = stat.S_IFMT(st.st_mode)
        if kind not in (stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR,
                        stat.S_IFBLK) or \
                (kind == stat.S_IFCHR and st.st_rdev == 0) or \
                os.path.lexists(os.path.join(lfs, rel)):
            return False
        shown = os.path.join(k, rel)
        try:
            shown_kind = stat.S_IFMT(os.lstat(shown).st_mode)
        except FileNotFoundError:
            shown_kind = None
        if shown_kind is None:
            os.unlink(revived)
            os.mknod(revived, stat.S_IFCHR, 0)
        elif shown_kind == kind:
            os.unlink(shown)
        else:
            return False
        # The kernel's descriptor shows the change, layerfs's does not:
        # both are closed, so that no later operation compares them.
        for side in self.fds:
            if op[1] in side:
                os.close(side.pop(op[1]))
        return True

    def removed_lower_file(self, op, mine, theirs):
        """fstat of a lower file removed since it was opened: layerfs
        counts no link left, as a local filesystem does; the kernel
        shows the lower file's own count (see the docstring)."""
        if mine[0] != "ok" or theirs[0] != "ok" or \
                mine[1][:4] != theirs[1][:4] or mine[1][4] != 0 or \
                theirs[1][4] < 1:
            return False
        return self.removed_since_opened(op)

    def removed_since_opened(self, op):
        """True when the kernel's descriptor of op has lost its name."""
        fd = self.fds[1].get(op[1])
        return fd is not None and \
            os.readlink("/proc/self/fd/%d" % fd).endswith(" (deleted)")

    def descriptors_agree(self, i, op, lfs):
        """After each operation on a file named by path, layerfs's open
        descriptors of that file must show it as its name does: one
        st_ino seen two ways at once is the symptom of TWO_INODES,
        caught as soon as it shows (later, the name or the descriptors
        may be gone; in writeback mode the kernel keeps each inode's
        size, so asking the daemon again cannot show it)."""
        for p in op[1:3]:
            if not isinstance(p, str):
                continue
            try:
                st = os.lstat(os.path.join(lfs, p))
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            for slot, fd in sorted(self.fds[0].items()):
                try:
                    fst = os.fstat(fd)
                except OSError:
                    continue
                if fst.st_ino == st.st_ino and \
                        stat_view(fst) != stat_view(st):
                    self.two_inodes(i, "op #%d %s\n  %s: %s, "
                               "descriptor %d: %s" % (
                                   i, fmt_op(op), p, stat_view(st), slot,
                                   stat_view(fst)))

    def inos_of(self, lfs, op):
        """The st_ino of the files op named or used (by path or
        descriptor) on layerfs's side."""
        out = set()
        for p in op[1:3]:
            if isinstance(p, str):
                with contextlib.suppress(OSError):
                    out.add(os.lstat(os.path.join(lfs, p)).st_ino)
        if op[0].startswith("fd_") and op[1] in self.fds[0]:
            with contextlib.suppress(OSError):
                out.add(os.fstat(self.fds[0][op[1]]).st_ino)
        return out

    def two_views(self, lfs, inos):
        """The symptom of TWO_INODES: a regular file among inos seen
        two ways at once (attributes, or data) through its names and
        layerfs's open descriptors: the kernel holds two inodes for it.
        (In writeback mode the kernel keeps each inode's size and data,
        so asking the daemon again cannot show it.)"""
        views = {}

        def see(path, st, who):
            if st.st_ino in inos and stat.S_ISREG(st.st_mode):
                with contextlib.suppress(OSError):
                    data = short_sha(lfstest.read(path))
                    views.setdefault(st.st_ino, {}).setdefault(
                        stat_view(st) + (data,), []).append(who)

        for p, kind in names(lfs):
            with contextlib.suppress(OSError):
                full = os.path.join(lfs, p)
                see(full, os.lstat(full), p)
        for slot, fd in sorted(self.fds[0].items()):
            with contextlib.suppress(OSError):
                # A new open of the descriptor's own file.
                see("/proc/self/fd/%d" % fd, os.fstat(fd),
                    "descriptor %d" % slot)
        for ino, seen in sorted(views.items()):
            if len(seen) > 1:
                return "one st_ino seen several ways: %s" % "; ".join(
                    "%s: %s" % (", ".join(w), v) for v, w in seen.items())
        return None

    def fresh_attrs(self, lfs, op):
        """What layerfs answers, asked again, for the file whose
        attributes op reported."""
        if op[0] in ("stat", "chmod", "chown", "append"):
            follow = {"stat": op[-1], "chown": op[-1]}.get(op[0], True)
            return lfstest.statx_sync(os.path.join(lfs, op[1]), follow)
        if op[0] in ("fd_stat", "fd_chmod") and op[1] in self.fds[0]:
            return lfstest.statx_sync(
                "/proc/self/fd/%d" % self.fds[0][op[1]], True)
        return None

    def two_inodes(self, i, what):
        """The symptom of a fixed bug, seen again: a failure that says
        so."""
        self.fail("%s\n%s\n%s" % (TWO_INODES, self.where(i), what))

    def compare_trees(self, lfs, k, when, i=None):
        try:
            a = tree(lfs)
        except OSError as e:
            # A name the listing gives and a lookup or open refuses.
            self.fail("%s: layerfs's tree cannot be read %s: %s" % (
                self.where(i), when, e))
        b = tree(k)
        if self.caller:
            a, b = tree_without_idle_sgid(a), tree_without_idle_sgid(b)
        if a == b:
            return
        diff = "%s\n%s" % (when, describe_tree_difference(a, b))
        (sa, la), (sb, lb) = a, b
        keys = [p for p in sorted(set(sa) | set(sb)) if sa.get(p) != sb.get(p)]
        if la == lb and keys and all(p in sa and p in sb for p in keys):
            # Attributes apart only: the symptom of a fixed bug, if
            # asking again or the descriptors show it.
            fresh = {p: lfstest.statx_sync(os.path.join(lfs, p))
                     for p in keys}
            if all(stale(sa[p], sb[p], fresh[p]) for p in keys):
                self.two_inodes(i,
                           diff + "\n  asked again: %s" % fresh)
            two = [self.two_views(lfs, self.inos_of(lfs, ("tree", p)))
                   for p in keys]
            if all(two):
                self.two_inodes(i, diff + "\n  " + two[0])
        self.fail("%s: trees differ %s" % (self.where(i), diff))

    def where(self, i=None, op=None):
        s = "seed %d (%s, layerfs -o %s)" % (
            self.seed, self.tag, ",".join(self.opts) or "defaults")
        if op is not None:
            s += " op #%d %s" % (i, fmt_op(op))
        recent = "\n".join("    #%d %s" % (n, fmt_op(o))
                           for n, o in self.done[-8:])
        if self.opened:
            recent += "\n  descriptors opened by:\n" + "\n".join(
                "    #%d %s" % (self.opened[slot][0],
                                fmt_op(self.opened[slot][1]))
                for slot in sorted(self.opened))
        if i is not None:
            # The same comparisons at the same points: what the kernel
            # caches depends on them (LFS_DIFF_CHECK=1 compares after
            # every operation).
            s += ("\n  replay: LFS_SEED=%d LFS_DIFF_OPS=%d LFS_DIFF_CHECK=%d"
                  " python3 %s -v %s.%s"
                  % (self.seed, i + 1 if i < self.nops else self.nops,
                     self.every, os.path.basename(__file__),
                     type(self).__name__, self._testMethodName))
        return s + "\n  last operations:\n" + recent

    def seed_for(self, offset):
        seed = os.environ.get("LFS_SEED")
        if seed:
            return int(seed)
        return (int.from_bytes(os.urandom(4), "little") + offset) & 0x7fffffff

    def test_random_ops_dotwh_upper(self):
        self.run_random(self.seed_for(0), (), "dotwh upper")

    def test_random_ops_overlay_upper(self):
        self.run_random(self.seed_for(1), ("whiteout=overlay",),
                        "overlay upper")

    def test_random_ops_writeback(self):
        # No passthrough: reads and writes of upper files go through the
        # daemon and the kernel's writeback cache, as on rootless mounts.
        # Every other seed with udba=reval too (lower layers watched,
        # kernel caches short): nothing changes behind this mount, so
        # the view must not differ.
        seed = self.seed_for(2)
        opts = ("passthrough=0",) + (("udba=reval",) if seed % 2 else ())
        self.run_random(seed, opts, "writeback cache")

    def test_random_ops_copying(self):
        # Everything copied: data on the first metadata change
        # (metacopy=off), and a renamed directory's whole subtree
        # (redirect_dir=off) instead of a redirect.  The views must not
        # show the difference.
        self.run_random(self.seed_for(3), ("metacopy=0", "redirect_dir=off"),
                        "copying")

    def test_random_ops_override_stat(self):
        # Owners, modes and device numbers set through the mount kept in
        # the user.containers.override_stat xattr of the upper files
        # instead of on them, and the writeback cache (no passthrough),
        # as rootless mounts without id ranges have them.
        self.run_random(self.seed_for(7),
                        ("xattr_permissions=2", "passthrough=0"),
                        "override stat")

    def test_random_ops_as_a_user(self):
        # The operations as an unprivileged user (one of the owners the
        # layers give their files, with a second group that is another
        # owner): permission checks, sticky directories, set-id bits
        # dropped, ownership of what is created, on both sides.
        self.run_random(self.seed_for(5), (), "as a user",
                        caller=USER_CALLER)

    def test_random_ops_kernel_lowers(self):
        # The lower layers in kernel overlayfs's form, the very
        # directories the kernel's mount uses: whiteouts are 0/0
        # devices, opaque directories carry overlay.opaque xattrs.
        self.run_random(self.seed_for(6), (), "kernel-form lower layers",
                        kernel_form=True)

    def test_random_ops_rootless(self):
        # The daemon as rootless podman runs it: root of a user
        # namespace that maps 65536 ids from a subordinate range (the
        # host's root unmapped), mounting in a mount namespace of its
        # own, without passthrough (the kernel refuses it there), the
        # operations from that namespace (the only callers such a mount
        # answers).  The kernel's mount is the host root's, with
        # redirect_dir and index as everywhere (a user namespace would be
        # refused them).  No immutable or append-only flags and no
        # character devices in the layers: without CAP_LINUX_IMMUTABLE
        # and CAP_MKNOD on the host the daemon cannot copy them up
        # (README), where the kernel's mount, the host root's, can.
        # The upper layer's form comes with the seed: `.wh.` files,
        # 0/0 whiteouts (which a user namespace may make), everything
        # copied, or no hard-link index (on both sides).
        seed = self.seed_for(8)
        opts, kernel_opts = (
            ((), KERNEL_OPTS),
            (("whiteout=overlay",), KERNEL_OPTS),
            (("metacopy=0", "redirect_dir=off"), KERNEL_OPTS),
            (("index=off",), "redirect_dir=on,index=off"))[seed % 4]
        self.run_random(seed, opts, "rootless", kernel_opts, rootless=True)

    def test_random_ops_rootless_one_id(self):
        # Rootless without an id range (podman's ignore_chown_errors,
        # `layerrun --userns single`): the daemon root of a user
        # namespace that maps its one id, owners, modes and device
        # numbers set through the mount kept in the override_stat xattr.
        # Every entry of the layers is that id's (another owner would be
        # nobody there, its files unchangeable on both sides).
        self.run_random(self.seed_for(9), ("xattr_permissions=2",),
                        "rootless, one id", rootless=True, rootless_ids=1)

    def test_random_ops_no_index(self):
        # No hard-link index on either side: a copy-up of one name of a
        # lower hard link breaks it from the others.
        self.run_random(self.seed_for(4), ("index=off",), "no index",
                        "redirect_dir=on,index=off")


# Where each operation keeps a mode or open flags, for fmt_op.
OCTAL = {"create": (2, 3), "mkdir": (2, 3), "mkfifo": (2, 3),
         "mknod": (2, 3), "chmod": (2,), "fd_chmod": (2,), "fd_open": (3,)}


def fmt_op(op):
    """An operation as Python source, modes and flags in octal."""
    return "(%s)" % ", ".join(
        "0o%o" % v if k in OCTAL.get(op[0], ()) else repr(v)
        for k, v in enumerate(op))


if __name__ == "__main__":
    lfstest.main()
