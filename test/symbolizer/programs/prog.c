/* Test input for the symbolizer: inlining, recursion, static helpers, a cold path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct point { double x, y; };

static inline double square(double v) { return v * v; }

static inline double distance2(struct point a, struct point b) {
  return square(a.x - b.x) + square(a.y - b.y);
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

__attribute__((noinline)) static double nearest(const struct point *points, int n, struct point p) {
  double best = 1e300;
  for (int i = 0; i < n; i++) {
    double d = distance2(points[i], p);
    if (d < best) best = d;
  }
  return best;
}

__attribute__((noinline)) unsigned long fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static inline unsigned hash_step(unsigned h, unsigned char c) { return (h ^ c) * 16777619u; }

__attribute__((noinline)) unsigned hash_string(const char *s) {
  unsigned h = 2166136261u;
  while (*s) h = hash_step(h, (unsigned char)*s++);
  return h;
}

__attribute__((cold, noinline)) void fail(const char *why) {
  fprintf(stderr, "failure: %s\n", why);
  exit(2);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100;
  struct point *points = malloc(sizeof *points * (size_t)n);
  double *values = malloc(sizeof *values * (size_t)n);
  if (!points || !values) fail("out of memory");
  for (int i = 0; i < n; i++) {
    points[i].x = i * 0.5;
    points[i].y = (i * 7919) % 101;
  }
  for (int i = 0; i < n; i++) values[i] = nearest(points, n, points[(i * 31) % n]);
  qsort(values, (size_t)n, sizeof *values, compare_doubles);
  printf("%g %lu %u\n", values[n / 2], fib(20), hash_string(argc > 2 ? argv[2] : "uniprof"));
  free(points);
  free(values);
  return strlen(argv[0]) > 1000;
}
