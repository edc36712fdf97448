/*
 * CPU and kernel-time workload for the agent end-to-end test. `burn cpu SECONDS [THREAD]` spins in
 * uniprof_hot_loop on a thread named THREAD (default "uprof-cpu"); `burn sys SECONDS [THREAD]` reads
 * /dev/zero in large blocks on a thread named THREAD (default "uprof-sys"), so most of its samples have
 * kernel frames at the leaf. `burn marks SECONDS` spins on a thread named "uprof-markhost" until the first
 * line arrives on stdin, and for each line NAME spins for SECONDS on a new thread named NAME: the test's timing
 * marks. (The agent samples new threads of a process it knows at once, but a new process only after it has
 * read its mappings, which can take seconds on a busy machine.) It exits at the end of input once its threads
 * are done.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long long result_sink;
static double run_seconds;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Always inlined into uniprof_hot_loop: most of the loop's instructions are its code, so the samples there
 * carry a two-deep inline chain (uniprof_mix inlined into uniprof_hot_loop) for the symbolizer to name.
 */
static inline __attribute__((always_inline)) unsigned long long uniprof_mix(unsigned long long x) {
  x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  x ^= x >> 29;
  return x;
}

/* The function the test expects at the leaf of this program's stacks: never inlined, pure arithmetic. */
__attribute__((noinline)) unsigned long long uniprof_hot_loop(unsigned long long seed) {
  unsigned long long x = seed;
  for (unsigned long i = 0; i < 20000000UL; i++) x = uniprof_mix(x);
  return x;
}

__attribute__((noinline)) void uniprof_syscall_loop(int fd, char *buffer, size_t size) {
  for (int i = 0; i < 256; i++) {
    if (read(fd, buffer, size) < 0) {
      perror("read /dev/zero");
      exit(1);
    }
  }
}

static void *cpu_worker(void *unused) {
  (void)unused;
  double end = now_seconds() + run_seconds;
  unsigned long long seed = 1;
  while (now_seconds() < end) seed = uniprof_hot_loop(seed);
  result_sink = seed;
  return NULL;
}

static volatile int first_mark_seen;

static void *mark_host_worker(void *unused) {
  (void)unused;
  unsigned long long seed = 2;
  while (!first_mark_seen) seed = uniprof_hot_loop(seed);
  result_sink = seed;
  return NULL;
}

static void *mark_worker(void *unused) {
  (void)unused;
  first_mark_seen = 1;
  double end = now_seconds() + run_seconds;
  unsigned long long seed = 3;
  while (now_seconds() < end) seed = uniprof_hot_loop(seed);
  result_sink = seed;
  return NULL;
}

static int run_marks(void) {
  pthread_t threads[64];
  int count = 0;
  if (pthread_create(&threads[count], NULL, mark_host_worker, NULL) != 0) return 1;
  pthread_setname_np(threads[count++], "uprof-markhost");
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '\0' || count == 64) continue;
    if (pthread_create(&threads[count], NULL, mark_worker, NULL) != 0) return 1;
    char name[16];
    snprintf(name, sizeof name, "%.15s", line);
    pthread_setname_np(threads[count++], name);
  }
  first_mark_seen = 1;
  for (int i = 0; i < count; i++) pthread_join(threads[i], NULL);
  return 0;
}

static void *sys_worker(void *unused) {
  (void)unused;
  size_t size = 1 << 20;
  char *buffer = malloc(size);
  int fd = open("/dev/zero", O_RDONLY);
  if (!buffer || fd < 0) {
    perror("burn sys");
    exit(1);
  }
  double end = now_seconds() + run_seconds;
  while (now_seconds() < end) uniprof_syscall_loop(fd, buffer, size);
  close(fd);
  free(buffer);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "marks") == 0) {
    run_seconds = atof(argv[2]);
    return run_marks();
  }
  if (argc < 3 || argc > 4 || (strcmp(argv[1], "cpu") != 0 && strcmp(argv[1], "sys") != 0)) {
    fprintf(stderr, "usage: %s cpu|sys SECONDS [THREAD_NAME] | marks SECONDS\n", argv[0]);
    return 2;
  }
  run_seconds = atof(argv[2]);
  int cpu = strcmp(argv[1], "cpu") == 0;
  pthread_t thread;
  if (pthread_create(&thread, NULL, cpu ? cpu_worker : sys_worker, NULL) != 0) return 1;
  /* Thread names are at most 15 bytes; the kernel keeps them in the task's comm. */
  char name[16];
  snprintf(name, sizeof name, "%s", argc == 4 ? argv[3] : cpu ? "uprof-cpu" : "uprof-sys");
  pthread_setname_np(thread, name);
  pthread_join(thread, NULL);
  return 0;
}
