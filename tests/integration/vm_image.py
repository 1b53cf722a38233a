"""A small VM for the kernel tests: a Debian kernel (tests/vm/cache, from
scripts/vm_kernel.sh) booted by qemu with an initramfs made here of
busybox-static, the project's programs with the shared libraries they
load, the busybox test image and tests/vm/guest_init.sh as /init.

The initramfs is written in the kernel's "newc" cpio format directly, so
no cpio program is needed.
"""

import glob
import os
import re
import selectors
import shutil
import stat
import subprocess
import time

import layerrun_util as lu
import lfstest

CACHE = os.path.join(lfstest.ROOT, "tests", "vm", "cache")
GUEST_INIT = os.path.join(lfstest.ROOT, "tests", "vm", "guest_init.sh")
QEMU = "qemu-system-x86_64"


def find_kernel():
    """(vmlinuz, fuse module or None when built in), or (None, reason).
    LFS_VM_KERNEL names a kernel image to use instead."""
    images = [os.environ["LFS_VM_KERNEL"]] if "LFS_VM_KERNEL" in \
        os.environ else sorted(glob.glob(os.path.join(
            CACHE, "boot", "vmlinuz-*")), reverse=True)
    for image in images:
        ver = os.path.basename(image)[len("vmlinuz-"):]
        top = os.path.dirname(os.path.dirname(image))
        config = os.path.join(top, "boot", "config-" + ver)
        if os.path.exists(config):
            with open(config) as f:
                if "CONFIG_FUSE_FS=y" in f.read():
                    return image, None
        for mod in glob.glob(os.path.join(
                top, "lib", "modules", ver, "kernel", "fs", "fuse",
                "fuse.ko*")):
            if mod.endswith(".ko"):
                return image, mod
    return None, "no kernel in tests/vm/cache (run scripts/vm_kernel.sh " \
        "or make deps)"


def shared_libraries(binary):
    """The files the dynamic loader maps for BINARY, the loader too."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    libs = []
    for line in r.stdout.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


class Cpio:
    """An initramfs archive in the newc format (see the kernel's
    Documentation/driver-api/early-userspace/buffer-format.rst)."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b"", uid=0, gid=0):
        name_b = name.encode() + b"\0"
        fields = (self.ino, mode, uid, gid, 1, 0, len(data), 0, 0, 0, 0,
                  len(name_b), 0)
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08X" % v for v in fields)
        self.out += name_b
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def mkdir(self, path, mode=0o755):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, stat.S_IFDIR | mode)

    def file(self, path, data, mode=0o644):
        self.mkdir(os.path.dirname(path))
        self._entry(path.strip("/"), stat.S_IFREG | mode, data)

    def copy(self, src, dst=None):
        """SRC (symlinks followed) as DST, its mode kept."""
        with open(src, "rb") as f:
            data = f.read()
        self.file(dst or src, data, os.stat(src).st_mode & 0o7777)

    def symlink(self, path, target):
        self.mkdir(os.path.dirname(path))
        self._entry(path.strip("/"), stat.S_IFLNK | 0o777, target.encode())

    def tree(self, src, dst):
        """The directory SRC as DST: directories, files and symlinks."""
        for dirpath, dirnames, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            base = dst if rel == "." else os.path.join(dst, rel)
            self.mkdir(base, os.stat(dirpath).st_mode & 0o7777)
            for n in sorted(dirnames + filenames):
                p = os.path.join(dirpath, n)
                if os.path.islink(p):
                    self.symlink(os.path.join(base, n), os.readlink(p))
                elif os.path.isfile(p):
                    self.copy(p, os.path.join(base, n))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        self.out += b"\0" * (-len(self.out) % 512)
        return bytes(self.out)


