/* Core-to-core latency probe: two threads pinned to the first two CPUs the process may run on
 * (0 and 1 on a plain machine; or the two given as arguments) pass a cache line back and
 * forth; a round trip is two transfers of the line between the cores' caches. About 50 ns
 * when the cores share a last-level cache (one CCD of an AMD EPYC), several times that when
 * they do not (another CCD or socket). On a VM, the host decides where the vCPUs run, and it
 * can change from one second to the next: gradflow's benches/compare.py and
 * benches/two_threads.py record this next to every two-thread figure.
 * Prints one JSON line: the median of 7 rounds of 20,000 round trips. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { TRIPS = 20000, ROUNDS = 7 };
static _Atomic int ball __attribute__((aligned(64)));
static int cpus[2] = {0, 1};

static int pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static _Atomic int partner_ok; /* 0: not yet known, 1: pinned, -1: could not pin */

static void *partner(void *unused) {
  (void)unused;
  int ok = pin(cpus[1]) == 0;
  atomic_store(&partner_ok, ok ? 1 : -1);
  if (!ok) return 0;
  for (int i = 0; i < TRIPS * ROUNDS; i++) {
    while (atomic_load_explicit(&ball, memory_order_acquire) != 1) {}
    atomic_store_explicit(&ball, 0, memory_order_release);
  }
  return 0;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc == 3) {
    cpus[0] = atoi(argv[1]);
    cpus[1] = atoi(argv[2]);
  } else {
    /* The first two CPUs this process may run on (a container may not have 0 and 1). */
    cpu_set_t allowed;
    int found = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
      for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
        if (CPU_ISSET(c, &allowed)) cpus[found++] = c;
    if (found < 2) {
      printf("{\"peer\":\"machine\",\"variant\":\"info\",\"workload\":\"core_latency\",\"error\":\"fewer than two CPUs to run on\"}\n");
      return 0;
    }
  }
  if (cpus[0] == cpus[1]) {
    /* Two spinning threads on one CPU would only pass the line when the scheduler switches. */
    printf("{\"peer\":\"machine\",\"variant\":\"info\",\"workload\":\"core_latency\",\"error\":\"needs two different CPUs\"}\n");
    return 0;
  }
  pthread_t t;
  if (pin(cpus[0]) != 0 || pthread_create(&t, 0, partner, 0) != 0) {
    printf("{\"peer\":\"machine\",\"variant\":\"info\",\"workload\":\"core_latency\",\"error\":\"cannot pin to CPUs %d and %d\"}\n", cpus[0], cpus[1]);
    return 0;
  }
  while (atomic_load(&partner_ok) == 0) {}
  if (atomic_load(&partner_ok) < 0) {
    pthread_join(t, 0);
    printf("{\"peer\":\"machine\",\"variant\":\"info\",\"workload\":\"core_latency\",\"error\":\"cannot pin to CPU %d\"}\n", cpus[1]);
    return 0;
  }
  double ns[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < TRIPS; i++) {
      atomic_store_explicit(&ball, 1, memory_order_release);
      while (atomic_load_explicit(&ball, memory_order_acquire) != 0) {}
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    ns[r] = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / TRIPS;
  }
  pthread_join(t, 0);
  qsort(ns, ROUNDS, sizeof ns[0], cmp);
  printf("{\"peer\":\"machine\",\"variant\":\"info\",\"workload\":\"core_latency\",\"cpus\":[%d,%d],\"round_trip_ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f}\n",
         cpus[0], cpus[1], ns[ROUNDS / 2], ns[0], ns[ROUNDS - 1]);
  return 0;
}
