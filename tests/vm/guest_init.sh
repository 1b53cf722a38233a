#!/bin/busybox sh
# PID 1 of the kernel test VM (tests/integration/test_kernel_vm.py).
#
# The host's kernel has cgroup v2 without controllers (they are all bound
# to v1) and no kernel.unprivileged_userns_clone; a Debian kernel booted
# here has both, so the paths of layerrun that depend on them run against
# a real kernel.  Each check prints one line on the console:
#   LFVM <name> ok|fail <details, newlines as '|'>
# and the host turns each line into a test result.  "LFVM done" ends.
#
# Phase 1 runs on the initramfs itself (rootfs, which pivot_root cannot
# leave); phase 2 runs after switch_root onto a tmpfs, as a real system.

/bin/busybox --install -s /bin
export PATH=/lf/bin:/bin
export HOME=/root

report() {
	echo "LFVM $1 $2 $(printf '%s' "$3" | tr '\n' '|')"
}

# check NAME COND DETAILS: ok when the shell condition COND holds.
check() {
	if eval "$2"; then report "$1" ok "$3"; else report "$1" fail "$3"; fi
}

# check_refused NAME TEXT: the start just made ($rc, $err) was refused
# with exit 125 and one line of error containing TEXT.
check_refused() {
	want=$2
	check "$1" '[ $rc = 125 ] && [ $(echo "$err" | wc -l) = 1 ] &&
		echo "$err" | grep -q -- "$want"' "rc=$rc err=$err"
}

# watchdog SECONDS: when a check hangs, the host would only see the VM
# stop at its own timeout.  After SECONDS this shows every process with
# the kernel function it waits in, and ends the VM.  It writes to init's
# own console, which holds no mount busy (/dev is unmounted before
# switch_root); $! is its pid.
watchdog() {
	(
		# Its sleep must end with it: a sleep left behind would hold
		# the console open.
		sleep "$1" &
		trap "kill $!; exit" TERM
		wait
		report watchdog fail "phase still running after $1 s"
		for p in /proc/[0-9]*; do
			cmd=$(tr '\0' ' ' <$p/cmdline 2>/dev/null)
			[ -n "$cmd" ] || continue	# a kernel thread
			echo "lfvm: ${p#/proc/} $(cut -d' ' -f3 $p/stat)" \
				"wchan=$(cat $p/wchan) $cmd"
		done 2>/dev/null
		poweroff -f
	) &
}

mount_basics() {
	mount -t proc proc /proc
	mount -t sysfs sys /sys
	mount -t devtmpfs dev /dev
	mkdir -p /dev/pts /dev/shm /run /tmp
	mount -t devpts devpts /dev/pts
	chmod 1777 /tmp
	chown 1000:1000 /home/app
	# Built in on some kernels, a module on Debian's.
	[ -e /dev/fuse ] || insmod /lib/modules/fuse.ko
	chmod 0666 /dev/fuse
}

# new_scope NAME: a fresh cgroup delegated to the user app, as systemd
# makes one for 'systemd-run --user --scope -p Delegate=yes'.
new_scope() {
	mkdir /sys/fs/cgroup/$1
	for f in . cgroup.procs cgroup.subtree_control cgroup.threads; do
		chown 1000:1000 /sys/fs/cgroup/$1/$f
	done
}

# end_keeper: ends the user app's kept user namespace (its keeper), so
# that the next start makes a user namespace again.
end_keeper() {
	k=$(cut -d' ' -f1 /tmp/layerrun-1000/.userns 2>/dev/null)
	[ -n "$k" ] || return 0
	kill "$k" 2>/dev/null
	while [ -d /proc/$k ] && ! grep -q '^State:.*Z' /proc/$k/status 2>/dev/null; do
		sleep 1
	done
}

# as_app CGROUP COMMAND: runs COMMAND as the unprivileged user app, its
# shell moved into CGROUP first (by root, who may move it).  COMMAND
# starts with exec where it is one program, so that program is all the
# cgroup holds, as in a scope made for it.
as_app() {
	sh -c "echo \$\$ > /sys/fs/cgroup/$1/cgroup.procs && \
	       exec su app -s /bin/sh -c '$2'"
}