def build_initramfs(path, workdir, busybox, fuse_module):
    """Writes the test VM's initramfs to PATH."""
    c = Cpio()
    for d in ("proc", "sys", "dev", "run", "tmp", "root", "home/app"):
        c.mkdir(d)
    c.copy(busybox, "bin/busybox")
    with open(GUEST_INIT, "rb") as f:
        c.file("init", f.read(), 0o755)
    programs = [lfstest.LAYERRUN, lfstest.LAYERFS]
    for p in programs:
        c.copy(p, "lf/bin/" + os.path.basename(p))
    # The setuid id-map helpers (Debian package uidmap), where the host
    # has them, and a subordinate range for the user app: its starts
    # then keep a user namespace (--userns shared) on this kernel too.
    helpers = [h for h in ("/usr/bin/newuidmap", "/usr/bin/newgidmap")
               if os.path.exists(h)]
    for h in helpers:
        c.copy(h)
    if len(helpers) == 2:
        c.file("etc/subuid", b"app:100000:65536\n")
        c.file("etc/subgid", b"app:100000:65536\n")
    for lib in sorted({l for p in programs + helpers
                       for l in shared_libraries(p)}):
        c.copy(lib)
    if fuse_module:
        c.copy(fuse_module, "lib/modules/fuse.ko")
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
           b"app:x:1000:1000:app:/home/app:/bin/sh\n")
    c.file("etc/group", b"root:x:0:\napp:x:1000:\n")
    c.file("etc/hosts", b"127.0.0.1 localhost\n")
    c.file("etc/resolv.conf", b"nameserver 127.0.0.1\n")
    img = os.path.join(workdir, "img")
    lu.write_rootfs(img, busybox)
    c.tree(img, "img")
    with open(path, "wb") as f:
        f.write(c.finish())
    return path


TCG = "tcg,thread=multi"


def default_accel():
    """LFS_VM_ACCEL, else KVM where this machine offers it, software
    emulation elsewhere."""
    if os.environ.get("LFS_VM_ACCEL"):
        return os.environ["LFS_VM_ACCEL"]
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "kvm"
    return TCG


def boot(kernel, initramfs, timeout, first_line_timeout, marker="LFVM ",
         accel=None):
    """Boots the VM and returns (console output, why it was stopped or
    None).  Each console line is echoed to stdout as it comes, so a run
    cut short by a harness's own timeout still shows where the guest was.
    The VM is stopped when no line holding MARKER came within
    FIRST_LINE_TIMEOUT seconds (the kernel never reached the guest's
    init), or when it ran TIMEOUT seconds in all."""
    accel = accel or default_accel()
    # loglevel=4: the kernel's errors (a task hung for 120 s, a lockup)
    # reach the console, where a hang shows them.
    # Without IA32_ARCH_CAPABILITIES: some hosts' KVM (nested or
    # paravirtualised) refuses the value qemu gives it for "max", and
    # qemu then aborts before the guest starts.
    cmd = [QEMU, "-accel", accel, "-smp", "2", "-cpu",
           "max,arch-capabilities=off", "-m", "1024",
           "-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel,
           "-initrd", initramfs, "-append",
           "console=ttyS0 quiet loglevel=4 panic=-1"]
    print("vm| %s" % " ".join(cmd), flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, pending, stopped, seen_marker = [], b"", None, False
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            elapsed = time.monotonic() - start
            if not seen_marker and elapsed > first_line_timeout:
                stopped = "the guest's init printed nothing in %ds" \
                    % first_line_timeout
            elif elapsed > timeout:
                stopped = "the VM ran past %ds" % timeout
            if stopped:
                proc.kill()
                break
            if not sel.select(timeout=1.0):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            pending += chunk
            *done, pending = pending.split(b"\n")
            for raw in done:
                line = raw.decode(errors="replace").rstrip("\r")
                lines.append(line)
                seen_marker = seen_marker or marker in line
                print("vm| %6.1fs %s" % (elapsed, line), flush=True)
    proc.wait()
    proc.stdout.close()
    if pending:
        lines.append(pending.decode(errors="replace"))
    return "\n".join(lines), stopped


def have_qemu():
    return shutil.which(QEMU) is not None
