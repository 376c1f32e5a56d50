/*
 * memory_limit.c — the memory this process may use (memory_limit.h).
 *
 * /proc/self/cgroup names the process's group: "0::PATH" under cgroup v2, whose limit
 * is /sys/fs/cgroup/PATH/memory.max ("max": none); "N:memory:PATH" under v1, whose limit
 * is /sys/fs/cgroup/memory/PATH/memory.limit_in_bytes (a huge number: none). Inside a
 * container the group's folder is often the mount's root instead, so that is read too.
 */
#include "memory_limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The number in file `path` (bytes), or 0 when it is absent, "max" or unreadable. */
static double read_limit(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  char buf[64] = "";
  const int ok = fgets(buf, sizeof buf, f) != NULL;
  fclose(f);
  char *end;
  const double v = ok ? strtod(buf, &end) : 0;
  return ok && end != buf && v > 0 ? v : 0;
}

/* The group's limit: the smaller of the file under the group's path and at the root. */
static double group_limit(const char *mount, const char *group, const char *file) {
  char path[4200];
  double best = 0;
  for (int root = 0; root < 2; root++) {
    snprintf(path, sizeof path, "%s%s/%s", mount, root ? "" : group, file);
    const double v = read_limit(path);
    best = v > 0 && (best == 0 || v < best) ? v : best;
  }
  return best;
}

double r50_memory_limit_bytes(void) {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  double limit = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
  FILE *f = fopen("/proc/self/cgroup", "r");
  char line[4096];
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    double v = 0;
    if (!strncmp(line, "0::", 3))
      v = group_limit("/sys/fs/cgroup", line + 3, "memory.max");
    else if (strstr(line, ":memory:"))
      v = group_limit("/sys/fs/cgroup/memory", strstr(line, ":memory:") + 8,
                      "memory.limit_in_bytes");
    if (v > 0 && (limit == 0 || v < limit))
      limit = v;
  }
  if (f)
    fclose(f);
  return limit;
}