phase1() {
	mount_basics
	watchdog 60
	dog=$!
	out=$(layerrun run --rm --lower /img /bin/sh -c \
		'echo inside; cat /etc/motd' 2>/tmp/err)
	rc=$?
	err=$(cat /tmp/err)
	check chroot_fallback_on_initramfs \
		'[ $rc = 0 ] && [ "$out" = "inside
from the image" ] && echo "$err" | grep -q chroot' \
		"rc=$rc out=$out err=$err"

	# Everything onto a tmpfs, then switch_root: phase 2 is PID 1 of a
	# root that pivot_root can leave.
	mkdir /newroot
	mount -t tmpfs -o mode=0755 root /newroot
	for d in bin etc home img lf lib lib64 root usr init; do
		[ -e /$d ] && cp -a /$d /newroot/
	done
	mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp
	kill "$dog"
	wait "$dog"
	# Unguarded until phase 2's watchdog: say where the guest is.
	echo "lfvm: phase 1 done, switching root"
	umount /dev/pts /dev /sys /proc
	exec switch_root /newroot /init phase2
}

phase2() {
	echo "lfvm: phase 2"
	mount_basics
	watchdog 150
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
	report cgroup2_controllers ok "$(cat /sys/fs/cgroup/cgroup.controllers)"

	# -- root: the limits through v2 -------------------------------------
	out=$(layerrun run --rm --memory 32m --lower /img \
		lrpayload memhog 256 2>&1)
	rc=$?
	check v2_memory_root '[ $rc = 137 ] && ! echo "$out" | grep -q done' \
		"rc=$rc out=$out"
	out=$(layerrun run --rm --lower /img lrpayload memhog 64 2>&1)
	check v2_memory_root_control '[ "$out" = done ]' "out=$out"

	out=$(layerrun run --rm --pids-limit 5 --lower /img sh -c \
		'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; kill $(jobs -p); echo end' 2>&1)
	check v2_pids_root 'echo "$out" | grep -q "can.t fork"' "out=$out"

	layerrun run -d --name spin --cpus 0.5 --cpuset-cpus 0 --lower /img \
		sh -c 'while :; do :; done' >/tmp/out 2>&1
	rc=$?
	sleep 2
	cg=$(ls -d /sys/fs/cgroup/layerrun/spin.* 2>/dev/null | head -n 1)
	max=$(cat "$cg/cpu.max" 2>&1)
	cpus=$(cat "$cg/cpuset.cpus" 2>&1)
	thr=$(grep nr_throttled "$cg/cpu.stat" 2>&1 | cut -d' ' -f2)
	inside=$(layerrun exec spin cat /proc/self/cgroup 2>&1)
	check v2_exec_joins_the_cgroup '[ "$inside" = "0::/" ]' \
		"cgroup seen by exec: $inside"
	layerrun kill spin KILL >/dev/null 2>&1
	sleep 1
	layerrun rm spin >/dev/null 2>&1
	check v2_cpu_root \
		'[ $rc = 0 ] && [ "$max" = "50000 100000" ] && [ "$cpus" = 0 ] && [ "${thr:-0}" -gt 0 ]' \
		"rc=$rc cg=$cg cpu.max=$max cpuset.cpus=$cpus nr_throttled=$thr $(cat /tmp/out)"
	check v2_container_cgroup_removed '[ ! -e "$cg" ]' "cg=$cg"

	# -- rootless: a delegated cgroup, as systemd makes one --------------
	echo "+memory +pids +cpu +cpuset" > /sys/fs/cgroup/cgroup.subtree_control
	mkdir /sys/fs/cgroup/app-other

	# The kept user namespace (a subordinate range): made by the first
	# start, with the helpers, its keeper in the launcher's own leaf of
	# the delegated scope; joined by the next start, with no helper.
	if [ -s /etc/subuid ]; then
		new_scope scope0
		first=$(as_app scope0 'exec layerrun run --rm --pids-limit 64 --lower /img sh -c "wc -l < /proc/self/uid_map; readlink /proc/self/ns/user"' 2>&1)
		new_scope scope0b
		second=$(as_app scope0b 'exec layerrun run --rm --pids-limit 64 --lower /img readlink /proc/self/ns/user' 2>&1)
		k=$(cut -d' ' -f1 /tmp/layerrun-1000/.userns 2>/dev/null)
		kns=$(readlink /proc/$k/ns/user 2>&1)
		kcg=$(cat /proc/$k/cgroup 2>&1)
		check rootless_shared_userns \
			'[ "$first" = "2
$kns" ] && [ "$second" = "$kns" ] && [ "$kcg" = 0::/scope0/layerrun.launchers ]' \
			"first=$first second=$second keeper=$k ns=$kns cgroup=$kcg"
		end_keeper
	else
		report rootless_shared_userns skip \
			"no newuidmap/newgidmap on the host to copy into the guest"
	fi

	new_scope scope1
	out=$(as_app scope1 'exec layerrun run --rm --lower /img sh -c "id -u; cat /etc/motd"' 2>&1)
	check rootless_runs '[ "$out" = "0
from the image" ]' "out=$out"

	new_scope scope2
	out=$(as_app scope2 'exec layerrun run --rm --memory 32m --lower /img lrpayload memhog 256' 2>&1)
	rc=$?
	check v2_memory_rootless_delegated \
		'[ $rc = 137 ] && ! echo "$out" | grep -q done' "rc=$rc out=$out"
	check v2_launcher_moved_to_own_leaf \
		'[ -d /sys/fs/cgroup/scope2/layerrun.launchers ]' \
		"$(ls /sys/fs/cgroup/scope2)"

	new_scope scope3
	out=$(as_app scope3 'exec layerrun run --rm --pids-limit 5 --lower /img sh -c "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; kill \$(jobs -p); echo end"' 2>&1)
	check v2_pids_rootless_delegated 'echo "$out" | grep -q "can.t fork"' \
		"out=$out"

	err=$(as_app app-other 'exec layerrun run --rm --memory 32m --lower /img true' 2>&1)
	rc=$?
	check_refused v2_not_delegated_names_the_fix "not delegated.*Delegate=yes"

	# -d: the waiting launcher and its monitor both leave the scope.
	new_scope scope5
	out=$(as_app scope5 'exec layerrun run -d --name bg --memory 32m --lower /img sleep 2' 2>&1)
	rc=$?
	procs=$(cat /sys/fs/cgroup/scope5/cgroup.procs)
	mem=$(cat /sys/fs/cgroup/scope5/layerrun/bg.*/memory.max 2>&1)
	sleep 3
	su app -s /bin/sh -c 'layerrun rm bg' >/dev/null 2>&1
	check v2_detached_rootless \
		'[ $rc = 0 ] && [ -z "$procs" ] && [ "$mem" = 33554432 ]' \
		"rc=$rc out=$out procs left in the scope=$procs memory.max=$mem"

	# A cgroup holding another process of the user: not ours to move.
	new_scope scope4
	err=$(as_app scope4 'sleep 30 & layerrun run --rm --memory 32m --lower /img true; r=$?; kill $!; exit $r' 2>&1)
	rc=$?
	check_refused v2_busy_cgroup_names_the_fix "processes other than layerrun"

	# -- rootless: user namespaces switched off ---------------------------
	# A running keeper would be joined: no namespace would be made.
	end_keeper
	old=$(cat /proc/sys/user/max_user_namespaces)
	echo 0 > /proc/sys/user/max_user_namespaces
	err=$(as_app app-other 'exec layerrun run --rm --lower /img true' 2>&1)
	rc=$?
	echo "$old" > /proc/sys/user/max_user_namespaces
	check_refused max_user_namespaces_zero_names_the_fix \
		"user.max_user_namespaces=0.*sysctl -w user.max_user_namespaces="

	if [ -e /proc/sys/kernel/unprivileged_userns_clone ]; then
		echo 0 > /proc/sys/kernel/unprivileged_userns_clone
		err=$(as_app app-other 'exec layerrun run --rm --lower /img true' 2>&1)
		rc=$?
		echo 1 > /proc/sys/kernel/unprivileged_userns_clone
		check_refused userns_clone_disabled_names_the_fix \
			"sysctl -w kernel.unprivileged_userns_clone=1"

		# Ubuntu's kernels refuse through AppArmor instead, a switch
		# Debian's lacks: the refusal here is real (Debian's switch
		# off), the sysctls are files on a tmpfs over /proc/sys/kernel
		# reading as such a kernel's would.
		echo 0 > /proc/sys/kernel/unprivileged_userns_clone
		mount -t tmpfs ubuntu-like /proc/sys/kernel
		echo 1 > /proc/sys/kernel/apparmor_restrict_unprivileged_userns
		echo 1 > /proc/sys/kernel/unprivileged_userns_clone
		err=$(as_app app-other 'exec layerrun run --rm --lower /img true' 2>&1)
		rc=$?
		umount /proc/sys/kernel
		echo 1 > /proc/sys/kernel/unprivileged_userns_clone
		check_refused apparmor_restriction_names_the_fix \
			"AppArmor restricts.*apparmor_restrict_unprivileged_userns=1"
	else
		report userns_clone_disabled_names_the_fix skip \
			"this kernel has no kernel.unprivileged_userns_clone"
		report apparmor_restriction_names_the_fix skip \
			"this kernel has no kernel.unprivileged_userns_clone"
	fi
}

if [ "$1" = phase2 ]; then
	phase2
	echo "LFVM done"
	sync
	poweroff -f
else
	phase1
fi
echo "LFVM done"
poweroff -f
