// punctual_floor: the least work a sender that is on time for every arrival can do on this
// machine, as a reference row for scripts/compare.sh.
//
// It sleeps to each arrival's absolute time (clock_nanosleep, timer slack 1 ns), writes one
// request on a free connection, and reads whatever responses have come in without waiting for
// any. It measures no latency, checks nothing and keeps nothing: what it costs per request is
// what waking once per arrival, one write and one read cost here, the floor under any punctual
// open-model generator on this machine (metronome's default pacing included).
//
//   punctual_floor HOST PORT RATE SECONDS CONNECTIONS [TICK_US]
//
// With TICK_US it is the floor of a batching sender instead (coarse pacing, wrk2's ~1 ms timers):
// it sleeps to the first tick boundary (every TICK_US from the start) at or after the next
// arrival, sends every arrival due by then, and reads what has come in once per wake. Every
// arrival is then late by up to a tick, and each wake-up is shared by the arrivals of a tick.
//
// HOST is an IPv4 address. It prints one line: "sent N answered N skipped N late_p50_us X
// late_p99_us Y", where skipped counts arrivals that found every connection busy and late is
// how long after its intended time each wake-up came.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 6 && argc != 7) {
    fprintf(stderr, "usage: %s HOST PORT RATE SECONDS CONNECTIONS [TICK_US]\n", argv[0]);
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]), conns = atoi(argv[5]);
  double rate = atof(argv[3]), secs = atof(argv[4]);
  long n = (long)(rate * secs);
  int64_t tick = argc == 7 ? (int64_t)(atof(argv[6]) * 1000) : 0;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (port <= 0 || conns <= 0 || rate <= 0 || n <= 0 || tick < 0 || inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "punctual_floor: HOST must be an IPv4 address, PORT, RATE, SECONDS, CONNECTIONS positive and TICK_US not negative\n");
    return 2;
  }
  int64_t period = (int64_t)(1e9 / rate);
  int *fd = calloc(conns, sizeof *fd), *busy = calloc(conns, sizeof *busy);
  int64_t *late = malloc(sizeof *late * n);
  int ep = epoll_create1(0);
  if (!fd || !busy || !late || ep < 0) {
    perror("punctual_floor");
    return 1;
  }
  for (int c = 0; c < conns; c++) {
    int one = 1;
    fd[c] = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd[c], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd[c], (struct sockaddr *)&addr, sizeof addr) < 0) {
      fprintf(stderr, "punctual_floor: cannot connect to %s:%d: %s\n", host, port, strerror(errno));
      return 1;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd[c], &e);
  }
  char req[128], buf[65536];
  int len = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n", host, port);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  long sent = 0, answered = 0, skipped = 0;
  struct epoll_event ready[64];
  int64_t start = now_ns() + 10000000;
  for (long i = 0; i < n; i++) {
    int64_t due = start + i * period;
    // A tick rounds the wake up to its grid; the arrivals due by then go in the same wake-up.
    int64_t wake = tick > 0 ? start + (due - start + tick - 1) / tick * tick : due;
    struct timespec ts = {.tv_sec = wake / 1000000000, .tv_nsec = wake % 1000000000};
    // An arrival already due is sent without a sleep: a late loop catches up in one wake-up.
    int slept = 0;
    while (now_ns() < due) {
      slept = 1;
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    late[i] = now_ns() - due;
    int c = (int)(i % conns);
    for (int k = 0; k < conns && busy[c]; k++) c = (c + 1) % conns;
    int starved = busy[c];
    if (starved) {
      skipped++;
    } else if (send(fd[c], req, len, 0) == len) {
      busy[c] = 1;
      sent++;
    }
    // Without a tick every arrival reads what came; with one, the first arrival of a wake does,
    // and one that found every connection busy (so a loop that is behind still reads).
    if (tick > 0 && !slept && !starved) continue;
    int m = epoll_wait(ep, ready, 64, 0);
    for (int k = 0; k < m; k++) {
      int d = (int)ready[k].data.u32;
      if (recv(fd[d], buf, sizeof buf, MSG_DONTWAIT) > 0 && busy[d]) {
        busy[d] = 0;
        answered++;
      }
    }
  }
  qsort(late, n, sizeof *late, by_value);
  printf("sent %ld answered %ld skipped %ld late_p50_us %.0f late_p99_us %.0f\n", sent, answered,
         skipped, late[n / 2] / 1e3, late[n * 99 / 100] / 1e3);
  return 0;
}
