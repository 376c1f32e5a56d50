# shellcheck shell=bash
# slurm/launch.sh — sourced by the sbatch scripts: runs one `r50worker COMMAND ...`
# job step with one rank per task, and requeues the job when SLURM's warning signal
# paused it. The scripts only set options; everything else is r50worker's.
#
#   r50_launch COMMAND [r50worker arguments...]
#
# - The step: `srun --mpi=pmix` (or pmi2, whichever this SLURM has), else `mpirun`
#   when not inside an allocation; `--threads` from --cpus-per-task, which srun is
#   given again (SLURM 22.05 and later do not pass it to a step).
# - A requeued run (SLURM_RESTART_COUNT > 0) adds `--resume`: extract continues its
#   file, finetune its newest checkpoint.
# - SIGUSR1 to the batch shell (#SBATCH --signal=B:USR1@SECONDS, sent before the time
#   limit, or `scancel --batch --signal=USR1`) is forwarded to the step: r50worker
#   writes what it has (extract) or a checkpoint (finetune) and exits 0; then the job
#   is requeued with `scontrol requeue`, at most R50_MAX_RESTARTS times (default 10).
#   SIGTERM (scancel, preemption) is forwarded too: the step saves and exits 143.
r50_launch() {
  local command=$1
  shift
  local bin=${R50WORKER:-${SLURM_SUBMIT_DIR:-$PWD}/build/r50worker}
  local restarts=${SLURM_RESTART_COUNT:-0} max=${R50_MAX_RESTARTS:-10}
  local extra=(--threads "${SLURM_CPUS_PER_TASK:-1}")
  ((restarts > 0)) && extra+=(--resume)
  local launcher
  if [[ -n ${SLURM_JOB_ID:-} ]]; then
    local mpi=none
    if srun --mpi=list 2>&1 | grep -qw pmix; then
      mpi=pmix
    elif srun --mpi=list 2>&1 | grep -qw pmi2; then
      mpi=pmi2
    fi
    launcher=(srun --mpi="$mpi" --kill-on-bad-exit=1)
    # SLURM 22.05 and later: a step does not inherit the job's --cpus-per-task (nor
    # read SLURM_CPUS_PER_TASK), so where tasks are bound each would get one CPU for
    # its --threads: ask for them again
    if [[ -n ${SLURM_CPUS_PER_TASK:-} ]]; then
      launcher+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
    fi
  else
    launcher=(mpirun -np "${R50_NP:-1}")
  fi
  echo "r50worker $command: attempt $((restarts + 1)) of job ${SLURM_JOB_ID:-(none)} on" \
    "${SLURM_NTASKS:-${R50_NP:-1}} task(s), $(date -Is)"
  echo "+ ${launcher[*]} $bin $command $* ${extra[*]}"
  local paused=0 step rc
  "${launcher[@]}" "$bin" "$command" "$@" "${extra[@]}" &
  step=$!
  trap 'paused=1; echo "r50worker $command: SIGUSR1: pausing the step"; kill -USR1 $step' USR1
  trap 'echo "r50worker $command: SIGTERM: stopping the step"; kill -TERM $step' TERM
  # `wait` returns when a trapped signal arrives: wait again until the step has ended
  while true; do
    set +e
    wait "$step"
    rc=$?
    set -e
    kill -0 "$step" 2>/dev/null || break
  done
  trap - USR1 TERM
  echo "r50worker $command: step ended with exit code $rc, $(date -Is)"
  if ((paused && rc == 0)) && [[ -n ${SLURM_JOB_ID:-} ]]; then
    if ((restarts < max)); then
      echo "r50worker $command: requeueing job $SLURM_JOB_ID (restart $((restarts + 1)) of at most $max)"
      scontrol requeue "$SLURM_JOB_ID"
    else
      echo "r50worker $command: $max restarts reached: not requeued; resubmit to continue" >&2
      return 1
    fi
  fi
  return "$rc"
}
