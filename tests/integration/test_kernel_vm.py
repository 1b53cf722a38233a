#!/usr/bin/env python3
"""layerrun on a second, real kernel: a Debian kernel booted in qemu.

This machine's kernel leaves parts of layerrun without a kernel to run
on: its cgroup v2 tree has no controllers (all are bound to v1) and it
has no kernel.unprivileged_userns_clone switch.  The VM has both, and an
initramfs root, which pivot_root cannot leave.  tests/vm/guest_init.sh
runs the checks inside (as root and as an unprivileged user with a
delegated cgroup, like a systemd scope) and prints one line per check;
each test here asserts one of them.  One boot serves the whole class
(about 20 seconds under software emulation).  qemu runs the guest
without IA32_ARCH_CAPABILITIES, which some hosts' KVM refuses.
"""

import os
import re
import shutil
import tempfile
import unittest

import layerrun_util as lu
import lfstest
import vm_image

# A run takes about 20 s.  A check that hangs is ended by the guest's own
# watchdog (60 s for phase 1, 150 s for phase 2, guest_init.sh), which
# lists the processes first: that fails, as it should.  A VM the host
# has to stop (its kernel never started init, or the whole guest froze,
# so that even the watchdog did not fire) is the emulator's doing, and
# is booted once more.  Two boots stay under run.py's 600 s a module.
BOOT_TIMEOUT = int(os.environ.get("LFS_VM_TIMEOUT", "250"))
INIT_TIMEOUT = 120
KVM_INIT_TIMEOUT = 45


class KernelVmTests(unittest.TestCase):
    results = {}
    console = ""
    skip_reason = None
    stopped = None

    @classmethod
    def setUpClass(cls):
        kernel, module = vm_image.find_kernel()
        busybox = lu.find_busybox()
        if not vm_image.have_qemu():
            cls.skip_reason = "qemu-system-x86_64 is not installed " \
                "(apt-get install qemu-system-x86)"
        elif kernel is None:
            cls.skip_reason = module
        elif busybox is None:
            cls.skip_reason = "no static busybox (busybox-static)"
        elif not os.path.exists(lu.PAYLOAD):
            cls.skip_reason = "the test payload is not built (make test)"
        if cls.skip_reason:
            return
        work = tempfile.mkdtemp(prefix=lfstest.TMP_PREFIX + "vm-")
        try:
            initrd = vm_image.build_initramfs(
                os.path.join(work, "initrd"), work, busybox, module)
            accel = vm_image.default_accel()
            # Where KVM works the guest's init speaks within seconds;
            # some hosts offer a /dev/kvm that never gets a nested guest
            # that far, and emulation (about 20 s here) is tried next.
            first = KVM_INIT_TIMEOUT if accel == "kvm" else INIT_TIMEOUT
            cls.console, stopped = vm_image.boot(kernel, initrd,
                                                 BOOT_TIMEOUT, first,
                                                 accel=accel)
            if stopped and "LFVM watchdog" not in cls.console:
                again = vm_image.TCG if accel == "kvm" else accel
                # run.py shows notes of modules that pass too.
                tail = " | ".join(cls.console.splitlines()[-12:])
                print("vm| %s; booting once more (%s)" % (stopped, again),
                      flush=True)
                print("@@note first boot (%s): %s; booted once more (%s); "
                      "its console ended: %s" % (accel, stopped, again,
                                                 tail), flush=True)
                cls.console, stopped = vm_image.boot(
                    kernel, initrd, BOOT_TIMEOUT, INIT_TIMEOUT,
                    accel=again)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        cls.stopped = stopped
        # The first line follows the firmware's terminal escapes.
        for line in cls.console.splitlines():
            m = re.search(r"LFVM (\S+)(?: (\S+))?(?: (.*))?$", line.strip())
            if m:
                cls.results[m.group(1)] = (m.group(2) or "",
                                           m.group(3) or "")

    def result(self, name):
        if self.skip_reason:
            self.skipTest(self.skip_reason)
        if name not in self.results:
            tail = "\n".join(self.console.splitlines()[-30:])
            self.fail("the VM printed no result for %s%s; console tail:\n%s"
                      % (name, " (%s)" % self.stopped if self.stopped
                         else "", tail))
        status, detail = self.results[name]
        if status == "skip":
            self.skipTest(detail)
        self.assertEqual(status, "ok", detail.replace("|", "\n"))

    def test_vm_ran_to_the_end(self):
        self.result("cgroup2_controllers")
        if "done" not in self.results:
            self.fail("the VM did not finish its checks")
        for c in ("memory", "pids", "cpu", "cpuset"):
            self.assertIn(c, self.results["cgroup2_controllers"][1].split())

    def test_chroot_fallback_on_initramfs(self):
        self.result("chroot_fallback_on_initramfs")

    def test_v2_memory_limit_root(self):
        self.result("v2_memory_root")
        self.result("v2_memory_root_control")

    def test_v2_pids_limit_root(self):
        self.result("v2_pids_root")

    def test_v2_cpu_and_cpuset_root(self):
        self.result("v2_cpu_root")
        self.result("v2_container_cgroup_removed")

    def test_v2_exec_joins_the_container_cgroup(self):
        self.result("v2_exec_joins_the_cgroup")

    def test_rootless_runs(self):
        self.result("rootless_runs")

    def test_rootless_shared_userns_in_a_delegated_scope(self):
        self.result("rootless_shared_userns")

    def test_v2_memory_limit_rootless_delegated(self):
        self.result("v2_memory_rootless_delegated")
        self.result("v2_launcher_moved_to_own_leaf")

    def test_v2_pids_limit_rootless_delegated(self):
        self.result("v2_pids_rootless_delegated")

    def test_v2_detached_rootless_leaves_the_scope(self):
        self.result("v2_detached_rootless")

    def test_v2_not_delegated_names_the_fix(self):
        self.result("v2_not_delegated_names_the_fix")

    def test_v2_busy_cgroup_names_the_fix(self):
        self.result("v2_busy_cgroup_names_the_fix")

    def test_max_user_namespaces_zero_names_the_fix(self):
        self.result("max_user_namespaces_zero_names_the_fix")

    def test_userns_clone_disabled_names_the_fix(self):
        self.result("userns_clone_disabled_names_the_fix")

    def test_apparmor_restriction_names_the_fix(self):
        self.result("apparmor_restriction_names_the_fix")


if __name__ == "__main__":
    lfstest.main()
