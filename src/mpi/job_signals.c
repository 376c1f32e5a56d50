/*
 * job_signals.c — the stop signals of the job drivers (job_signals.h).
 */
#include "job_signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_signal; /* the signal that asked this rank to stop */

static void on_signal(int sig) {
  if (!g_signal)
    g_signal = sig;
}

void r50_job_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL); /* the terminal went away (an ssh session dropped) */
}

int r50_job_signal(void) {
  return g_signal;
}

int r50_job_stop_requested(void *user) {
  (void)user;
  return g_signal != 0;
}

const char *r50_job_signal_name(int sig) {
  switch (sig) {
  case SIGINT: return "SIGINT";
  case SIGTERM: return "SIGTERM";
  case SIGUSR1: return "SIGUSR1";
  case SIGHUP: return "SIGHUP";
  }
  return "a signal";
}
