"""layertool import: OCI layouts, OCI archives, docker-archives and rootfs
tarballs made here with tar, gzip and zstd, imported and then mounted
through layerfs and compared with the tree they must give."""

import fcntl
import gzip
import hashlib
import io
import json
import os
import pty
import shutil
import stat
import subprocess
import tarfile
import zlib

import lfstest
import layertool_util as lt

BASE = {
    "bin/": None,
    "bin/tool": ("file", b"#!/bin/sh\necho tool\n", 0o755),
    "bin/sh": ("symlink", "tool"),
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "etc/motd": "welcome\n",
    "etc/motd.link": ("hardlink", "etc/motd"),
    "usr/lib/a": "a" * 5000,
    "usr/lib/b": "b",
    "opt/drop/old1": "old1",
    "opt/drop/sub/old2": "old2",
    "opt/keep/x": "x",
    "var/empty/": None,
    "srv/owned": "owned by 1234",
    "srv/suid": ("file", b"suid", 0o4755),
}

TOP = {
    "etc/.wh.motd": "",
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/:/bin/sh\n",
    "opt/drop/.wh..wh..opq": "",
    "opt/drop/new": "new",
    "usr/lib/.wh.a": "",
    "newdir/f": "f",
}

# What the two layers merge to.
MERGED = {
    "bin/": None,
    "bin/tool": ("file", b"#!/bin/sh\necho tool\n", 0o755),
    "bin/sh": ("symlink", "tool"),
    "etc/passwd": TOP["etc/passwd"],
    "etc/motd.link": "welcome\n",
    "usr/lib/b": "b",
    "opt/drop/new": "new",
    "opt/keep/x": "x",
    "var/empty/": None,
    "srv/owned": "owned by 1234",
    "srv/suid": ("file", b"suid", 0o4755),
    "newdir/f": "f",
}


def own(root):
    os.chown(os.path.join(root, "srv", "owned"), 1234, 4321)
    os.chmod(os.path.join(root, "srv", "suid"), 0o4755)


def flip_bit(data, offset):
    bad = bytearray(data)
    bad[offset] ^= 0x01
    return bytes(bad)


def zlib_refuses(data):
    """Whether zlib finds DATA, a gzip member, damaged: the error layertool
    must give too (it decodes gzip with zlib).  A member that merely ends
    early is not counted: that is a truncation, named as such."""
    try:
        zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    except zlib.error:
        return True
    return False


def corrupt_deflate_data(good):
    """GOOD (one gzip member) with one bit of its deflate data flipped,
    at the first position from the middle on where zlib then finds the
    member damaged.  Not every flip is damage: inflate ignores some bits
    (the padding of a block, say), and a test that flipped one at a
    position the archive's content decided failed when it landed there
    (1 run in 10)."""
    body = 10                          # past the fixed header
    if good[3] & 0x08:                 # and the file name (FNAME)
        body = good.index(b"\0", 10) + 1
    end = len(good) - 8                # the CRC-32 and length follow
    middle = body + (end - body) // 2
    for offset in list(range(middle, end)) + list(range(body, middle)):
        for bit in range(8):
            bad = bytearray(good)
            bad[offset] ^= 1 << bit
            if zlib_refuses(bytes(bad)):
                return bytes(bad)
    raise AssertionError("no bit of the deflate data changes the member")


def cut_after_member(tar, index, out):
    """TAR up to the end of the data of its member INDEX (-1: the last),
    into OUT: a tar stream that stops at a member boundary, without the
    end-of-archive blocks."""
    with tarfile.open(tar) as t:
        member = t.getmembers()[index]
    end = member.offset_data + (member.size + 511) // 512 * 512
    with open(tar, "rb") as f, open(out, "wb") as g:
        g.write(f.read(end))
    return out


