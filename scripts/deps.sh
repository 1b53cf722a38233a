#!/bin/sh
# Installs the Debian packages layerfs needs to build and to run its tests.
# As root it installs what is missing; otherwise it prints the command.
set -eu

# build: compiler, libfuse3 (low-level API), xxhash, libarchive, json-c,
#        cmocka (unit tests), libcap (layerrun capability sets),
#        libseccomp (the system call numbers of layerrun's seccomp
#        filter, taken at build time),
#        nettle (sha256 digests in layertool; libarchive links it already),
#        zlib (gzip layers in layertool, CRC and length checked;
#        libarchive links it already),
#        liburing (layerfs takes FUSE requests through io_uring rings),
#        musl-tools (the container's init: a 40 KB static program where
#        glibc makes 700 KB, copied and run at every container start)
# run/test: fuse3 (fusermount3, mount.fuse3), busybox-static (test and demo
#        images), python3 (integration tests), attr/acl (xattr and ACL
#        checks), zstd/gzip (archives), libarchive-tools (bsdtar: the
#        import tests read its archives too), util-linux/iproute2/uidmap
#        (namespaces, networking and id maps for layerrun), xfsprogs (an
#        XFS scratch filesystem to test copy-up by reflink)
PKGS="build-essential pkg-config libfuse3-dev fuse3 libxxhash-dev liburing-dev
libarchive-dev libjson-c-dev libcmocka-dev libcap-dev libseccomp-dev nettle-dev
zlib1g-dev
musl-tools
busybox-static python3
attr acl zstd gzip xz-utils tar libarchive-tools util-linux iproute2 uidmap
procps psmisc
kmod e2fsprogs xfsprogs"
# Reliability checks: clang and its runtime (libFuzzer for make fuzz),
# valgrind (make check-valgrind), strace (a signal injected at a chosen
# system call, for the interruption tests of layertool).
CHECKS="clang libclang-rt-14-dev valgrind strace"
# Peers the differential tests and the benchmark compare against.
PEERS="fuse-overlayfs unionfs-fuse bubblewrap fio gnuplot-nox"
# The kernel VM tests (tests/vm/README.md): qemu boots a Debian kernel
# that scripts/vm_kernel.sh unpacks into the tree (not installed).
VMTEST="qemu-system-x86"

missing=""
for p in $PKGS $CHECKS $PEERS $VMTEST; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# The VM tests' kernel; without it they report themselves skipped.
fetch_vm_kernel() {
	sh scripts/vm_kernel.sh ||
		echo "deps: no kernel for the VM tests (they will be skipped)" >&2
}
if [ -z "$missing" ]; then
	echo "deps: everything is installed"
	fetch_vm_kernel
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages; run as root:" >&2
	echo "  apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# An old package list may not know a package: refresh once if needed.
if ! apt-get install -y --no-install-recommends $missing; then
	apt-get update
	apt-get install -y --no-install-recommends $missing
fi
fetch_vm_kernel
