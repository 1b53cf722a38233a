/*
 * What a mount leaves in its work directory for the next mount and for
 * layertool fsck (lib/workdir.h): the mark of a mount running
 * (workdir/mounted), the mark of index counts known right
 * (workdir/index-checked), and the record of the layers it used
 * (workdir/layers).
 */
#ifndef LFS_WORKDIR_MARKS_H
#define LFS_WORKDIR_MARKS_H

#include "layerfs.h"

/* At mount, once workdir/work is clean and the index open: reads what
 * the last mount left, says on stderr what needs layertool fsck, sets
 * fs->index_counts_trusted, and leaves this mount's marks.  path: the
 * workdir as given, for messages. */
void workdir_marks_open(struct lfs *fs, const char *path);

/* At a clean end: the mark of a mount running goes. */
void workdir_marks_close(struct lfs *fs);

#endif