class ImportTestBase(lfstest.LayerfsTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists(lt.LAYERTOOL):
            self.fail("%s is missing: run make first" % lt.LAYERTOOL)
        self.require_root()  # owners in the archives are real ids

    def layer_tar(self, name, spec, fix=None):
        d = self.layer(name, spec)
        if fix:
            fix(d)
        return lt.tar_dir(d, self.path(name + ".tar"))

    def expected(self):
        d = self.layer("expected", MERGED)
        own(d)
        return lfstest.snapshot(d)

    def base_and_top(self):
        return (self.layer_tar("base", BASE, own),
                self.layer_tar("top", TOP))

    NOBODY = 65534

    def import_as_nobody(self, source):
        """SOURCE imported by a user who cannot chown (nobody, setpriv)
        into an image in a directory of theirs: (image path, the run)."""
        self.require_tool("setpriv")
        home = self.mkdirs("home")
        os.chown(home, self.NOBODY, self.NOBODY)
        img = os.path.join(home, "img")
        r = subprocess.run(["setpriv", "--reuid=%d" % self.NOBODY,
                            "--regid=%d" % self.NOBODY, "--clear-groups",
                            lt.LAYERTOOL, "import", source, img],
                           capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return img, r

    def import_ok(self, source, image, *extra):
        r = lt.run_layertool(["import"] + list(extra) + [source, image])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stderr, b"", "import must be quiet off a tty")
        return image

    def assert_mounts_to(self, image, expected, opts=()):
        m = self.mount(lt.image_layers(image), opts=opts)
        self.assertEqual(lfstest.snapshot(m.path), expected)

    def assert_nothing_written(self, image, store):
        self.assertFalse(os.path.lexists(image), "image dir was written")
        self.assertFalse(os.path.lexists(store),
                         "the store made for a failed import is left")


class TestImportForms(ImportTestBase):

    def test_oci_layout_gzip_and_zstd(self):
        base, top = self.base_and_top()
        oci = lt.OciLayout(self.path("oci"))
        oci.add_image([(base, "gzip"), (top, "zstd")])
        os.makedirs(self.path("images"))
        img = self.import_ok(oci.root, self.path("images", "img"))
        with open(os.path.join(img, "image.json")) as f:
            ix = json.load(f)
        self.assertEqual(ix["ownership"], "native")
        self.assertEqual(len(ix["layers"]), 2)
        self.assertEqual(ix["layers"][0]["diff_id"], lt.sha256_file(base))
        self.assertEqual(ix["layers"][1]["diff_id"], lt.sha256_file(top))
        self.assertTrue(ix["layers"][0]["digest"].startswith("sha256:"))
        with open(os.path.join(img, "config.json"), "rb") as f:
            self.assertEqual("sha256:" + lt.hashlib.sha256(f.read())
                             .hexdigest(), ix["config"])
        # Whiteouts are kept as they are in the layer directory.
        top_dir = lt.image_layers(img)[0]
        self.assertTrue(os.path.isfile(os.path.join(top_dir, "etc",
                                                    ".wh.motd")))
        self.assertTrue(os.path.isfile(os.path.join(
            top_dir, "opt", "drop", ".wh..wh..opq")))
        base_dir = lt.image_layers(img)[1]
        st = os.lstat(os.path.join(base_dir, "srv", "owned"))
        self.assertEqual((st.st_uid, st.st_gid), (1234, 4321))
        self.assertEqual(os.lstat(os.path.join(base_dir, "etc", "motd"))
                         .st_ino, os.lstat(os.path.join(
                             base_dir, "etc", "motd.link")).st_ino)
        self.assert_mounts_to(img, self.expected())

    def test_docker_archive(self):
        base, top = self.base_and_top()
        arch = lt.docker_archive(self.tmp, self.path("saved.tar"),
                                 [base, top])
        img = self.import_ok(arch, self.path("img"))
        self.assert_mounts_to(img, self.expected())
        # The staged copy of the archive is gone.
        self.assertEqual([n for n in lt.store_entries(self.path(
            ".layerstore")) if n.startswith(".tmp-")], [])

    def test_verified_layers_without_end_blocks(self):
        # Go's archive/tar (Docker, containerd) ends cleanly at a member
        # boundary, so layers whose tar lacks the end-of-archive blocks
        # exist and run; their blob digest and diff ID verify them.  The
        # end-of-archive check refused them.
        base, top = self.base_and_top()
        base_cut = cut_after_member(base, -1, self.path("base-cut.tar"))
        top_cut = cut_after_member(top, -1, self.path("top-cut.tar"))
        expected = self.expected()
        oci = lt.OciLayout(self.path("oci"))
        oci.add_image([(base_cut, "gzip"), (top_cut, "none")])
        img = self.import_ok(oci.root, self.path("img-oci"))
        self.assert_mounts_to(img, expected)
        arch = lt.docker_archive(self.tmp, self.path("saved.tar"),
                                 [base_cut, top_cut])
        img = self.import_ok(arch, self.path("img-docker"))
        self.assert_mounts_to(img, expected)
        # The same tar as a rootfs tarball, with nothing to verify it,
        # is still refused.
        r = lt.run_layertool(["import", base_cut, self.path("img-rootfs")])
        self.assertEqual(r.returncode, 2, r.stderr.decode())
        self.assertIn("no end-of-archive marker", r.stderr.decode())

    def test_oci_archive_compressed(self):
        base, top = self.base_and_top()
        oci = lt.OciLayout(self.path("oci"))
        oci.add_image([(base, "none"), (top, "gzip")])
        subprocess.run(["tar", "-C", oci.root, "-cf", self.path("oci.tar"),
                        "oci-layout", "index.json", "blobs"], check=True)
        blob = lt.compress(self.path("oci.tar"), "zstd")
        img = self.import_ok(blob, self.path("img"))
        self.assert_mounts_to(img, self.expected())

    def oci_archive_with_links(self, name, links, files=(), last=()):
        """An OCI archive (tar) of an image of BASE whose layer blob is
        reached through LINKS: (name, target) symlink members, None for
        the layer blob's own name, added in that order after the
        layout's files and FILES ((name, bytes) members), and before
        LAST (the same, bytes None for the blob's).  The blob itself is
        the member stash/blob."""
        if not hasattr(self, "base_tar"):
            self.base_tar, _ = self.base_and_top()
        oci = lt.OciLayout(self.path(name))
        desc = oci.add_image([(self.base_tar, "none")])
        with open(oci.blob_path(desc["digest"])) as f:
            layer = oci.blob_path(json.load(f)["layers"][0]["digest"])
        os.makedirs(os.path.join(oci.root, "stash"))
        os.rename(layer, os.path.join(oci.root, "stash", "blob"))
        rel = os.path.relpath(layer, oci.root)
        out = self.path(name + ".tar")
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
            for member in ("oci-layout", "index.json", "blobs", "stash"):
                t.add(os.path.join(oci.root, member), member)
            for member, data in files:
                ti = tarfile.TarInfo(member)
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            for member, target in links:
                ti = tarfile.TarInfo(rel if member is None else member)
                ti.type = tarfile.SYMTYPE
                ti.linkname = target
                t.addfile(ti)
            for member, data in last:
                if data is None:
                    with open(os.path.join(oci.root, "stash", "blob"),
                              "rb") as f:
                        data = f.read()
                ti = tarfile.TarInfo(rel if member is None else member)
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
        return out

    @staticmethod
    def chain(length):
        """Symlinks from the layer blob's name to stash/blob, LENGTH in
        all, each listed before the one it leads to."""
        return [(None, "../../stash/l1")] + \
            [("stash/l%d" % i, "l%d" % (i + 1))
             for i in range(1, length - 1)] + \
            [("stash/l%d" % (length - 1), "blob")]

    def test_links_in_an_image_archive(self):
        # A chain of symlinks resolves, each link made once (a chain of
        # n took n rounds over all of them: minutes for a hostile 40k);
        # of two members of one name the later is kept; a cycle, and a
        # chain of more links than the kernel follows (40), are refused
        # with one line.
        expected = self.own_expected(BASE)
        src = self.oci_archive_with_links("chain", self.chain(40))
        self.assert_mounts_to(self.import_ok(src, self.path("img1")),
                              expected)
        src = self.oci_archive_with_links(
            "twice", [(None, "../../stash/wrong"),
                      (None, "../../stash/blob")],
            files=[("stash/wrong", b"not the layer")])
        self.assert_mounts_to(self.import_ok(src, self.path("img2")),
                              expected)
        # So is a file member after a link of its name (links are made
        # once every file is there: the link replaced the file).
        src = self.oci_archive_with_links(
            "fileafter", [(None, "../../stash/wrong")],
            files=[("stash/wrong", b"not the layer")], last=[(None, None)])
        self.assert_mounts_to(self.import_ok(src, self.path("img3")),
                              expected)
        for what, links in (
                ("cycle", [(None, "../../stash/a"), ("stash/a", "b"),
                           ("stash/b", "a")]),
                ("41 links", self.chain(41))):
            with self.subTest(what=what):
                src = self.oci_archive_with_links(what.replace(" ", ""),
                                                  links)
                r = lt.run_layertool(["import", src, self.path("bad")])
                err = r.stderr.decode()
                self.assertEqual(r.returncode, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn("does not lead to a file of the archive", err)
                self.assertFalse(os.path.lexists(self.path("bad")))

    def own_expected(self, spec):
        d = self.layer("expected-base", spec)
        own(d)
        return lfstest.snapshot(d)

    def test_an_index_named_many_times_is_read_once(self):
        # Four levels of indexes whose 40 entries each name the same
        # index below: walked entry by entry, that read 40^4 = 2.56M
        # documents (an hour; 16 entries took 4 s).  Each index is now
        # walked once, and the one image is found.
        base, _ = self.base_and_top()
        oci = lt.OciLayout(self.path("oci"))
        desc = oci.add_image([(base, "none")])
        for _ in range(4):
            data = json.dumps({"schemaVersion": 2,
                               "mediaType": lt.OCI_INDEX,
                               "manifests": [desc] * 40}).encode()
            dig, size = oci.add_blob(data)
            desc = {"mediaType": lt.OCI_INDEX, "digest": dig, "size": size}
        oci.manifests = [desc] * 40
        oci.write_index()
        r = lt.run_layertool(["import", oci.root, self.path("img")],
                             timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assert_mounts_to(self.path("img"), self.own_expected(BASE))

    def test_rootfs_tarball(self):
        src = self.layer("rootfs", BASE)
        own(src)
        tarball = lt.compress(lt.tar_dir(src, self.path("rootfs.tar")),
                              "zstd")
        img = self.import_ok(tarball, self.path("img"))
        with open(os.path.join(img, "image.json")) as f:
            ix = json.load(f)
        self.assertEqual(len(ix["layers"]), 1)
        self.assertIsNone(ix["layers"][0]["digest"])
        self.assertEqual(ix["layers"][0]["diff_id"],
                         lt.sha256_file(self.path("rootfs.tar")))
        with open(os.path.join(img, "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["rootfs"]["diff_ids"],
                         [ix["layers"][0]["diff_id"]])
        self.assert_mounts_to(img, lfstest.snapshot(src))

    def test_rootfs_tarball_takes_the_platform_given(self):
        # A rootfs tarball cannot say what it is for: --platform says
        # it, as with `docker import --platform` (it was ignored).
        tarball = lt.tar_dir(self.layer("rootfs", {"f": "f"}),
                             self.path("rootfs.tar"))
        img = self.import_ok(tarball, self.path("img"), "--platform",
                             "linux/arm64/v8")
        with open(os.path.join(img, "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual((cfg["os"], cfg["architecture"], cfg["variant"]),
                         ("linux", "arm64", "v8"))
        for bad in ("linux", "linux/", "/arm64", "linux/arm64/v8/x"):
            r = lt.run_layertool(["import", "--platform", bad, tarball,
                                  self.path("img2")])
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(b"OS/ARCH[/VARIANT]", r.stderr)
            self.assertFalse(os.path.exists(self.path("img2")))

    def test_gzip_of_several_members_and_padding(self):
        # `cat a.gz b.gz` (and parallel compressors) make several
        # members; tape blocking pads with zeros.  Both are read whole
        # now that gzip is decoded by zlib.
        src = self.layer("rootfs", BASE)
        own(src)
        raw = open(lt.tar_dir(src, self.path("rootfs.tar")), "rb").read()
        cut = len(raw) // 3
        for name, data in (
                ("members", gzip.compress(raw[:cut], mtime=0)
                 + gzip.compress(raw[cut:], mtime=0)),
                ("padded", gzip.compress(raw, mtime=0) + bytes(1000))):
            with self.subTest(name=name):
                tarball = self.path(name + ".tar.gz")
                with open(tarball, "wb") as f:
                    f.write(data)
                img = self.import_ok(tarball, self.path("img-" + name))
                with open(os.path.join(img, "image.json")) as f:
                    ix = json.load(f)
                self.assertEqual(ix["layers"][0]["diff_id"],
                                 lt.sha256_bytes(raw))
                self.assert_mounts_to(img, lfstest.snapshot(src))

    def test_every_tar_writer(self):
        """Archives of GNU tar, bsdtar, Python's tarfile and layertool
        export, with and without record padding after the end-of-archive
        blocks, import (their end is checked now)."""
        src = self.layer("rootfs", {"d/f": "f", "big": "b" * 700,
                                    "empty": ""})
        want = lfstest.snapshot(src)
        made = {}
        for fmt in ("gnu", "pax", "ustar"):
            for blocking in ("20", "1"):
                out = self.path("gnu-%s-%s.tar" % (fmt, blocking))
                subprocess.run(["tar", "--format=" + fmt, "-b", blocking,
                                "-C", src, "-cf", out, "."], check=True)
                made[out] = True
        if shutil.which("bsdtar"):
            for fmt in ("pax", "ustar", "gnutar"):
                for blocking in ("20", "1"):
                    out = self.path("bsd-%s-%s.tar" % (fmt, blocking))
                    subprocess.run(["bsdtar", "--format=" + fmt,
                                    "-b", blocking, "-C", src, "-cf", out,
                                    "."], check=True)
                    made[out] = True
        for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT,
                    tarfile.USTAR_FORMAT):
            out = self.path("py-%d.tar" % fmt)
            with tarfile.open(out, "w", format=fmt) as t:
                t.add(src, arcname=".")
            made[out] = True
        out = self.path("export.tar")
        r = lt.run_layertool(["export", src, out])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        made[out] = True
        for i, tarball in enumerate(sorted(made)):
            with self.subTest(tarball=os.path.basename(tarball)):
                img = self.import_ok(tarball, self.path("img%d" % i))
                m = self.mount(lt.image_layers(img))
                self.assertEqual(lfstest.snapshot(m.path), want)
                m.unmount()
        if not shutil.which("bsdtar"):
            self.skipTest("bsdtar (libarchive-tools) is missing: the "
                          "other writers passed")

    def docker_dir(self, name, layers):
        """An unpacked docker-archive: layers maps each layer path to a
        tar to copy there, or to ("symlink", TARGET)."""
        root = self.mkdirs(name)
        paths, ids = [], []
        for path, what in layers:
            os.makedirs(os.path.dirname(os.path.join(root, path)),
                        exist_ok=True)
            if isinstance(what, tuple):
                os.symlink(what[1], os.path.join(root, path))
                ids.append(ids[-1])
            else:
                shutil.copy(what, os.path.join(root, path))
                ids.append(lt.sha256_file(what))
            paths.append(path)
        cfg = lt.make_config(ids)
        cname = lt.sha256_bytes(cfg).split(":")[1] + ".json"
        with open(os.path.join(root, cname), "wb") as f:
            f.write(cfg)
        with open(os.path.join(root, "manifest.json"), "w") as f:
            json.dump([{"Config": cname, "RepoTags": ["t:latest"],
                        "Layers": paths}], f)
        return root

    def test_docker_archive_directory_with_linked_layers(self):
        # Legacy `docker save` links a layer that is listed twice to its
        # first copy; unpacked, that symlink was refused ("Too many
        # levels of symbolic links").  Symlinks are followed inside the
        # directory, never out of it.
        base, _ = self.base_and_top()
        root = self.docker_dir("saved", [
            ("aaa/layer.tar", base),
            ("bbb/layer.tar", ("symlink", "../aaa/layer.tar"))])
        img = self.import_ok(root, self.path("img"))
        with open(os.path.join(img, "image.json")) as f:
            self.assertEqual(len(json.load(f)["layers"]), 2)
        shutil.copy(base, self.path("outside.tar"))
        root = self.docker_dir("escape", [
            ("aaa/layer.tar", base),
            ("bbb/layer.tar", ("symlink", "../../outside.tar"))])
        r = lt.run_layertool(["import", root, self.path("img2")])
        self.assertEqual(r.returncode, 2, r.stderr.decode())
        self.assertIn("bbb/layer.tar", r.stderr.decode())
        self.assertIn("outside the image directory", r.stderr.decode())
        self.assertFalse(os.path.lexists(self.path("img2")))

    def test_temporaries_of_a_live_import_are_kept(self):
        # A store shared across PID namespaces: a temporary named after
        # a process id this namespace does not have was taken for stale
        # and removed under a running import.  Each temporary is locked
        # by its writer now; only one nobody holds goes.
        # The lock of a temporary is flock on TMP.lock, open for writing
        # (NFS's flock emulation wants that); an older layertool locked
        # the temporary directory itself, and such a lock is still
        # honoured.
        store = self.mkdirs(".layerstore")
        os.chmod(store, 0o700)  # as an import makes it
        live = os.path.join(store, ".tmp-99999999-0")
        stale = os.path.join(store, ".tmp-99999998-0")
        old_live = os.path.join(store, ".tmp-99999997-0")
        old_stale = os.path.join(store, ".tmp-99999996-0")
        for d in (live, stale, old_live, old_stale):
            os.makedirs(os.path.join(d, "etc"))
        for d in (live, stale):
            with open(d + ".lock", "w"):
                pass
        fds = [os.open(live + ".lock", os.O_RDWR),
               os.open(old_live, os.O_RDONLY | os.O_DIRECTORY)]
        try:
            for fd in fds:
                fcntl.flock(fd, fcntl.LOCK_EX)
            base, _ = self.base_and_top()
            self.import_ok(base, self.path("img"))
            for d in (live, old_live):
                self.assertTrue(os.path.isdir(os.path.join(d, "etc")), d)
            self.assertTrue(os.path.isfile(live + ".lock"))
            for p in (stale, stale + ".lock", old_stale):
                self.assertFalse(os.path.lexists(p), p)
        finally:
            for fd in fds:
                os.close(fd)
        # Their writers gone, the next import removes them.
        self.import_ok(base, self.path("img2"))
        self.assertEqual([n for n in os.listdir(store)
                          if n.startswith(".tmp-")], [])

    def test_shared_layers_stored_once(self):
        base, top = self.base_and_top()
        other = self.layer_tar("other", {"other/file": "other"})
        oci = lt.OciLayout(self.path("oci"))
        oci.add_image([(base, "gzip"), (top, "gzip")], ref="one")
        oci.add_image([(base, "gzip"), (other, "gzip")], ref="two")
        a = self.import_ok(oci.root, self.path("a"), "--ref", "one")
        b = self.import_ok(oci.root, self.path("b"), "--ref", "two")
        store = self.path(".layerstore")
        self.assertEqual(len([n for n in lt.store_entries(store)
                              if n.startswith("sha256-")]), 3)
        self.assertEqual(lt.image_layers(a)[-1], lt.image_layers(b)[-1])
        self.assert_mounts_to(a, self.expected())
        # Without --ref the index is ambiguous.
        r = lt.run_layertool(["import", oci.root, self.path("c")])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--ref", r.stderr)

    def test_store_of_another_user_or_open_to_all_refused(self):
        # A layer found in the store is used as it is.  A `.layerstore`
        # another user made beforehand beside the image directory (in
        # /tmp, say), or a symlink to one, gave root's image that user's
        # files under the layer's name, which root's containers then
        # ran and the user could go on changing (found by review).
        base, _ = self.base_and_top()
        with open(base, "rb") as f:
            name = "sha256-" + hashlib.sha256(f.read()).hexdigest()
        theirs = self.mkdirs("theirs")
        planted = os.path.join(theirs, name)
        os.makedirs(os.path.join(planted, "bin"))
        with open(os.path.join(planted, "bin", "sh"), "w") as f:
            f.write("#!/bin/sh\necho planted\n")
        for d in (theirs, planted):
            os.chown(d, self.NOBODY, self.NOBODY)
        open_to_all = self.mkdirs("open")
        os.chmod(open_to_all, 0o777)
        shared = self.mkdirs("shared")
        os.chmod(shared, 0o1777)
        os.symlink(theirs, os.path.join(shared, ".layerstore"))
        for how, store, why in (
                (["--store", theirs], theirs, "belongs to uid"),
                ([], os.path.join(shared, ".layerstore"), "belongs to uid"),
                (["--store", open_to_all], open_to_all, "other users")):
            with self.subTest(store=store):
                img = os.path.join(shared if not how else self.tmp,
                                   "img-%d" % len(store))
                r = lt.run_layertool(["import"] + how + [base, img])
                self.assertEqual(r.returncode, 3, r.stderr)
                err = r.stderr.decode()
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn(why, err)
                self.assertFalse(os.path.lexists(img))
        self.assertEqual(sorted(os.listdir(theirs)), [name])
        self.assertEqual(os.listdir(open_to_all), [])
        # A store made by the import is its owner's alone: the layers
        # keep the archive's set-user-id programs and device nodes,
        # and the owners the image names.
        old = os.umask(0o022)
        try:
            img = self.import_ok(base, self.path("mine"))
        finally:
            os.umask(old)
        store = os.path.dirname(lt.image_layers(img)[0])
        self.assertEqual(stat.S_IMODE(os.stat(store).st_mode), 0o700)
        # One an older layertool made, open to all for reading: root is
        # told, in one line, and the import goes on.
        if os.geteuid() == 0:
            os.chmod(store, 0o755)
            r = lt.run_layertool(["import", base, self.path("mine2")])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.decode().splitlines(), [
                "layertool: warning: layer store '%s' may be entered by "
                "other users (mode 0755): its layers' set-user-id programs "
                "and devices are theirs to use; chmod 700 it" % store])

    def test_platform_selection(self):
        amd = self.layer_tar("amd", {"arch": "amd64"})
        arm = self.layer_tar("arm", {"arch": "arm64"})
        oci = lt.OciLayout(self.path("oci"))
        oci.add_image([(amd, "gzip")], arch="amd64")
        oci.add_image([(arm, "gzip")], arch="arm64")
        img = self.import_ok(oci.root, self.path("img-arm"), "--platform",
                             "linux/arm64")
        with open(os.path.join(lt.image_layers(img)[0], "arch")) as f:
            self.assertEqual(f.read(), "arm64")
        with open(os.path.join(img, "image.json")) as f:
            self.assertEqual(json.load(f)["platform"]["architecture"],
                             "arm64")
        r = lt.run_layertool(["import", "--platform", "linux/s390x",
                              oci.root, self.path("none")])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"linux/amd64", r.stderr)
        self.assertIn(b"linux/arm64", r.stderr)

    def test_existing_image_dir_refused(self):
        t = self.layer_tar("t", {"f": "f"})
        os.makedirs(self.path("img", "something"))
        r = lt.run_layertool(["import", t, self.path("img")])
        self.assertEqual(r.returncode, 3)
        self.assertIn(b"already exists", r.stderr)

    def test_progress_line_on_a_terminal(self):
        t = lt.compress(self.layer_tar("t", {"f": "f" * 100000}), "gzip")
        master, slave = pty.openpty()
        try:
            p = subprocess.run([lt.LAYERTOOL, "import", t, self.path("img")],
                               stderr=slave, stdout=subprocess.DEVNULL,
                               timeout=60)
            os.close(slave)
            slave = -1
            out = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            if slave >= 0:
                os.close(slave)
            os.close(master)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"import: layer 1/1", out)
        self.assertIn(b"/s", out)


class TestImportRefused(ImportTestBase):
    """Bad input: an error naming the problem, exit status 2, and nothing
    left in the image directory or the store."""

    def refused(self, source, *words, extra=(), image="img"):
        img, store = self.path(image), self.path(".layerstore")
        r = lt.run_layertool(["import"] + list(extra) + [source, img])
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith("layertool: "), err)
        for w in words:
            self.assertIn(w, err)
        self.assert_nothing_written(img, store)
        return err

    def plain_oci(self):
        """An OCI layout of BASE and TOP, uncompressed: (the layout, its
        image's manifest)."""
        base, top = self.base_and_top()
        oci = lt.OciLayout(self.path("oci"))
        desc = oci.add_image([(base, "none"), (top, "none")])
        with open(oci.blob_path(desc["digest"])) as f:
            return oci, json.load(f)

    def test_fifo_or_device_source_refused(self):
        # The open of a FIFO waited for a writer for ever.
        fifo = self.path("src.tar")
        os.mkfifo(fifo)
        self.refused(fifo, fifo, "neither a file nor a directory")
        self.refused("/dev/null", "neither a file nor a directory")

    def test_blob_digest_mismatch(self):
        oci, man = self.plain_oci()
        # Same size, one byte of file content changed.
        blob = oci.blob_path(man["layers"][1]["digest"])
        with open(blob, "r+b") as f:
            data = f.read()
            i = data.index(b"user:x:1000")
            f.seek(i)
            f.write(b"r")
        self.refused(oci.root, "layer 1", "digest mismatch")

    def test_diff_id_mismatch(self):
        base, top = self.base_and_top()
        oci = lt.OciLayout(self.path("oci"))
        oci.add_image([(base, "gzip"), (top, "gzip")],
                      diff_ids=[lt.sha256_file(base), lt.sha256_file(base)])
        self.refused(oci.root, "layer 1", "diff ID mismatch")

    def test_failure_leaves_an_existing_store_as_it_was(self):
        base, top = self.base_and_top()
        good = lt.OciLayout(self.path("good"))
        good.add_image([(base, "gzip")])
        self.import_ok(good.root, self.path("first"))
        store = self.path(".layerstore")
        before = lt.store_entries(store)
        bad = lt.OciLayout(self.path("bad"))
        bad.add_image([(base, "gzip"), (top, "gzip")],
                      diff_ids=[lt.sha256_file(base), lt.sha256_file(base)])
        r = lt.run_layertool(["import", bad.root, self.path("img")])
        self.assertEqual(r.returncode, 2, r.stderr.decode())
        self.assertFalse(os.path.lexists(self.path("img")))
        self.assertEqual(lt.store_entries(store), before)

    def test_docker_archive_diff_id_mismatch(self):
        base, top = self.base_and_top()
        arch = lt.docker_archive(self.tmp, self.path("saved.tar"),
                                 [base, top],
                                 diff_ids=[lt.sha256_file(top),
                                           lt.sha256_file(top)])
        self.refused(arch, "layer 0", "diff ID mismatch")

    def test_truncated_layer(self):
        base, _ = self.base_and_top()
        gz = lt.compress(base, "gzip")
        size = os.path.getsize(gz)
        with open(gz, "r+b") as f:
            f.truncate(size // 2)
        self.refused(gz, "truncated")

    def test_truncated_docker_archive(self):
        base, top = self.base_and_top()
        arch = lt.docker_archive(self.tmp, self.path("saved.tar"),
                                 [base, top])
        with open(arch, "r+b") as f:
            f.truncate(os.path.getsize(arch) - 7000)
        self.refused(arch)

    def test_corrupt_gzip_rootfs(self):
        # A rootfs tarball has no diff ID to verify it: libarchive's gzip
        # reader, which checks neither the CRC-32 nor the length that
        # end a member, imported these with the damaged content.
        base, _ = self.base_and_top()
        good = open(lt.compress(base, "gzip"), "rb").read()
        cases = {
            "CRC": (flip_bit(good, len(good) - 8), "CRC mismatch"),
            "length": (flip_bit(good, len(good) - 2), "length mismatch"),
            "data": (corrupt_deflate_data(good), None),
        }
        for what, (bad, words) in cases.items():
            with self.subTest(what=what):
                # zlib itself refuses each of them: a test of layertool,
                # never of where a flipped bit happened to land.
                self.assertTrue(zlib_refuses(bad), what)
                source = self.path("bad-%s.tar.gz" % what)
                with open(source, "wb") as f:
                    f.write(bad)
                # An image directory of its own: one failure must not
                # turn the next case into "IMAGE_DIR exists".
                err = self.refused(source, "corrupt gzip data",
                                   image="img-" + what)
                if words:
                    self.assertIn(words, err)
        with open(self.path("bad.tar.gz"), "wb") as f:
            f.write(good + b"trailing garbage")
        self.refused(self.path("bad.tar.gz"), "corrupt gzip data",
                     "after the last member")

    def test_truncated_compressed_archives_say_why(self):
        # A stream cut short said "not a tar archive: (null)" (gzip cut
        # inside its trailer) or "not a tar archive: <decoder message>".
        base, top = self.base_and_top()
        arch = lt.docker_archive(self.tmp, self.path("saved.tar"),
                                 [base, top])
        for how in ("gzip", "zstd", "xz", "bzip2"):
            for source in (base, arch):
                path = self.path("cut-" + how)
                if how in ("xz", "bzip2"):
                    with open(path, "wb") as f:
                        subprocess.run([how, "-c", source], stdout=f,
                                       check=True)
                else:
                    shutil.copy(lt.compress(source, how), path)
                with open(path, "r+b") as f:
                    f.truncate(os.path.getsize(path) - 1)
                with self.subTest(how=how, source=source):
                    err = self.refused(path, "truncated")
                    self.assertNotIn("(null)", err)
                    self.assertNotIn("not a tar archive", err)

    def test_tar_cut_at_a_member_boundary(self):
        # libarchive ends cleanly where an uncompressed tar stops between
        # two members: the archive imported as complete without them.
        # A rootfs tarball has no diff ID to catch it.
        base, _ = self.base_and_top()
        cut = cut_after_member(base, -2, self.path("cut.tar"))
        self.refused(cut, "truncated tar: no end-of-archive marker")
        self.refused(lt.compress(cut, "gzip"), "no end-of-archive marker")
        # Every member there but the end blocks: no different.
        whole = cut_after_member(base, -1, self.path("no-end.tar"))
        self.refused(whole, "truncated tar: no end-of-archive marker",
                     image="img-no-end")

    def damage_second_header(self, path):
        """Breaks the header checksum of the second member of an
        uncompressed tar (libarchive then skips to the next header it
        can read, answering ARCHIVE_RETRY)."""
        with tarfile.open(path) as t:
            second = t.getmembers()[1].offset
        with open(path, "r+b") as f:
            f.seek(second + 148)
            f.write(b"0000000\0")

    def test_damaged_header(self):
        base, top = self.base_and_top()
        layer = self.path("damaged.tar")
        shutil.copy(base, layer)
        self.damage_second_header(layer)
        self.refused(layer, "corrupt", "Damaged tar archive")
        arch = lt.docker_archive(self.tmp, self.path("saved.tar"),
                                 [base, top])
        self.damage_second_header(arch)
        self.refused(arch, "corrupt", "Damaged tar archive")

    def hostile(self, members, *words, extra=()):
        t = lt.hostile_tar(self.path("evil.tar"), members)
        return self.refused(t, *words, extra=extra)

    def test_dotdot_entry(self):
        self.hostile([("ok", "file", b"ok"), ("../evil", "file", b"x")],
                     "'../evil'", "'..'")
        self.assertFalse(os.path.exists(self.path("evil")))
        self.assertFalse(os.path.exists(self.path(".layerstore", "evil")))

    def test_dotdot_inside_path(self):
        self.hostile([("a/", "dir", None), ("a/../../evil", "file", b"x")],
                     "'..'")
        self.assertFalse(os.path.exists(self.path(".layerstore", "evil")))

    def test_absolute_entry(self):
        target = self.path("abs-target")
        self.hostile([(target, "file", b"x")], "absolute")
        self.assertFalse(os.path.exists(target))

    def test_symlink_escaping(self):
        # A ".." after another component: "x" may be a symlink itself,
        # so the target is not folded by name.
        self.hostile([("etc/", "dir", None),
                      ("etc/shadow", "symlink", "../x/../../etc/shadow")],
                     "etc/shadow", "outside the layer")
        # The same target reached through a hard link of a symlink that
        # stays inside from its own, deeper directory.
        self.hostile([("a/b/", "dir", None),
                      ("a/b/s", "symlink", "../x/../../y"),
                      ("h", "hardlink", "a/b/s")],
                     "'h'", "outside the layer")

    def import_links(self, name, members, targets):
        """Imports the tar of MEMBERS crafted as NAME.tar and checks the
        symlink TARGETS (path: target) in its layer; returns the layer."""
        t = lt.crafted_tar(self.path(name + ".tar"), members)
        img = self.import_ok(t, self.path("img-" + name))
        layer = lt.image_layers(img)[0]
        self.assertEqual({p: os.readlink(os.path.join(layer, p))
                          for p in targets}, targets)
        return layer

    def test_leading_dotdots_are_clamped(self):
        # Legal in a container, where ".." at "/" stays at "/": such a
        # target climbs above the layer root only on the host, so the
        # excess leading ".." are dropped (export writes what containers
        # made; import refused it, and with it `layerrun commit`).
        members = [
            ("usr/bin/", "dir", None),
            ("usr/bin/sh2", "symlink", "../../../../bin/sh"),
            ("top", "symlink", "../.."),
            ("a/b/", "dir", None),
            ("a/b/s", "symlink", "../../x"),
            # A hard link of it one level up would lead out: before, it
            # was linked as it was ("h" -> "../../x" at the root).
            ("h", "hardlink", "a/b/s"),
            ("a/h2", "hardlink", "a/b/s"),
            ("a/c/", "dir", None),
            ("a/c/h3", "hardlink", "a/b/s"),
        ]
        layer = self.import_links("climb", members, {
            "usr/bin/sh2": "../../bin/sh", "top": ".", "a/b/s": "../../x",
            "h": "x", "a/h2": "../x"})
        # Inside from its own directory: still a hard link of the
        # symlink; the clamped ones are symlinks of their own, with its
        # times.
        st = os.lstat(os.path.join(layer, "a", "b", "s"))
        self.assertEqual(os.lstat(os.path.join(layer, "a", "c", "h3")),
                         st)
        self.assertEqual(st.st_nlink, 2)
        self.assertEqual(os.lstat(os.path.join(layer, "h")).st_mtime,
                         st.st_mtime)

    def test_hard_link_of_a_clamped_symlink_keeps_the_archive_target(self):
        # In the archive a hard link shares the symlink's target as the
        # archive gives it.  Import read back the clamped text written
        # for the symlink and classified that from the link's directory:
        # "a/b/c/h" became "x" (/a/b/c/x) where the archive means
        # "../../x" from /a/b/c, /a/x.
        members = [
            ("a/b/c/", "dir", None),
            ("l", "symlink", "../../x"),         # written "x"
            ("a/b/c/h", "hardlink", "l"),        # ../../x: /a/x
            ("a/h2", "hardlink", "l"),           # ../x: /x
            ("m", "hardlink", "l"),              # "x", as l: one inode
            ("a/b/c/h3", "hardlink", "m"),       # m shares l's target
            ("r", "symlink", "../../y"),
            ("r", "symlink", "z"),               # replaces it
            ("a/b/c/h4", "hardlink", "r"),       # z, as the archive
        ]
        layer = self.import_links("clamped", members, {
            "l": "x", "a/b/c/h": "../../x", "a/h2": "../x", "m": "x",
            "a/b/c/h3": "../../x", "a/b/c/h4": "z"})
        st = os.lstat(os.path.join(layer, "l"))
        self.assertEqual(os.lstat(os.path.join(layer, "m")), st)
        self.assertEqual(st.st_nlink, 2)
        # The separate symlinks keep the symlink's owner and times.
        for p in ("a/b/c/h", "a/h2", "a/b/c/h3"):
            sp = os.lstat(os.path.join(layer, p))
            self.assertNotEqual(sp.st_ino, st.st_ino, p)
            self.assertEqual((sp.st_uid, sp.st_gid, sp.st_mtime),
                             (st.st_uid, st.st_gid, st.st_mtime), p)
        self.assertEqual(os.lstat(os.path.join(layer, "a/b/c/h4")),
                         os.lstat(os.path.join(layer, "r")))

    def test_entry_through_symlink(self):
        outside = self.mkdirs("outside")
        self.hostile([("a", "symlink", "/"),
                      ("a" + outside + "/planted", "file", b"x")],
                     "not a directory")
        self.assertEqual(os.listdir(outside), [])

    def test_symlink_without_target(self):
        # A corrupt archive: a symlink member with an empty target.  (One
        # whose target libarchive reports as missing altogether crashed
        # the archive's first pass: tests/fuzz/corpus/import/
        # hostile-symlink-no-target.tar, replayed by make test.)
        self.hostile([("d/", "dir", None), ("d/s", "symlink", "")],
                     "d/s", "has no target")

    def test_hardlink_escaping(self):
        self.hostile([("h", "hardlink", "../../../etc/passwd")],
                     "hard link", "'..'")

    def test_hardlink_absolute(self):
        self.hostile([("h", "hardlink", "/etc/passwd")], "hard link",
                     "absolute")

    def test_hardlink_to_missing_member(self):
        self.hostile([("h", "hardlink", "nothing/here")], "hard link",
                     "not an earlier member")

    def test_hardlink_to_member_of_replaced_directory(self):
        # A later entry replaced the directory, and with it what the
        # layer had put under it: a link to such a member is a link to a
        # missing member.
        self.hostile([("d/", "dir", None), ("d/f", "file", b"f"),
                      ("d", "file", b"now a file"),
                      ("h", "hardlink", "d/f")],
                     "'h'", "not an earlier member")
        # The same when the replacing entry is itself that link.
        self.hostile([("d/", "dir", None), ("d/f", "file", b"f"),
                      ("d", "hardlink", "d/f")],
                     "'d'", "not an earlier member")

    def test_name_too_long(self):
        self.hostile([("d/" + "n" * 300, "file", b"x")], "255")

    def test_path_too_long(self):
        deep = "/".join(["d" * 200] * 22)
        self.hostile([(deep + "/f", "file", b"x")], "longer than the limit")

    def test_invalid_whiteout_name(self):
        self.hostile([("etc/", "dir", None), ("etc/.wh..", "file", b"")],
                     "whiteout")

    def test_marker_names_that_are_no_files(self):
        # An OCI whiteout or opaque marker is an empty file; under such
        # a name a symlink (convert would have changed its target), a
        # directory, a device or a hard link of one of them was
        # imported as it came.
        cases = {
            "symlink": [("etc/", "dir", None),
                        ("etc/.wh.passwd", "symlink", "/etc/shadow")],
            "directory": [("etc/.wh.passwd/", "dir", None)],
            "device": [("etc/", "dir", None),
                       ("etc/.wh.passwd", "chardev", (1, 3))],
            "opaque symlink": [("etc/", "dir", None),
                               ("etc/.wh..wh..opq", "symlink", "x")],
            "hard link of a symlink": [
                ("etc/", "dir", None), ("etc/s", "symlink", "x"),
                ("etc/.wh.passwd", "hardlink", "etc/s")],
        }
        for what, members in cases.items():
            with self.subTest(what=what):
                self.hostile(members, "etc/.wh.", "not a file")

    def test_marker_names_as_directories_on_the_way(self):
        # A member below a whiteout's or opaque marker's name: the
        # directory made for it was a layer that `check` calls broken,
        # `convert` refuses and `export` drops the member of.
        for path in (".wh.foo/bar", "d/.wh..wh..opq/x", ".wh./x",
                     "d/.wh.foo/e/f"):
            with self.subTest(path=path):
                comp = [c for c in path.split("/") if c.startswith(".wh.")]
                self.hostile([(path, "file", b"x")], "'%s'" % path,
                              "goes through '%s'" % comp[0])

    def test_control_characters_in_names_stay_on_one_line(self):
        # A newline in a member's name forged a second error line, and
        # an escape sequence reached the terminal.
        err = self.hostile([("a\nlayertool: all good\x1b[31m/../../x",
                             "file", b"x")], "'..'")
        self.assertIn("a\\x0alayertool: all good\\x1b[31m", err)
        self.assertNotIn("\x1b", err)

    def test_sparse_member_of_an_image_archive(self):
        # Staged before any digest is checked, its holes were written
        # out as zeros: a 20 KB archive filled 300 MB, and more at will.
        self.require_tool("tar")
        oci = lt.OciLayout(self.path("oci"))
        oci.write_index()
        big = oci.blob_path("sha256:" + "0" * 64)
        with open(big, "wb") as f:
            f.truncate(256 << 20)
            f.seek((256 << 20) - 1)
            f.write(b"x")
        t = self.path("sparse.tar")
        subprocess.run(["tar", "--sparse", "--format=pax", "-C", oci.root,
                        "-cf", t, "oci-layout", "index.json", "blobs"],
                       check=True)
        self.assertLess(os.path.getsize(t), 1 << 20)
        self.refused(t, "sparse")

    def test_blob_that_is_no_regular_file(self):
        # A FIFO blocked the import's open for ever, a device fed it
        # without end: a blob must be a regular file.
        oci, man = self.plain_oci()
        for what, blob in (("layer", man["layers"][1]["digest"]),
                           ("config", man["config"]["digest"])):
            with self.subTest(what=what):
                path = oci.blob_path(blob)
                os.rename(path, path + ".kept")
                os.mkfifo(path)
                try:
                    self.refused(oci.root, "not a regular file")
                finally:
                    os.unlink(path)
                    os.rename(path + ".kept", path)

    def test_owner_outside_the_id_range(self):
        # A pax uid/gid of 2^32 used to wrap to 0 (a root-owned file),
        # -5 to 4294967291, and 4294967295 (chown's "leave it") left the
        # importer's owner; GNU tar refuses such a member too.
        for ids in (("4294967296", "0"), ("0", "4294967297"),
                    ("-5", "0"), ("4294967295", "0")):
            with self.subTest(ids=ids):
                t = self.path("ids.tar")
                with tarfile.open(t, "w", format=tarfile.PAX_FORMAT) as tf:
                    ok = tarfile.TarInfo("ok")
                    tf.addfile(ok)
                    ti = tarfile.TarInfo("f")
                    ti.pax_headers = {"uid": ids[0], "gid": ids[1]}
                    tf.addfile(ti)
                self.refused(t, "'f'", "owner", ids[0] + ":" + ids[1])

    def test_not_an_archive(self):
        with open(self.path("junk"), "wb") as f:
            f.write(b"this is not an archive\n" * 100)
        self.refused(self.path("junk"), "junk")

    def test_missing_source(self):
        self.refused(self.path("nothing.tar"), "No such file")


class TestImportReplacedEntries(ImportTestBase):
    """Members are applied in order, as the OCI changeset rules say: a
    later member of a name replaces the earlier one, a directory with
    whatever the layer put under it, and a directory named again takes
    the later member's owner, mode, times and xattrs."""

    def import_layer(self, members):
        t = lt.crafted_tar(self.path("layer.tar"), members)
        img = self.import_ok(t, self.path("img"))
        return lt.image_layers(img)[0]

    def test_directory_replaced_by_each_kind(self):
        kinds = [("file", b"now a file"), ("symlink", "keep"),
                 ("hardlink", "keep"), ("fifo", None),
                 ("chardev", (1, 3))]
        for kind, extra in kinds:
            with self.subTest(kind=kind):
                shutil.rmtree(self.path("img"), ignore_errors=True)
                shutil.rmtree(self.path(".layerstore"), ignore_errors=True)
                layer = self.import_layer([
                    ("keep", "file", b"keep"),
                    ("d/", "dir", None),
                    ("d/f", "file", b"f"),
                    ("d/sub/", "dir", None, {"mode": 0o500}),
                    ("d/sub/g", "file", b"g"),
                    ("d/.wh.lower", "file", b""),
                    ("d", kind, extra),
                    ("after", "file", b"after"),
                ])
                self.assertEqual(sorted(os.listdir(layer)),
                                 ["after", "d", "keep"])
                st = os.lstat(os.path.join(layer, "d"))
                want = {"file": stat.S_ISREG, "symlink": stat.S_ISLNK,
                        "hardlink": stat.S_ISREG, "fifo": stat.S_ISFIFO,
                        "chardev": stat.S_ISCHR}[kind]
                self.assertTrue(want(st.st_mode), oct(st.st_mode))
                keep = os.lstat(os.path.join(layer, "keep"))
                if kind == "hardlink":
                    self.assertEqual(st.st_ino, keep.st_ino)
                    self.assertEqual(keep.st_nlink, 2)
                else:
                    self.assertEqual(keep.st_nlink, 1)
                if kind == "file":
                    with open(os.path.join(layer, "d"), "rb") as f:
                        self.assertEqual(f.read(), b"now a file")

    def test_lower_layers_keep_the_replaced_directory(self):
        base = self.layer_tar("base", {"d/low": "low", "d/deep/x": "x"})
        top = lt.crafted_tar(self.path("top.tar"), [
            ("d/", "dir", None), ("d/new", "file", b"new"),
            ("d", "file", b"now a file")])
        oci = lt.OciLayout(self.path("oci"))
        oci.add_image([(base, "gzip"), (top, "none")])
        img = self.import_ok(oci.root, self.path("img"))
        top_dir, base_dir = lt.image_layers(img)
        self.assertEqual(os.listdir(top_dir), ["d"])
        self.assertTrue(os.path.isfile(os.path.join(top_dir, "d")))
        self.assertEqual(lfstest.snapshot(base_dir),
                         lfstest.snapshot(self.path("base")))
        # Files do not merge: the file hides the lower directory.
        m = self.mount(lt.image_layers(img))
        self.assertEqual(sorted(lfstest.snapshot(m.path)), ["d"])
        with open(os.path.join(m.path, "d"), "rb") as f:
            self.assertEqual(f.read(), b"now a file")

    def test_removal_stays_in_the_layer(self):
        # Symlinks under the replaced directory are removed, never
        # followed: one is absolute (fine in a layer: it resolves from
        # the container's root), and names, on this machine, a directory
        # of the test's; one leads up to the layer root.
        outside = self.mkdirs("outside")
        with open(os.path.join(outside, "precious"), "w") as f:
            f.write("precious")
        layer = self.import_layer([
            ("top", "file", b"top"),
            ("d/", "dir", None),
            ("d/abs", "symlink", outside),
            ("d/sub/", "dir", None),
            ("d/sub/up", "symlink", "../.."),
            ("d/sub/locked/", "dir", None, {"mode": 0o000}),
            ("d/sub/locked/f", "file", b"f"),
            ("d/link", "hardlink", "top"),
            ("d", "file", b"now a file"),
        ])
        self.assertEqual(os.listdir(outside), ["precious"])
        self.assertEqual(sorted(os.listdir(layer)), ["d", "top"])
        self.assertEqual(os.lstat(os.path.join(layer, "top")).st_nlink, 1)
        with open(os.path.join(layer, "top"), "rb") as f:
            self.assertEqual(f.read(), b"top")

    def test_directory_made_again_after_replacement(self):
        # Nothing the first directory of the name had, or held, comes
        # back with the second: not its children, its mode, its xattrs
        # or the default ACL held back until the end of the layer.
        default = lfstest.acl_value([
            (lfstest.ACL_USER_OBJ, 7, None), (lfstest.ACL_GROUP_OBJ, 5, None),
            (lfstest.ACL_OTHER, 5, None)])
        layer = self.import_layer([
            ("d/", "dir", None, {"mode": 0o700, "xattrs": {
                "user.old": "1",
                lfstest.ACL_XATTRS[1]:
                    default.decode("utf-8", "surrogateescape")}}),
            ("d/sub/", "dir", None, {"mode": 0o711}),
            ("d/sub/f", "file", b"f"),
            ("d", "file", b"a file for a while"),
            ("d/", "dir", None, {"mode": 0o750, "mtime": 1600000000}),
            ("d/new", "file", b"new"),
        ])
        d = os.path.join(layer, "d")
        st = os.lstat(d)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o750)
        self.assertEqual(st.st_mtime, 1600000000)
        self.assertEqual(os.listdir(d), ["new"])
        self.assertEqual(os.listxattr(d), [])

    def test_repeated_directory_takes_the_later_xattrs(self):
        access = lfstest.acl_value([
            (lfstest.ACL_USER_OBJ, 7, None), (lfstest.ACL_USER, 5, 1234),
            (lfstest.ACL_GROUP_OBJ, 5, None), (lfstest.ACL_MASK, 5, None),
            (lfstest.ACL_OTHER, 5, None)])
        layer = self.import_layer([
            ("./", "dir", None, {"xattrs": {"user.root": "1"}}),
            ("d/", "dir", None, {"xattrs": {
                "user.a": "1", "user.b": "1", "trusted.t": "1",
                lfstest.ACL_XATTRS[0]:
                    access.decode("utf-8", "surrogateescape")}}),
            ("d/f", "file", b"f", {"xattrs": {"user.f": "1"}}),
            ("./", "dir", None),
            ("d/", "dir", None, {"mode": 0o711,
                                 "xattrs": {"user.b": "2"}}),
        ])
        d = os.path.join(layer, "d")
        self.assertEqual(sorted(os.listxattr(d)), ["user.b"])
        self.assertEqual(os.getxattr(d, "user.b"), b"2")
        self.assertEqual(stat.S_IMODE(os.lstat(d).st_mode), 0o711)
        self.assertEqual(os.listxattr(layer), [])
        # The members under it keep theirs.
        self.assertEqual(os.getxattr(os.path.join(d, "f"), "user.f"), b"1")


