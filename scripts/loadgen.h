// What the C load generators (scripts/load-radius.c, scripts/load-diameter.c) share: a monotonic
// clock in milliseconds and latency series with the Node generators' percentile.
#ifndef OCS_LOADGEN_H
#define OCS_LOADGEN_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

typedef struct {
  double *v;
  size_t n, cap;
} series;

static void push(series *s, double x) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 65536;
    s->v = realloc(s->v, s->cap * sizeof(double));
    if (!s->v) { perror("load generator: realloc"); exit(1); }
  }
  s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

// The same percentile as the Node generators: the value at floor(n · p / 100) of the sorted list
// (sorted here, in place).
static double pct(series *s, double p) {
  if (s->n == 0) return 0;
  qsort(s->v, s->n, sizeof(double), cmp_double);
  size_t i = (size_t)floor((double)s->n * p / 100);
  return s->v[i < s->n ? i : s->n - 1];
}

#endif
