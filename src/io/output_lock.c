/*
 * output_lock.c — the lock file beside an output (see output_lock.h).
 *
 * Contents, one "key=value" per line: host, pid, start (the process start time from
 * /proc/PID/stat, so a recycled pid is not taken for the holder), slurm_job, since;
 * then, once the holder's set-up is over, work ("DONE TOTAL UNIX_TIME": the units done
 * of all, when it began the rest), appended in one write. A line counts only once its
 * newline is there, so a reader never takes half a number for the whole.
 * Taking over a stale lock re-reads it just before removing it and only removes it
 * if it still names the same holder, so a lock another job has just taken is left.
 */
#include "output_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

#define BEAT_SECONDS 30

typedef struct holder {
  char host[256];
  long pid;
  unsigned long long start;
  char slurm_job[64];
  long long since;
  int has_work;
  long long work_done, work_total;
  double work_began;
} holder;

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot), or 0; *zombie
 * set when the process has exited and waits to be reaped. */
static unsigned long long proc_start_state(long pid, int *zombie) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  if (!p)
    return 0;
  if (zombie)
    *zombie = p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
  unsigned long long v = 0;
  for (int field = 2; *p && field < 22; p++)
    if (*p == ' ')
      field++;
  sscanf(p, "%llu", &v);
  return v;
}

static unsigned long long proc_start(long pid) {
  return proc_start_state(pid, NULL);
}

/* A process of this host that is alive: not gone, not a zombie, the same start time. */
static int alive_here(long pid, unsigned long long start) {
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
    return 0;
  int zombie = 0;
  unsigned long long st = proc_start_state(pid, &zombie);
  return !zombie && !(start && st != start);
}

static void my_host(char *buf, size_t cap) {
  if (gethostname(buf, cap - 1) != 0)
    snprintf(buf, cap, "?");
  buf[cap - 1] = 0;
}

static int read_holder(const char *path, holder *h) {
  memset(h, 0, sizeof *h);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  char line[512];
  int fields = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strchr(line, '\n'))
      break; /* being written */
    line[strcspn(line, "\n")] = 0;
    if (!strncmp(line, "host=", 5))
      r50_utf8_copy(h->host, sizeof h->host, line + 5), fields += h->host[0] != 0;
    else if (!strncmp(line, "pid=", 4))
      fields += sscanf(line + 4, "%ld", &h->pid) == 1;
    else if (!strncmp(line, "start=", 6))
      fields += sscanf(line + 6, "%llu", &h->start) == 1;
    else if (!strncmp(line, "slurm_job=", 10))
      r50_utf8_copy(h->slurm_job, sizeof h->slurm_job, line + 10);
    else if (!strncmp(line, "since=", 6))
      sscanf(line + 6, "%lld", &h->since);
    else if (!strncmp(line, "work=", 5))
      h->has_work = sscanf(line + 5, "%lld %lld %lf", &h->work_done, &h->work_total,
                           &h->work_began) == 3 &&
                    h->work_done >= 0 && h->work_total >= h->work_done &&
                    h->work_began > 0;
  }
  fclose(f);
  return fields == 3;
}

static int same_holder(const holder *a, const holder *b) {
  return !strcmp(a->host, b->host) && a->pid == b->pid && a->start == b->start;
}

/* Why the lock's holder is gone (into why), or 0 if it may be alive. taking: this
 * process would take the lock over, so a holder on this host that is going gets a
 * moment to go, and an earlier run of this process's own SLURM job counts as gone (a
 * mere look, from inside the job that holds the lock, must not think so). */
