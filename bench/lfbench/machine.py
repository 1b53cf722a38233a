"""A description of the machine a run came from: CPU, cores, memory,
kernel, the filesystem holding the data, and the versions of the tools
that took part."""

import os
import platform
import subprocess

from .impls import dpkg_version

PACKAGES = ("fuse3", "libfuse3-3", "libfuse2", "fuse-overlayfs",
            "unionfs-fuse", "bubblewrap", "podman", "runc", "fio",
            "gnuplot-nox", "coreutils", "findutils", "tar", "grep",
            "debootstrap", "busybox-static")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _fs_of(path):
    r = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS",
                        "-T", path], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "unknown"


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _cgroups():
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2"
    if os.path.isdir("/sys/fs/cgroup/unified"):
        return "v1 hybrid (cgroup2 at /sys/fs/cgroup/unified)"
    return "v1"


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cpuidle():
    """The idle driver matters to FUSE: every request wakes the daemon,
    often on the other CPU, and a halted virtual CPU wakes slowly."""
    base = "/sys/devices/system/cpu/cpuidle/"
    driver = _read(base + "current_driver")
    if driver is None:
        return "unknown"
    out = "%s driver, %s governor" % (
        driver, _read(base + "current_governor_ro") or
        _read(base + "current_governor"))
    poll = _read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    if poll is not None:
        out += ", guest_halt_poll_ns=%s" % poll
    return out


def loadavg():
    """The 1, 5 and 15 minute load averages: on a machine shared with
    other work they tell how much else ran beside the bench."""
    text = _read("/proc/loadavg")
    try:
        return [float(x) for x in text.split()[:3]]
    except (AttributeError, ValueError):
        return None


FUSE_URING_PARAM = "/sys/module/fuse/parameters/enable_uring"


def fuse_uring_state():
    """'on', 'off', or why neither."""
    try:
        with open(FUSE_URING_PARAM) as f:
            return "on" if f.read().strip() in ("Y", "1") else "off"
    except FileNotFoundError:
        return "not in this kernel (Linux 6.14+, CONFIG_FUSE_IO_URING)"
    except OSError as e:
        return "unreadable (%s)" % e.strerror


def set_fuse_uring(want):
    """Sets the fuse module's enable_uring for the run ('on', 'off' or
    'keep'); returns the value to put back, or None."""
    if want == "keep" or not os.path.exists(FUSE_URING_PARAM):
        return None
    try:
        with open(FUSE_URING_PARAM) as f:
            old = f.read().strip()
        with open(FUSE_URING_PARAM, "w") as f:
            f.write("Y" if want == "on" else "N")
        return old
    except OSError:
        return None  # not root: the run says the state it had


def restore_fuse_uring(old):
    if old is not None:
        try:
            with open(FUSE_URING_PARAM, "w") as f:
                f.write(old)
        except OSError:
            pass


def describe(data_dir, scratch_fs=None):
    """The machine; scratch_fs describes the filesystem the workloads
    write to when it is not the data's (scratchfs.py)."""
    return {
        "scratch_filesystem": scratch_fs,
        "fuse_io_uring": fuse_uring_state(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": _mem_total(),
        "kernel": platform.release(),
        "os": _os_release(),
        "cgroups": _cgroups(),
        "cpuidle": _cpuidle(),
        "data_filesystem": _fs_of(data_dir),
        "packages": {p: dpkg_version(p) for p in PACKAGES},
        "python": platform.python_version(),
    }
