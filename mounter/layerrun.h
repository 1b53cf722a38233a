/*
 * layerrun: exit statuses and limits shared by every command.
 */
#ifndef LR_LAYERRUN_H
#define LR_LAYERRUN_H

/* Statuses of ps, kill, logs, rm and commit's own failures. */
#define LR_EXIT_OK 0
#define LR_EXIT_FAIL 1
#define LR_EXIT_USAGE 2

/* run and exec return the command's status; these three are their own,
 * the values docker and podman use, so scripts can tell them apart. */
#define LR_EXIT_SETUP 125     /* layerrun could not start the container */
#define LR_EXIT_CANNOT_EXEC 126 /* the command exists but cannot run */
#define LR_EXIT_NOT_FOUND 127 /* the command does not exist */

#define LR_NAME_MAX 64

#endif
