"""Helpers for the layertool tests: image archives built here with real
tools (GNU tar, gzip, zstd), hostile archives crafted with tarfile, and
running layertool.

Every archive a test imports is made by the test itself: layer tars by
`tar` from directories written with lfstest.write_tree, OCI layouts and
docker-archives assembled by hand (JSON written here, blobs named by their
sha256), compressed by the gzip and zstd programs.
"""

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile

import lfstest

LAYERTOOL = lfstest.LAYERTOOL

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def host_arch():
    """This machine's architecture as OCI names it."""
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "i686": "386",
            "armv7l": "arm"}.get(m, m)


def sha256_file(path):
    return "sha256:" + lfstest.file_digest(path)


def sha256_bytes(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run_layertool(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([LAYERTOOL] + list(args), **kw)


def tar_dir(src, out, xattrs=False):
    """A layer tar of directory src, made by GNU tar: sorted names,
    numeric owners, no leading './' (as docker and buildah write them)."""
    names = sorted(os.listdir(src))
    args = ["tar", "--format=pax", "--numeric-owner", "--sort=name",
            "-C", src, "-cf", out]
    if xattrs:
        args[1:1] = ["--xattrs", "--xattrs-include=user.*"]
    args += names if names else ["--files-from=/dev/null"]
    subprocess.run(args, check=True, capture_output=True)
    return out


def compress(path, how):
    """Compresses path with the gzip or zstd program; returns the blob."""
    if how == "none":
        return path
    if how == "gzip":
        subprocess.run(["gzip", "-n", "-f", "-k", path], check=True,
                       capture_output=True)
        return path + ".gz"
    if how == "zstd":
        subprocess.run(["zstd", "-q", "-f", path, "-o", path + ".zst"],
                       check=True, capture_output=True)
        return path + ".zst"
    raise ValueError(how)


def make_config(diff_ids, arch=None, os_name="linux", cmd=None):
    arch = arch or host_arch()
    cfg = {
        "architecture": arch,
        "os": os_name,
        "config": {"Env": ["PATH=/usr/bin:/bin"],
                   "Cmd": cmd or ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "test layer %d" % i}
                    for i in range(len(diff_ids))],
    }
    return json.dumps(cfg, indent=1).encode()


class OciLayout:
    """An OCI image layout written by hand."""

    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.manifests = []

    def add_blob(self, data=None, path=None):
        if path is not None:
            with open(path, "rb") as f:
                data = f.read()
        digest = sha256_bytes(data)
        with open(self.blob_path(digest), "wb") as f:
            f.write(data)
        return digest, len(data)

    def blob_path(self, digest):
        return os.path.join(self.root, "blobs", "sha256",
                            digest.split(":", 1)[1])

    def add_image(self, layers, arch=None, ref=None, platform=True,
                  diff_ids=None):
        """layers: list of (tar_path, compression).  Returns the manifest
        descriptor."""
        descs, ids = [], []
        for tar_path, how in layers:
            ids.append(sha256_file(tar_path))
            blob = compress(tar_path, how)
            digest, size = self.add_blob(path=blob)
            descs.append({"mediaType": LAYER_TYPES[how], "digest": digest,
                          "size": size})
        arch = arch or host_arch()
        cfg = make_config(diff_ids or ids, arch=arch)
        cdig, csize = self.add_blob(cfg)
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": OCI_CONFIG, "digest": cdig,
                          "size": csize},
               "layers": descs}
        mdig, msize = self.add_blob(json.dumps(man).encode())
        desc = {"mediaType": OCI_MANIFEST, "digest": mdig, "size": msize}
        if platform:
            desc["platform"] = {"os": "linux", "architecture": arch}
        if ref:
            desc["annotations"] = {"org.opencontainers.image.ref.name": ref}
        self.manifests.append(desc)
        self.write_index()
        return desc

    def write_index(self):
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": self.manifests}, f)


def docker_archive(workdir, out, layers, tag="test:latest", diff_ids=None):
    """A docker-archive (the `docker save` layout) built by hand and packed
    by tar: <id>/layer.tar per layer, <config sha>.json, manifest.json.
    layers: list of tar paths (uncompressed, as docker saves them)."""
    root = os.path.join(workdir, "docker-archive-root")
    os.makedirs(root)
    paths, ids = [], []
    for i, tar_path in enumerate(layers):
        ids.append(sha256_file(tar_path))
        lid = hashlib.sha256(("layer%d" % i).encode()).hexdigest()
        os.makedirs(os.path.join(root, lid))
        shutil.copy(tar_path, os.path.join(root, lid, "layer.tar"))
        with open(os.path.join(root, lid, "VERSION"), "w") as f:
            f.write("1.0")
        paths.append(lid + "/layer.tar")
    cfg = make_config(diff_ids or ids)
    cname = hashlib.sha256(cfg).hexdigest() + ".json"
    with open(os.path.join(root, cname), "wb") as f:
        f.write(cfg)
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump([{"Config": cname, "RepoTags": [tag], "Layers": paths}], f)
    subprocess.run(["tar", "-C", root, "-cf", out] + sorted(os.listdir(root)),
                   check=True, capture_output=True)
    shutil.rmtree(root)
    return out


def hostile_tar(path, members):
    """A layer tar crafted with tarfile, for archives GNU tar would not
    write; see crafted_tar."""
    return crafted_tar(path, members)


def crafted_tar(path, members):
    """A layer tar crafted with tarfile, members in the order given (a
    name may come twice).  members: list of (name, kind, extra) or (name,
    kind, extra, attrs) with kind file/dir/symlink/hardlink/chardev/fifo;
    attrs sets TarInfo fields ("mode", "uid", ...) and "xattrs" (a dict
    of name: value, written as SCHILY.xattr pax records)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for member in members:
            name, kind, extra = member[:3]
            attrs = dict(member[3]) if len(member) > 3 else {}
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            data = None
            if kind == "file":
                data = extra or b""
                ti.size = len(data)
                ti.mode = 0o644
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = extra
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = extra
            elif kind in ("chardev", "blockdev"):
                ti.type = (tarfile.CHRTYPE if kind == "chardev"
                           else tarfile.BLKTYPE)
                ti.devmajor, ti.devminor = extra
                ti.mode = 0o666
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
                ti.mode = 0o644
            else:
                raise ValueError(kind)
            ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in
                              attrs.pop("xattrs", {}).items()}
            for k, v in attrs.items():
                setattr(ti, k, v)
            if data is not None:
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return path


def image_layers(image_dir):
    """The image's layer directories, top first (lowerdir order)."""
    with open(os.path.join(image_dir, "image.json")) as f:
        ix = json.load(f)
    return [os.path.realpath(os.path.join(image_dir, l["path"]))
            for l in reversed(ix["layers"])]


def store_entries(store):
    """Names in a layer store (empty when it does not exist)."""
    if not os.path.isdir(store):
        return []
    return sorted(os.listdir(store))
