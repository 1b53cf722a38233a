#include "removed_dirs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void removed_dirs_init(struct removed_dirs *rd)
{
	rd->v = NULL;
	rd->n = rd->cap = 0;
}

void removed_dirs_free(struct removed_dirs *rd)
{
	for (size_t i = 0; i < rd->n; i++)
		free(rd->v[i].path);
	free(rd->v);
	removed_dirs_init(rd);
}

int removed_dirs_add(struct removed_dirs *rd, const char *path, size_t held)
{
	if (rd->n == rd->cap) {
		size_t nc = rd->cap ? rd->cap * 2 : 16;
		struct removed_dir *nv = realloc(rd->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		rd->v = nv;
		rd->cap = nc;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	rd->v[rd->n++] = (struct removed_dir){ p, held };
	return 0;
}

/* A removal or a held-back entry, in one list sorted by path. */
struct item {
	const char *path;
	size_t seq;      /* removal: entries held before it; entry: its number */
	bool removal;
};

/* Bytewise, but '/' before every other byte: a directory's subtree then
 * follows it without a gap ("a", "a/x", "a/y", "a!", "ab"), which is what
 * the sweep below relies on. */
static int path_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int ca = *a == '/' ? 1 : *a ? (unsigned char)*a + 1 : 0;
		int cb = *b == '/' ? 1 : *b ? (unsigned char)*b + 1 : 0;
		if (ca != cb || !ca)
			return ca - cb;
	}
}

static int item_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int c = path_cmp(a->path, b->path);
	if (c)
		return c;
	/* At the same path, the removal first: it may concern the entry. */
	return (int)b->removal - (int)a->removal;
}

/* Whether PATH is DIR or below it. */
static bool within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

int removed_dirs_mark_gone(const struct removed_dirs *rd,
			   const char *const *paths, size_t n, bool *gone)
{
	for (size_t i = 0; i < n; i++)
		gone[i] = false;
	if (!rd->n || !n)
		return 0;
	size_t total = n + rd->n;
	struct item *items = malloc(total * sizeof(*items));
	/* The removals above the current path, outermost first, each with
	 * the latest moment any of them happened. */
	struct { const char *path; size_t latest; } *stack =
		malloc(rd->n * sizeof(*stack));
	if (!items || !stack) {
		free(items);
		free(stack);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		items[i] = (struct item){ paths[i], i, false };
	for (size_t i = 0; i < rd->n; i++)
		items[n + i] = (struct item){ rd->v[i].path, rd->v[i].held, true };
	qsort(items, total, sizeof(*items), item_cmp);
	size_t depth = 0;
	for (size_t i = 0; i < total; i++) {
		const struct item *it = &items[i];
		while (depth && !within(it->path, stack[depth - 1].path))
			depth--;
		size_t latest = depth ? stack[depth - 1].latest : 0;
		if (it->removal) {
			stack[depth].path = it->path;
			stack[depth].latest = it->seq > latest ? it->seq : latest;
			depth++;
		} else if (latest > it->seq) {
			gone[it->seq] = true;
		}
	}
	free(items);
	free(stack);
	return 0;
}
