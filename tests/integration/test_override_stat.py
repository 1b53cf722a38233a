"""Owners and modes kept in the user.containers.override_stat xattr
(xattr_permissions=2), as rootless mounts without id ranges keep them:
the view must show what kernel overlayfs, which makes the real chown
and chmod, shows for the same changes, ACLs and set-group-id
directories included.  The random differential test runs the same mode
(test_random_ops_override_stat); these are the cases it found, one
each."""

import errno
import json
import os
import shutil
import stat
import subprocess

import layerrun_util as lru
import lfstest
from lfstest import (ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER,
                     ACL_USER_OBJ, LayerfsTestCase)

OVERRIDE = "user.containers.override_stat"
ACL_ACCESS, ACL_DEFAULT = lfstest.ACL_XATTRS


def acl(user_obj, named, mask, other, group_obj=4, named_uid=1000):
    """An ACL with a named user, as its xattr value."""
    return lfstest.acl_value([(ACL_USER_OBJ, user_obj, None),
                              (ACL_USER, named, named_uid),
                              (ACL_GROUP_OBJ, group_obj, None),
                              (ACL_MASK, mask, None),
                              (ACL_OTHER, other, None)])


class OverrideStat(LayerfsTestCase):

    def both(self, low, name):
        """low mounted by layerfs with owners kept in the xattr and by
        kernel overlayfs: (what, mount, upper) each."""
        m = self.mount_rw([low], opts=("xattr_permissions=2",), name=name)
        out = [("layerfs", m.path, m.upper)]
        kmnt = self.kernel_overlay([low], "k" + name)
        if kmnt:
            out.append(("kernel overlayfs", kmnt,
                        self.path("k" + name + "-kup")))
        return out

    def acls_usable(self, path):
        try:
            os.setxattr(path, ACL_ACCESS, acl(6, 6, 6, 4))
            os.removexattr(path, ACL_ACCESS)
        except OSError as e:
            self.skipTest("no POSIX ACLs under %s: %s" % (path, e))

    def view(self, path):
        st = os.lstat(path)
        return (oct(st.st_mode), st.st_uid, st.st_gid)

    def test_owner_and_mode_kept_in_the_xattr(self):
        low = self.layer("low-own", {"f": b"x\n"})
        m = self.mount_rw([low], opts=("xattr_permissions=2",), name="own")
        p = os.path.join(m.path, "f")
        os.chown(p, 1234, 5678)
        os.chmod(p, 0o4750)
        self.assertEqual(self.view(p), (oct(0o104750), 1234, 5678))
        up = os.path.join(m.upper, "f")
        self.assertEqual(os.getxattr(up, OVERRIDE), b"1234:5678:04750")
        self.assertEqual(os.lstat(up).st_uid, 0)   # the real owner stays
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        again = self.mount([low], m.upper, m.work,
                           opts=("xattr_permissions=2",),
                           mnt=self.path("own-again"))
        self.assertEqual(self.view(os.path.join(again.path, "f")),
                         (oct(0o104750), 1234, 5678))

    def test_set_id_bits_stay_in_the_view(self):
        """The real file belongs to the daemon (root here), not to the
        owner the view shows: set-user-id and set-group-id bits live in
        the record only.  They reached the real file too, where any user
        who owned a file in the view could leave a set-user-id program
        of root's in the upper directory (found by review)."""
        low = self.layer("low-setid", {"f": b"x\n", "d/": None})
        m = self.mount_rw([low], opts=("xattr_permissions=2",),
                          name="setid")
        p = os.path.join(m.path, "f")
        os.chmod(p, 0o6755)
        fd = os.open(os.path.join(m.path, "new"), os.O_CREAT | os.O_WRONLY,
                     0o4755)
        os.close(fd)
        os.mkdir(os.path.join(m.path, "sgid"), 0o2775)
        os.chmod(os.path.join(m.path, "sgid"), 0o2775)
        for name, view in (("f", 0o6755), ("new", 0o4755),
                           ("sgid", 0o2775)):
            with self.subTest(name):
                self.assertEqual(stat.S_IMODE(
                    os.lstat(os.path.join(m.path, name)).st_mode), view)
                real = os.lstat(os.path.join(m.upper, name)).st_mode
                self.assertEqual(real & (stat.S_ISUID | stat.S_ISGID), 0,
                                 oct(real))

    def test_owners_recorded_as_the_layers_hold_them(self):
        """With id mappings (uidmapping=, as containers/storage passes
        with xattr_permissions=2), the record holds ids as the layers
        do, as a real chown writes them, and the view maps them back.
        It held the view's ids, which the view then mapped again: files
        showed another user as their owner (a secret of uid 1001 became
        uid 1002's; found by review)."""
        low = self.layer("low-map", {"f": b"x\n"})
        maps = ("uidmapping=0:1:65536", "gidmapping=0:1:65536")
        real = self.mount_rw([low], opts=maps, name="map-real")
        m = self.mount_rw([low], opts=("xattr_permissions=2",) + maps,
                          name="map")
        for root in (real.path, m.path):
            os.chown(os.path.join(root, "f"), 1500, 1600)
            self.assertEqual(self.view(os.path.join(root, "f"))[1:],
                             (1500, 1600))
        disk = os.lstat(os.path.join(real.upper, "f"))
        self.assertEqual(os.getxattr(os.path.join(m.upper, "f"), OVERRIDE),
                         b"%d:%d:0644" % (disk.st_uid, disk.st_gid))
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        again = self.mount([low], m.upper, m.work,
                           opts=("xattr_permissions=2",) + maps,
                           mnt=self.path("map-again"))
        self.assertEqual(self.view(os.path.join(again.path, "f"))[1:],
                         (1500, 1600))

    def test_chmod_rewrites_the_access_acl(self):
        """A chmod sets the mask of an access ACL (and its owner and
        other entries), as on a local filesystem; the override kept the
        mode alone, and the ACL went on granting what it did."""
        low = self.layer("low-chmod", {"f": b"x\n"})
        self.acls_usable(os.path.join(low, "f"))
        seen = {}
        for what, root, _ in self.both(low, "chmod"):
            p = os.path.join(root, "f")
            os.setxattr(p, ACL_ACCESS, acl(7, 7, 7, 5))
            os.chmod(p, 0o640)
            seen[what] = (self.view(p), os.getxattr(p, ACL_ACCESS))
            self.assertEqual(seen[what][1], acl(6, 7, 4, 0), what)
        self.assertEqual(len(set(seen.values())), 1, seen)

    def test_access_acl_sets_the_mode(self):
        """Setting an access ACL sets the mode's group bits from its mask
        (and the owner and other bits), as on a local filesystem."""
        low = self.layer("low-setacl", {"f": b"x\n"})
        self.acls_usable(os.path.join(low, "f"))
        seen = {}
        for what, root, _ in self.both(low, "setacl"):
            p = os.path.join(root, "f")
            os.setxattr(p, ACL_ACCESS, acl(7, 7, 5, 1))
            seen[what] = self.view(p)
            self.assertEqual(stat.S_IMODE(os.lstat(p).st_mode), 0o751, what)
        self.assertEqual(len(set(seen.values())), 1, seen)

    def test_inherited_acl_kept_as_made(self):
        """A file made in a directory with a default ACL gets the access
        ACL the upper filesystem makes of it; the daemon widened its
        owner entry when it gave itself access to the real file."""
        low = self.layer("low-inherit", {"d/keep": b""})
        self.acls_usable(os.path.join(low, "d", "keep"))
        seen = {}
        for what, root, _ in self.both(low, "inherit"):
            d = os.path.join(root, "d")
            os.setxattr(d, ACL_DEFAULT, acl(4, 7, 7, 0))
            p = os.path.join(d, "new")
            os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o666))
            seen[what] = (self.view(p), os.getxattr(p, ACL_ACCESS))
            self.assertEqual(seen[what][1], acl(4, 7, 6, 0), what)
        self.assertEqual(len(set(seen.values())), 1, seen)

    def test_set_group_id_directory_hands_down_its_group(self):
        """Entries made in a set-group-id directory take its group, and a
        directory its bit, from the view's mode and group, which the
        real directory does not carry; a symlink and a fifo, which
        cannot carry the xattr, get it on their real inode."""
        low = self.layer("low-sgid", {"d/keep": b""})
        seen = {}
        for what, root, _ in self.both(low, "sgid"):
            d = os.path.join(root, "d")
            os.chown(d, 0, 4321)
            os.chmod(d, 0o2775)
            j = lambda n: os.path.join(d, n)  # noqa: E731
            os.close(os.open(j("file"), os.O_CREAT | os.O_WRONLY, 0o644))
            os.mkdir(j("dir"), 0o755)
            os.symlink("file", j("link"))
            os.mkfifo(j("fifo"), 0o644)
            seen[what] = tuple(self.view(j(n))
                               for n in ("file", "dir", "link", "fifo"))
            for n in ("file", "dir", "link", "fifo"):
                self.assertEqual(os.lstat(j(n)).st_gid, 4321, (what, n))
            self.assertTrue(os.lstat(j("dir")).st_mode & stat.S_ISGID, what)
        self.assertEqual(len(set(seen.values())), 1, seen)

    def test_chown_clears_set_user_id_of_an_append_only_file(self):
        """A chown clears the set-user-id bit past the file's
        append-only flag; the override of such a file could not be
        changed (EPERM)."""
        low = self.layer("low-suid", {"f": b"x\n"})
        p = os.path.join(low, "f")
        os.chmod(p, 0o4711)
        try:
            lfstest.change_inode_flags(p, add=lfstest.FS_APPEND_FL)
        except OSError as e:
            self.skipTest("no inode flags under %s: %s" % (low, e))
        self.before_cleanup(lambda: lfstest.unprotect_tree(self.path("")))
        for what, root, _ in self.both(low, "suid"):
            f = os.path.join(root, "f")
            os.chown(f, -1, -1)
            self.assertEqual(stat.S_IMODE(os.lstat(f).st_mode), 0o711, what)
            self.assertTrue(lfstest.inode_flags(f) & lfstest.FS_APPEND_FL)
            with self.assertRaises(OSError) as cm:
                os.chmod(f, 0o700)
            self.assertEqual(cm.exception.errno, errno.EPERM, what)


