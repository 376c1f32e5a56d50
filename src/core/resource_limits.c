/*
 * resource_limits.c — the memory and CPU time this process may use
 * (resource_limits.h).
 *
 * /proc/self/cgroup names the process's group: "0::PATH" under cgroup v2, whose limit
 * is /sys/fs/cgroup/PATH/memory.max ("max": none); "N:memory:PATH" under v1, whose limit
 * is /sys/fs/cgroup/memory/PATH/memory.limit_in_bytes (a huge number: none). A limit
 * set on a group above binds too, and inside a container the group's folder is often
 * the mount's root, so each folder from the group's up to the mount is read, and the
 * smallest limit kept. The CPU quota is read likewise, from cpu.max (v2) or
 * cpu.cfs_quota_us and cpu.cfs_period_us (v1).
 */
#include "resource_limits.h"

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

/* The smaller of two limits, 0 meaning none. */
static double smaller(double a, double b) {
  return b > 0 && (a == 0 || b < a) ? b : a;
}

/* The smallest limit `at` reads in mount/group and each folder above it up to mount
 * itself (a limit set on a parent group binds its children: SLURM sets --mem on the
 * job's group, above the step's and task's), or 0. */
static double path_limit(const char *mount, const char *group,
                         double (*at)(const char *dir, int arg), int arg) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s%s", mount, group);
  double best = 0;
  for (;;) {
    best = smaller(best, at(dir, arg));
    char *slash = strrchr(dir, '/');
    if (!slash || (size_t)(slash - dir) < strlen(mount))
      break;
    *slash = 0; /* the group above (the mount itself last) */
  }
  return best;
}

/* The memory limit in dir: v2 memory.max, v1 memory.limit_in_bytes. */
static double dir_memory(const char *dir, int v2) {
  char path[4400];
  snprintf(path, sizeof path, "%s/%s", dir, v2 ? "memory.max" : "memory.limit_in_bytes");
  return read_limit(path);
}

double r50_memory_limit_bytes(void) {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  double limit = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
  FILE *f = fopen("/proc/self/cgroup", "r");
  char line[4096];
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    if (!strncmp(line, "0::", 3))
      limit = smaller(limit, path_limit("/sys/fs/cgroup", line + 3, dir_memory, 1));
    else if (strstr(line, ":memory:"))
      limit = smaller(limit, path_limit("/sys/fs/cgroup/memory",
                                        strstr(line, ":memory:") + 8, dir_memory, 0));
  }
  if (f)
    fclose(f);
  return limit;
}

/* The quota in CPUs that `dir` sets (v2: cpu.max; v1: cpu.cfs_*), or 0. */
static double dir_quota(const char *dir, int v2) {
  char path[4400], buf[128] = ""; /* (dir: under 4200 bytes) */
  snprintf(path, sizeof path, "%s/%s", dir, v2 ? "cpu.max" : "cpu.cfs_quota_us");
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  const int ok = fgets(buf, sizeof buf, f) != NULL;
  fclose(f);
  double quota = 0, period = 0;
  if (!ok)
    return 0;
  if (v2) { /* "max 100000" (none) or "200000 100000" */
    if (sscanf(buf, "%lf %lf", &quota, &period) != 2)
      return 0;
  } else { /* -1: none */
    quota = strtod(buf, NULL);
    snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
    period = read_limit(path);
  }
  return quota > 0 && period > 0 ? quota / period : 0;
}

/* Whether the v1 controller list `list` (up to ':') names the cpu controller. */
static int names_cpu(const char *list) {
  const char *end = strchr(list, ':');
  for (const char *p = list; end && p < end;) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma ? comma : end;
    if (stop - p == 3 && !strncmp(p, "cpu", 3))
      return 1;
    p = stop + 1;
  }
  return 0;
}

double r50_cpu_quota(void) {
  static const char *const v2_mounts[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
  static const char *const v1_mounts[] = {
      "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu"};
  double best = 0;
  FILE *f = fopen("/proc/self/cgroup", "r");
  char line[4096];
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    const char *ctl = strchr(line, ':');
    const char *group = ctl ? strchr(ctl + 1, ':') : NULL;
    if (!group || group[1] != '/')
      continue;
    const int v2 = !strncmp(line, "0::", 3);
    if (!v2 && !names_cpu(ctl + 1))
      continue;
    const char *const *mounts = v2 ? v2_mounts : v1_mounts;
    const size_t n = v2 ? 2 : 3;
    for (size_t i = 0; i < n; i++) {
      best = smaller(best, path_limit(mounts[i], strcmp(group + 1, "/") ? group + 1 : "",
                                      dir_quota, v2));
    }
  }
  if (f)
    fclose(f);
  return best;
}
