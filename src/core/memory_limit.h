/*
 * memory_limit.h — how much memory this process may use: the machine's, or less where
 * a control group caps it (a SLURM job's --mem, a container's limit).
 */
#ifndef R50_MEMORY_LIMIT_H
#define R50_MEMORY_LIMIT_H

/* Bytes: the smaller of the physical memory and the memory limit of this process's
 * control group (cgroup v2 memory.max, else v1 memory.limit_in_bytes), where one is
 * set and readable; 0 when not even the physical memory is known. */
double r50_memory_limit_bytes(void);

#endif