static int holder_gone(const char *path, const holder *h, int parsed, int taking,
                       char *why, size_t cap) {
  char host[256];
  my_host(host, sizeof host);
  const char *job = getenv("SLURM_JOB_ID");
  struct stat st;
  double age = stat(path, &st) == 0 ? difftime(time(NULL), st.st_mtime) : 0;
  const char *e = getenv("R50_LOCK_STALE_SECONDS");
  double stale_after = e && *e ? atof(e) : 600;
  if (!parsed) {
    if (age > 60) { /* a holder writes its lock at once: this one was torn */
      snprintf(why, cap, "unreadable lock, %.0f s old", age);
      return 1;
    }
    return 0;
  }
  if (!strcmp(h->host, host)) {
    /* a job that was just killed may take a moment to go: wait a little for it */
    for (int i = 0; taking && i < 50 && alive_here(h->pid, h->start); i++)
      usleep(100000);
    if (!alive_here(h->pid, h->start)) {
      snprintf(why, cap, "pid %ld on this host is gone", h->pid);
      return 1;
    }
    return 0;
  }
  if (taking && job && *job && !strcmp(job, h->slurm_job)) {
    snprintf(why, cap, "an earlier run of this SLURM job %s", job);
    return 1;
  }
  if (age > stale_after) {
    snprintf(why, cap, "no heartbeat from host %s for %.0f s", h->host, age);
    return 1;
  }
  return 0;
}

static void *heartbeat(void *arg) {
  r50_output_lock *l = arg;
  pthread_mutex_lock(&l->mu);
  while (!l->stop) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += BEAT_SECONDS;
    pthread_cond_timedwait(&l->cv, &l->mu, &t);
    if (!l->stop)
      futimens(l->fd, NULL);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

static r50_status write_lock(r50_output_lock *l, int fd, r50_error *err) {
  char host[256], text[800];
  my_host(host, sizeof host);
  const char *job = getenv("SLURM_JOB_ID");
  long pid = (long)getpid();
  int n = snprintf(text, sizeof text,
                   "r50worker output lock\nhost=%s\npid=%ld\nstart=%llu\nslurm_job=%s\n"
                   "since=%lld\n",
                   host, pid, proc_start(pid), job ? job : "", (long long)time(NULL));
  if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
    r50_status s = r50_fail(err, R50_ERR_IO, "cannot write the lock %s: %s", l->path,
                            strerror(errno));
    close(fd);
    unlink(l->path);
    return s;
  }
  l->fd = fd;
  l->stop = 0;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  l->beating = pthread_create(&l->beat, NULL, heartbeat, l) == 0;
  return R50_OK;
}

