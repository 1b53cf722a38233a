#!/bin/sh
# Runs a command with the fuse module's enable_uring parameter on, so that
# every layerfs daemon it starts takes its requests through io_uring
# (fs/uring.h), and puts the parameter back afterwards.  Without a command
# it runs the integration tests (TESTS= chooses modules).  Needs root and
# a kernel with FUSE over io_uring (Linux 6.14+); elsewhere it says
# skipped.
set -u
PARAM=/sys/module/fuse/parameters/enable_uring
if [ "$(id -u)" -ne 0 ]; then
	echo "check-uring: skipped: needs root to set $PARAM"
	exit 0
fi
if [ ! -e "$PARAM" ]; then
	echo "check-uring: skipped: kernel without FUSE over io_uring"
	exit 0
fi
saved=$(cat "$PARAM")
trap 'echo "$saved" > "$PARAM"' EXIT INT TERM
echo Y >"$PARAM" || exit 1
if [ $# -eq 0 ]; then
	python3 tests/integration/run.py --only "${TESTS:-}"
else
	"$@"
fi