# Run by the unprivileged user as root of a user namespace that maps
# only itself (a rootless mount without id ranges): layerfs mounted
# there keeps owners in the xattr by itself; the ACL and mode as they
# come out are printed as JSON.
ROOTLESS_SCRIPT = r"""
import json, os, subprocess, sys
layerfs, low, up, work, mnt, acl_hex = sys.argv[1:7]
acl_name = "system.posix_acl_access"
subprocess.run([layerfs, "-o", "lowerdir=%s,upperdir=%s,workdir=%s"
                % (low, up, work), mnt], check=True)
out = {}
try:
    f = os.path.join(mnt, "f")
    os.setxattr(f, acl_name, bytes.fromhex(acl_hex))
    out["mode_after_acl"] = os.stat(f).st_mode & 0o7777
    os.chmod(f, 0o640)
    out["acl_after_chmod"] = os.getxattr(f, acl_name).hex()
    out["mode_after_chmod"] = os.stat(f).st_mode & 0o7777
    out["override"] = os.getxattr(os.path.join(up, "f"),
                                  "user.containers.override_stat").decode()
finally:
    subprocess.run(["umount", mnt])
print(json.dumps(out))
"""


class RootlessOverrideStat(LayerfsTestCase):

    def test_acl_and_mode_in_step_without_id_ranges(self):
        """The same in the mode rootless mounts without id ranges run
        in: the daemon root of a user namespace mapping only its user,
        every file its own, owners kept in the xattr because it cannot
        chown; the view's permission bits still reach the real file,
        and with them the ACL."""
        for tool in ("runuser", "unshare", "umount"):
            self.require_tool(tool)
        ids, why = lru.ensure_test_user()
        if ids is None:
            self.skipTest(why)
        low = self.layer("low-rootless", {"f": b"x\n"})
        self.acls_usable(os.path.join(low, "f"))
        up, work, mnt = (self.path(n) for n in ("rl-up", "rl-work", "rl-mnt"))
        for d in (up, work, mnt):
            os.mkdir(d)
        for d in (low, up, work, mnt):
            shutil.chown(d, ids[0], ids[1])
        shutil.chown(os.path.join(low, "f"), ids[0], ids[1])
        with lru.fuse_open_to_all():
            if not lfstest.is_root() and \
                    not os.access("/dev/fuse", os.R_OK | os.W_OK):
                self.skipTest("/dev/fuse is not open to the test user")
            r = subprocess.run(
                ["runuser", "-u", lru.TEST_USER, "--", "unshare", "--user",
                 "--map-root-user", "--mount", "/usr/bin/python3", "-c",
                 ROOTLESS_SCRIPT, lfstest.LAYERFS, low, up, work, mnt,
                 acl(7, 7, 5, 1, named_uid=0).hex()],
                capture_output=True, timeout=60)
        if r.returncode != 0 and b"unshare" in r.stderr and \
                b"Operation not permitted" in r.stderr:
            self.skipTest("no user namespaces for %s" % lru.TEST_USER)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        out = json.loads(r.stdout.decode().strip().splitlines()[-1])
        self.assertEqual(out["mode_after_acl"], 0o751)
        self.assertEqual(out["acl_after_chmod"],
                         acl(6, 7, 4, 0, named_uid=0).hex())
        self.assertEqual(out["mode_after_chmod"], 0o640)
        self.assertEqual(out["override"], "0:0:0640")

    acls_usable = OverrideStat.acls_usable


if __name__ == "__main__":
    lfstest.main()