/* "2026-12-05 20:04:42 UTC", or "?" */
static void utc_time(long long t, char *buf, size_t cap) {
  time_t tt = (time_t)t;
  struct tm tm;
  snprintf(buf, cap, "?");
  if (t && gmtime_r(&tt, &tm))
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void r50_lock_describe(const char *lock_path, r50_lock_info *li) {
  memset(li, 0, sizeof *li);
  struct stat st;
  if (stat(lock_path, &st) != 0)
    return;
  holder h;
  int parsed = read_holder(lock_path, &h);
  li->age = difftime(time(NULL), st.st_mtime);
  if (parsed) {
    snprintf(li->host, sizeof li->host, "%s", h.host);
    snprintf(li->slurm_job, sizeof li->slurm_job, "%s", h.slurm_job);
    li->pid = h.pid, li->since = h.since;
    li->has_work = h.has_work;
    li->work_done = h.work_done, li->work_total = h.work_total;
    li->work_began = h.work_began;
  }
  char why[300];
  if (holder_gone(lock_path, &h, parsed, 0, why, sizeof why)) {
    li->state = R50_LOCK_STALE;
    snprintf(li->desc, sizeof li->desc, "%s", why);
    return;
  }
  li->state = R50_LOCK_HELD;
  if (!parsed) {
    snprintf(li->desc, sizeof li->desc, "its lock %s is being written", lock_path);
    return;
  }
  char since[64];
  utc_time(h.since, since, sizeof since);
  snprintf(li->desc, sizeof li->desc,
           "pid %ld on host %s%s%s, since %s, heartbeat %.0f s ago", h.pid, h.host,
           h.slurm_job[0] ? ", SLURM job " : "", h.slurm_job, since, li->age);
}

static r50_status refuse(const char *output, const r50_output_lock *l, const holder *h,
                         int parsed, r50_error *err) {
  if (!parsed)
    return r50_fail(err, R50_ERR_ARG,
                    "%s is locked by another r50worker job (lock %s is being written); "
                    "wait for that job, or remove the lock if no job writes %s",
                    output, l->path, output);
  char since[64];
  utc_time(h->since, since, sizeof since);
  return r50_fail(err, R50_ERR_ARG,
                  "%s is being written by another r50worker job (pid %ld on host %s%s%s, "
                  "since %s; lock %s): wait for it to finish, or if that job is dead "
                  "remove the lock",
                  output, h->pid, h->host, h->slurm_job[0] ? ", SLURM job " : "",
                  h->slurm_job, since, l->path);
}

/* Why the output's folder took no new file: ENOENT names a missing folder only when
 * the folder is missing (a pseudo file system such as /proc says ENOENT too). */
static r50_status folder_refuses(const char *output, int e, r50_error *err) {
  const char *why = e == EACCES  ? " is not writable by this user"
                    : e == EROFS ? " is on a read-only file system"
                                 : " does not exist: create it first";
  if (e == ENOENT) {
    char folder[4096];
    const char *slash = strrchr(output, '/');
    size_t n = !slash ? 0 : slash == output ? 1 : (size_t)(slash - output);
    struct stat st;
    if (n < sizeof folder) {
      memcpy(folder, slash ? output : ".", n ? n : 1);
      folder[n ? n : 1] = '\0';
      if (stat(folder, &st) == 0 && S_ISDIR(st.st_mode))
        why = " exists but takes no new files";
    }
  }
  return r50_fail(err, R50_ERR_IO, "cannot write %s: %s (its folder%s)", output,
                  strerror(e), why);
}

r50_status r50_output_lock_take(const char *output, r50_output_lock *l, r50_error *err) {
  memset(l, 0, sizeof *l);
  l->fd = -1;
  if (snprintf(l->path, sizeof l->path, "%s.lock", output) >= (int)sizeof l->path)
    return r50_fail(err, R50_ERR_ARG, "%s: path too long", output);
  for (int attempt = 0; attempt < 3; attempt++) {
    int fd = open(l->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0)
      return write_lock(l, fd, err);
    if (errno == ENOENT || errno == EACCES || errno == EROFS) /* the output's folder */
      return folder_refuses(output, errno, err);
    if (errno != EEXIST)
      return r50_fail(err, R50_ERR_IO, "cannot create the lock %s: %s", l->path,
                      strerror(errno));
    holder h, again;
    int parsed = read_holder(l->path, &h);
    char why[300];
    if (!holder_gone(l->path, &h, parsed, 1, why, sizeof why))
      return refuse(output, l, &h, parsed, err);
    int still = read_holder(l->path, &again);
    if (still != parsed || (parsed && !same_holder(&h, &again)))
      continue; /* another job took it meanwhile: look again */
    r50_log(R50_LOG_WARN, "removing the stale lock %s (%s)", l->path, why);
    if (unlink(l->path) != 0 && errno != ENOENT)
      return r50_fail(err, R50_ERR_IO, "cannot remove the stale lock %s: %s", l->path,
                      strerror(errno));
  }
  return r50_fail(err, R50_ERR_ARG,
                  "%s: its lock %s keeps changing hands; is another job "
                  "starting on it?",
                  output, l->path);
}

void r50_output_lock_note_work(r50_output_lock *l, long long done, long long total) {
  if (!l || l->fd < 0)
    return;
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  char line[96];
  int n = snprintf(line, sizeof line, "work=%lld %lld %.3f\n", done, total,
                   (double)t.tv_sec + 1e-9 * (double)t.tv_nsec);
  off_t end = lseek(l->fd, 0, SEEK_END);
  if (end < 0 || pwrite(l->fd, line, (size_t)n, end) != n)
    r50_log(R50_LOG_WARN,
            "cannot note the work's start in the lock %s: %s (status "
            "will not show this job's rate)",
            l->path, strerror(errno));
}

void r50_output_lock_release(r50_output_lock *l) {
  if (!l || l->fd < 0)
    return;
  if (l->beating) {
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->beat, NULL);
  }
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  unlink(l->path);
  close(l->fd);
  l->fd = -1;
}
