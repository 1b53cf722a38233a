#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_import (tests/fuzz/corpus/import/):
small layer archives, ordinary and hostile, plain and compressed, and two
image archives.  Run again only to change the seeds."""

import gzip
import io
import json
import os
import tarfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "corpus", "import")


def tar(members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for m in members:
            name, kind = m[0], m[1]
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            data = None
            if kind == "file":
                data = m[2] if len(m) > 2 else b"data\n"
                ti.size = len(data)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, m[2]
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, m[2]
            elif kind == "chardev":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 0, 0
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            if len(m) > 3:
                ti.pax_headers = m[3]
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


SEEDS = {
    "plain.tar": [("bin/", "dir"), ("bin/sh", "file", b"#!\n"),
                  ("bin/ls", "hardlink", "bin/sh"),
                  ("usr/bin", "symlink", "../bin"), ("run/fifo", "fifo")],
    "whiteouts.tar": [("etc/", "dir"), ("etc/.wh.passwd", "file", b""),
                      ("var/.wh..wh..opq", "file", b""),
                      ("var/new", "file")],
    "xattrs.tar": [("f", "file", b"x",
                    {"SCHILY.xattr.user.a": "1",
                     "SCHILY.xattr.security.capability": "\x01\x00"})],
    # POSIX ACLs as GNU tar and bsdtar write them (text), one
    # malformed (a named entry without its mask), and as an xattr value.
    "acls.tar": [("d/", "dir", None,
                  {"SCHILY.acl.default":
                   "user::rwx\nuser:1000:rwx\ngroup::r-x\nmask::rwx\n"
                   "other::r-x\n"}),
                 ("d/f", "file", b"f",
                  {"SCHILY.acl.access":
                   "user::rw-\nuser:1000:r--\ngroup::r--\nmask::r--\n"
                   "other::---\n"}),
                 ("d/bad", "file", b"b",
                  {"SCHILY.acl.access": "user::rw-\nuser:7:rw-\n"
                   "group::r--\nother::---\n"}),
                 ("d/raw", "file", b"r",
                  {"SCHILY.xattr.system.posix_acl_access":
                   "\x02\x00\x00\x00\x01\x00\x06\x00\udcff\udcff\udcff"
                   "\udcff\x04\x00\x04\x00\udcff\udcff\udcff\udcff"
                   "\x20\x00\x00\x00\udcff\udcff\udcff\udcff"})],
    "hostile-dotdot.tar": [("../escape", "file"), ("a/../../x", "file")],
    "hostile-absolute.tar": [("/etc/passwd", "file")],
    "hostile-through-symlink.tar": [("a", "symlink", "/tmp"),
                                    ("a/planted", "file")],
    "hostile-link-escape.tar": [("d/", "dir"), ("d/s", "symlink", "../../x"),
                                ("d/s/f", "file")],
    "hostile-hardlink.tar": [("h", "hardlink", "/etc/passwd"),
                             ("g", "hardlink", "../canary")],
    "hostile-device.tar": [("null", "chardev")],
    # A later member replacing a directory (OCI changeset order), then a
    # hard link to a member the replacement removed.
    "replace-dir.tar": [("d/", "dir"), ("d/f", "file"), ("d", "file"),
                        ("h", "hardlink", "d/f")],
    "hostile-long-name.tar": [("n" * 300, "file"),
                              ("d/" + "m" * 255, "file")],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, members in SEEDS.items():
        data = tar(members)
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    plain = tar(SEEDS["plain.tar"])
    with open(os.path.join(OUT, "plain.tar.gz"), "wb") as f:
        f.write(gzip.compress(plain, mtime=0))
    with open(os.path.join(OUT, "gnu.tar"), "wb") as f:
        f.write(tar(SEEDS["whiteouts.tar"], tarfile.GNU_FORMAT))
    layer = tar(SEEDS["plain.tar"])
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["x:1"],
                            "Layers": ["l/layer.tar"]}]).encode()
    with open(os.path.join(OUT, "docker-archive.tar"), "wb") as f:
        f.write(tar([("manifest.json", "file", manifest),
                     ("config.json", "file", b"{}"),
                     ("l/", "dir"), ("l/layer.tar", "file", layer),
                     ("l2", "symlink", "l/layer.tar"),
                     ("evil", "symlink", "../../etc/passwd")]))
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    with open(os.path.join(OUT, "oci-archive.tar"), "wb") as f:
        f.write(tar([("oci-layout", "file", b'{"imageLayoutVersion":"1.0.0"}'),
                     ("index.json", "file", index),
                     ("blobs/sha256/", "dir")]))


if __name__ == "__main__":
    main()
