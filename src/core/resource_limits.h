/*
 * resource_limits.h — how much memory and CPU time this process may use: the machine's,
 * or less where a control group caps it (a SLURM job's --mem, a container's memory or
 * CPU limit, as `docker run --cpus` and Kubernetes' limits.cpu set).
 */
#ifndef R50_RESOURCE_LIMITS_H
#define R50_RESOURCE_LIMITS_H

/* Bytes: the smaller of the physical memory and the memory limit of this process's
 * control group (cgroup v2 memory.max, else v1 memory.limit_in_bytes), where one is
 * set and readable; 0 when not even the physical memory is known. */
double r50_memory_limit_bytes(void);

/* CPUs' worth of time the control group's quota grants this process and the others in
 * its group (cgroup v2 cpu.max "QUOTA PERIOD", v1 cpu.cfs_quota_us / cpu.cfs_period_us:
 * 2.0 for `docker run --cpus 2`), the smallest along the group's path up to the root;
 * 0 where no quota is set or none is readable. Unlike the affinity mask, a quota does
 * not keep threads off CPUs: more threads than it grants are stopped in turn. */
double r50_cpu_quota(void);

#endif
