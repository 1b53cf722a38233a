#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *human_size(uint64_t bytes, char buf[32])
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

static void draw(struct progress *p)
{
	uint64_t t = now_ns();
	double secs = (double)(t - p->start_ns) / 1e9;
	char b[32], r[32];
	human_size(p->bytes, b);
	human_size(secs > 0 ? (uint64_t)((double)p->bytes / secs) : 0, r);
	char line[160];
	int n = snprintf(line, sizeof(line),
			 "\r%s: layer %u/%u  %s  %s/s\033[K", p->verb, p->item,
			 p->items, b, r);
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
		p->enabled = false;
	p->last_ns = t;
}

void progress_init(struct progress *p, const char *verb, unsigned items)
{
	memset(p, 0, sizeof(*p));
	p->enabled = isatty(STDERR_FILENO) == 1;
	p->verb = verb;
	p->items = items;
	p->start_ns = now_ns();
}

void progress_item(struct progress *p, unsigned item)
{
	p->item = item;
	if (p->enabled)
		draw(p);
}

void progress_add(struct progress *p, uint64_t bytes)
{
	p->bytes += bytes;
	if (p->enabled && now_ns() - p->last_ns > 200000000u)
		draw(p);
}

void progress_done(struct progress *p)
{
	if (!p->enabled)
		return;
	draw(p);
	const char nl[] = "\n";
	if (write(STDERR_FILENO, nl, 1) < 0)
		p->enabled = false;
	p->enabled = false;
}