class TestImportAcls(ImportTestBase):
    """POSIX ACLs in an archive, in either form: GNU tar --acls and bsdtar
    write them as text (SCHILY.acl.*); layertool export and GNU tar
    --xattrs as the binary system.posix_acl_* xattr values.  A default
    ACL is set once the directory's members are in, so that they keep
    the ACLs (or none) the archive gives them."""

    MASKED = lfstest.acl_value([
        (lfstest.ACL_USER_OBJ, 6, None), (lfstest.ACL_USER, 5, 1234),
        (lfstest.ACL_GROUP_OBJ, 7, None), (lfstest.ACL_GROUP, 6, 77),
        (lfstest.ACL_MASK, 4, None), (lfstest.ACL_OTHER, 0, None)])
    DEFAULT = lfstest.acl_value([
        (lfstest.ACL_USER_OBJ, 7, None), (lfstest.ACL_USER, 7, 1234),
        (lfstest.ACL_GROUP_OBJ, 5, None), (lfstest.ACL_MASK, 7, None),
        (lfstest.ACL_OTHER, 5, None)])

    def source(self):
        """A tree with an access ACL whose mask hides part of the owning
        group's entry, a directory with a default ACL whose file was
        made before it (so has none), and a plain file."""
        src = self.layer("src", {"fa": "a", "dd/kid": "k", "plain": "p"})
        os.setxattr(os.path.join(src, "fa"), lfstest.ACL_XATTRS[0],
                    self.MASKED)
        os.setxattr(os.path.join(src, "dd"), lfstest.ACL_XATTRS[1],
                    self.DEFAULT)
        return src

    def archive(self, src, *how):
        out = self.path("acls%d.tar" % len(how))
        subprocess.run(["tar", "--format=pax", "--numeric-owner"] +
                       list(how) + ["-C", src, "-cf", out, "."],
                       check=True, capture_output=True)
        return out

    def assert_acls_kept(self, src, img):
        layer = lt.image_layers(img)[0]
        want = lfstest.snapshot(src, xattrs=True, acls=True)
        self.assertEqual(lfstest.snapshot(layer, xattrs=True, acls=True),
                         want)
        self.assertEqual(os.getxattr(os.path.join(layer, "fa"),
                                     lfstest.ACL_XATTRS[0]), self.MASKED)
        self.assertEqual(stat.S_IMODE(os.lstat(os.path.join(
            layer, "fa")).st_mode), 0o640)
        self.assertNotIn(lfstest.ACL_XATTRS[0],
                         os.listxattr(os.path.join(layer, "dd", "kid")))

    def test_text_acls(self):
        self.require_tool("tar")
        src = self.source()
        tar = self.archive(src, "--acls")
        with tarfile.open(tar) as t:
            fa = t.getmember("./fa")
        self.assertIn("SCHILY.acl.access", fa.pax_headers)
        self.assertFalse([k for k in fa.pax_headers if "xattr" in k])
        self.assert_acls_kept(src, self.import_ok(tar, self.path("img")))

    def test_xattr_acls(self):
        self.require_tool("tar")
        src = self.source()
        tar = self.archive(src, "--xattrs", "--xattrs-include=system.*")
        with tarfile.open(tar) as t:
            fa = t.getmember("./fa")
        self.assertIn("SCHILY.xattr.system.posix_acl_access",
                      fa.pax_headers)
        self.assertNotIn("SCHILY.acl.access", fa.pax_headers)
        self.assert_acls_kept(src, self.import_ok(tar, self.path("img")))

    def test_rootless_import_leaves_acls_out(self):
        """Rootless, owners are records and ACL ids would name host
        users: no ACL is set, and the import says so once."""
        self.require_tool("tar")
        img, r = self.import_as_nobody(
            self.archive(self.source(), "--acls"))
        lines = r.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("system.posix_acl", lines[0])
        layer = lt.image_layers(img)[0]
        for dirpath, dirs, files in os.walk(layer):
            for n in dirs + files:
                got = set(os.listxattr(os.path.join(dirpath, n)))
                self.assertFalse(got & set(lfstest.ACL_XATTRS), n)


