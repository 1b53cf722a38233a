/*
 * The whole of layerfs as a function: the layerfs program's main(), and
 * what layerrun runs in a fork of itself for each container (no exec:
 * a new program would start the C library again, a millisecond of every
 * container start in a VM, where its CPU probes trap).
 */
#ifndef LAYERFS_MAIN_H
#define LAYERFS_MAIN_H

/* Parses layerfs's command line (ARGV[0] is its name), mounts, serves
 * until unmounted or signalled, and returns the exit status. */
int layerfs_main(int argc, char **argv);

#endif
