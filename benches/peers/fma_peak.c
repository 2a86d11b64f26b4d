/* Peak fp32 multiply-add rate of one core: 12 independent chains of vector FMAs, enough to
 * fill two FMA pipes of 4-cycle latency, with AVX2 (8 lanes) and, where the CPU has it,
 * AVX-512 (16 lanes). A core with two 512-bit FMA units (Intel Xeon since Skylake-SP) doubles
 * with AVX-512; one that splits 512-bit operations into two 256-bit halves (AMD Zen 4) does
 * not. GFLOP/s count 2 per multiply-add, per second of this process's CPU time
 * (CLOCK_PROCESS_CPUTIME_ID), like clock_probe.c's est_ghz_cpu; the two divide into FLOP per
 * cycle. gradflow's benches/compare.py prints both readings as the machine's limit.
 * Build: gcc -O2 fma_peak.c (the kernels carry their own target attributes). */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define CHAINS 12

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx2,fma"))) static float chains_avx2(long n) {
  __m256 acc[CHAINS];
  const __m256 mul = _mm256_set1_ps(0.9999f), add = _mm256_set1_ps(1e-4f);
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i);
  for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
  }
  __m256 sum = acc[0];
  for (int i = 1; i < CHAINS; i++) sum = _mm256_add_ps(sum, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, sum);
  return out[0];
}

__attribute__((target("avx512f"))) static float chains_avx512(long n) {
  __m512 acc[CHAINS];
  const __m512 mul = _mm512_set1_ps(0.9999f), add = _mm512_set1_ps(1e-4f);
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < CHAINS; i++) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

/* GFLOP/s of `kernel` over `n` rounds of CHAINS FMAs of `lanes` lanes: the best of 3 runs. */
static double gflops(float (*kernel)(long), long n, int lanes, float *sink) {
  double best = 0;
  for (int run = 0; run < 3; run++) {
    double t = cpu_seconds();
    *sink += kernel(n);
    double rate = 2.0 * CHAINS * lanes * n / (cpu_seconds() - t) / 1e9;
    if (rate > best) best = rate;
  }
  return best;
}

int main(void) {
  const long n = 50000000L;
  float sink = 0;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    printf("{\"peer\":\"fma_peak\",\"variant\":\"info\",\"workload\":\"fma_peak\"}\n");
    return 0;
  }
  double avx2 = gflops(chains_avx2, n, 8, &sink);
  printf("{\"peer\":\"fma_peak\",\"variant\":\"info\",\"workload\":\"fma_peak\",\"avx2_gflops\":%.1f",
         avx2);
  if (__builtin_cpu_supports("avx512f"))
    printf(",\"avx512_gflops\":%.1f", gflops(chains_avx512, n, 16, &sink));
  printf(",\"sink\":%g}\n", sink);
  return 0;
}