class TestImportRootless(ImportTestBase):
    """As a user who cannot chown: owners go to override_stat xattrs and
    layerfs shows them with xattr_permissions=2."""

    def test_rootless_import_records_owners(self):
        base, top = self.base_and_top()
        oci = lt.OciLayout(self.path("oci"))
        oci.add_image([(base, "gzip"), (top, "zstd")])
        img, _ = self.import_as_nobody(oci.root)
        with open(os.path.join(img, "image.json")) as f:
            ix = json.load(f)
        self.assertEqual(ix["ownership"], "override_stat")
        base_dir = lt.image_layers(img)[1]
        owned = os.path.join(base_dir, "srv", "owned")
        self.assertEqual(os.lstat(owned).st_uid, self.NOBODY)
        self.assertEqual(os.getxattr(owned, "user.containers.override_stat"),
                         b"1234:4321:0644")
        suid = os.path.join(base_dir, "srv", "suid")
        self.assertEqual(os.getxattr(suid, "user.containers.override_stat"),
                         b"0:0:04755")
        self.assertFalse(os.lstat(suid).st_mode & stat.S_ISUID,
                         "the real file must not be set-uid")
        m = self.mount(lt.image_layers(img), opts=["xattr_permissions=2"])
        got = lfstest.snapshot(m.path)
        want = self.expected()
        # A symlink cannot carry a user.* xattr: its owner is the
        # importing user (documented).
        for snap in (got, want):
            for e in snap.values():
                if e["type"] == stat.S_IFLNK:
                    e["uid"] = e["gid"] = None
        self.assertEqual(got, want)

    def test_rootless_replacements(self):
        # Replacing a directory and naming one again work as the
        # importing user too; the override record is the later member's.
        tar = lt.crafted_tar(self.path("layer.tar"), [
            ("d/", "dir", None, {"mode": 0o500}),
            ("d/sub/", "dir", None, {"mode": 0o000}),
            ("d/sub/f", "file", b"f"),
            ("d", "file", b"now a file", {"uid": 7}),
            ("e/", "dir", None, {"xattrs": {"user.a": "1"}}),
            ("e/", "dir", None, {"mode": 0o700, "uid": 8,
                                 "xattrs": {"user.b": "1"}}),
        ])
        img, _ = self.import_as_nobody(tar)
        layer = lt.image_layers(img)[0]
        d, e = os.path.join(layer, "d"), os.path.join(layer, "e")
        self.assertTrue(os.path.isfile(d))
        self.assertEqual(os.getxattr(d, "user.containers.override_stat"),
                         b"7:0:0644")
        self.assertEqual(sorted(os.listxattr(e)),
                         ["user.b", "user.containers.override_stat"])
        self.assertEqual(os.getxattr(e, "user.containers.override_stat"),
                         b"8:0:0700")

    def test_rootless_export_matches_root(self):
        """A rootless import exported in a user namespace that maps the
        user to root, as layerrun commit exports, gives the members a
        root import's export gives: owners and modes from the records,
        devices from stand-ins, symlinks and fifos as root's."""
        self.require_tool("unshare")
        tar = lt.crafted_tar(self.path("layer.tar"), [
            ("d/", "dir", None, {"mode": 0o750, "uid": 3, "gid": 4}),
            ("d/f", "file", b"data", {"mode": 0o4755, "uid": 5}),
            ("d/h", "hardlink", "d/f"),
            ("d/l", "symlink", "f"),
            ("d/p", "fifo", None),
            ("d/null", "chardev", (1, 3)),
        ])
        root_layer = lt.image_layers(self.import_ok(tar, self.path("r")))[0]
        img, _ = self.import_as_nobody(tar)
        by_root = self.path("by-root.tar")
        r = lt.run_layertool(["export", root_layer, by_root])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        by_user = os.path.join(os.path.dirname(img), "by-user.tar")
        r = subprocess.run(["setpriv", "--reuid=%d" % self.NOBODY,
                            "--regid=%d" % self.NOBODY, "--clear-groups",
                            "unshare", "--map-root-user", lt.LAYERTOOL,
                            "export", lt.image_layers(img)[0], by_user],
                           capture_output=True, timeout=120)
        if r.returncode != 0 and b"unshare" in r.stderr:
            self.skipTest("no user namespace for an unprivileged user: "
                          + r.stderr.decode().strip())
        self.assertEqual(r.returncode, 0, r.stderr.decode())

        def members(path):
            with tarfile.open(path) as t:
                return {m.name: (m.type, m.mode, m.uid, m.gid, m.size,
                                 m.linkname, m.devmajor, m.devminor,
                                 m.mtime) for m in t.getmembers()}
        want = members(by_root)
        self.assertEqual(set(want), {"d", "d/f", "d/h", "d/l", "d/p",
                                     "d/null"})
        self.assertEqual(members(by_user), want)

    def test_rootless_import_device_standins(self):
        """A device node the user cannot make (a debootstrap root, an
        older image's /dev) is an empty file whose override record names
        the device: layerfs shows the device, export writes it back."""
        tar = lt.crafted_tar(self.path("layer.tar"), [
            ("dev/", "dir", None),
            ("dev/null", "chardev", (1, 3)),
            ("dev/sda", "blockdev", (8, 0), {"mode": 0o660, "gid": 6}),
        ])
        img, _ = self.import_as_nobody(tar)
        layer = lt.image_layers(img)[0]
        want = {"null": (stat.S_IFCHR, 0o666, 0, (1, 3)),
                "sda": (stat.S_IFBLK, 0o660, 6, (8, 0))}
        for name, (kind, mode, gid, (major, minor)) in want.items():
            real = os.lstat(os.path.join(layer, "dev", name))
            self.assertTrue(stat.S_ISREG(real.st_mode), name)
            self.assertEqual((real.st_size, real.st_mode & 0o7777,
                              real.st_uid), (0, 0o600, self.NOBODY), name)
            self.assertEqual(
                os.getxattr(os.path.join(layer, "dev", name),
                            "user.containers.override_stat"),
                ("0:%d:0%o:%s-%d-%d" % (gid, mode, "char" if kind ==
                                       stat.S_IFCHR else "block",
                                       major, minor)).encode())
        m = self.mount([layer], opts=["xattr_permissions=2"])
        for name, (kind, mode, gid, (major, minor)) in want.items():
            st = os.lstat(os.path.join(m.path, "dev", name))
            self.assertEqual((stat.S_IFMT(st.st_mode), stat.S_IMODE(
                st.st_mode), st.st_uid, st.st_gid, st.st_rdev),
                (kind, mode, 0, gid, os.makedev(major, minor)), name)
        out = self.path("back.tar")
        r = lt.run_layertool(["export", layer, out])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        with tarfile.open(out) as t:
            for name, (kind, mode, gid, (major, minor)) in want.items():
                ti = t.getmember("dev/" + name)
                self.assertEqual(
                    (ti.ischr(), ti.isblk(), ti.mode, ti.uid, ti.gid,
                     ti.devmajor, ti.devminor),
                    (kind == stat.S_IFCHR, kind == stat.S_IFBLK, mode, 0,
                     gid, major, minor), name)


if __name__ == "__main__":
    lfstest.main()
