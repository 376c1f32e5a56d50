/*
 * job_signals.h — how a job hears SIGTERM, SIGINT, SIGUSR1 and SIGHUP (a closed
 * terminal, as SIGTERM): the first one is
 * remembered and the job stops at its next step boundary (a batch, a training step);
 * a second of the same kind ends the process at once.
 */
#ifndef R50_JOB_SIGNALS_H
#define R50_JOB_SIGNALS_H

/* Installs the handlers: no SA_RESTART (a read blocked in the kernel returns EINTR),
 * SA_RESETHAND (the second signal takes the default action). */
void r50_job_signals_install(void);

/* The first signal caught, or 0. */
int r50_job_signal(void);

/* An r50_set_interrupt callback: whether a signal was caught. */
int r50_job_stop_requested(void *user);

/* "SIGTERM", "SIGINT", "SIGUSR1", "SIGHUP", or "a signal". */
const char *r50_job_signal_name(int sig);

#endif
