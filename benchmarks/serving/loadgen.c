/* HTTP/1.1 load generator for the serving benchmark: open loop at a fixed rate (wrk cannot hold one), or
 * closed loop (RATE 0) with its connections opened one at a time (wrk opens them in a burst).
 *
 *   loadgen HOST PORT PATH BODIES_FILE RATE DURATION_S WARMUP_S CONNECTIONS
 *
 * RATE 0, closed loop: every connection sends its next request as soon as the previous answer is in; the
 * throughput counts the answers that arrive in the DURATION_S after WARMUP_S, and a request's latency runs
 * from when it was sent. Requests still in flight at the end are not counted.
 *
 * Request i is due at start + i / RATE, whatever happened to the earlier ones (open loop). It goes out
 * on the connection that has been idle longest; when all CONNECTIONS are busy it waits in a queue, and
 * that wait counts: a request's latency is the time from when it was due to the last byte of its
 * response, so a server that falls behind shows it (no coordinated omission). Requests due in the first
 * WARMUP_S seconds are sent but not recorded. BODIES_FILE holds one JSON body per line, used in turn.
 * After the last request is due, responses are awaited for at most 2 s; requests still unanswered then
 * are "unfinished" and enter the percentiles with their age at that moment (a lower bound).
 *
 * Prints one JSON object: counts, achieved rate, latency percentiles (ms), and the CPU seconds this
 * generator used (it shares the machine with the server under test).
 * Build: gcc -O2 -o loadgen loadgen.c -lm
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define RBUF 65536
#define GRACE_S 2.0

typedef struct {
    int fd;
    int busy;
    double due;        /* when the request in flight was due */
    const char *req;   /* its bytes */
    size_t req_len, sent;
    char rbuf[RBUF];
    size_t rlen;
    long header_len;   /* -1 until the header's end is seen */
    long body_len;     /* -1: chunked / unknown */
    int chunked, close_after;
} conn_t;

static struct sockaddr_in addr;
static int epfd;
static conn_t *conns;
static int nconns;
static int *idle_q, idle_head, idle_tail, idle_n;  /* FIFO of idle connection indices */
static double *backlog;                             /* due times of requests waiting for a connection */
static long backlog_head, backlog_tail;
static char **reqs;
static size_t *req_lens;
static long nreqs, next_req;
static double *lat;                                 /* recorded latencies, seconds */
static size_t lat_cap;
static int closed_loop;
static double end_t;                                /* closed loop: end of the recorded window */
static long window_done;                            /* closed loop: answers inside the recorded window */
static long nlat;
static long errors, completed, status_errors;
static double warm_end, last_done;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *msg) {
    perror(msg);
    exit(2);
}

static void idle_push(int i) {
    idle_q[idle_tail] = i;
    idle_tail = (idle_tail + 1) % nconns;
    idle_n++;
}

static int idle_pop(void) {
    int i = idle_q[idle_head];
    idle_head = (idle_head + 1) % nconns;
    idle_n--;
    return i;
}

static void open_conn(int i) {
    conn_t *c = &conns[i];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
    c->busy = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void reopen(int i) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, conns[i].fd, NULL);
    close(conns[i].fd);
    open_conn(i);
}

static void dispatch(int i, double due);
static void record(double seconds);

static void release(int i) { /* connection i is free: serve the oldest waiting request, else go idle */
    if (closed_loop) {
        double t = now();
        if (t < end_t) dispatch(i, t);
        else idle_push(i);
    } else if (backlog_head < backlog_tail) {
        dispatch(i, backlog[backlog_head++]);
    } else {
        idle_push(i);
    }
}

static void flush(int i) {
    conn_t *c = &conns[i];
    while (c->sent < c->req_len) {
        ssize_t n = send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
                epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
                return;
            }
            errors++;
            c->busy = 0;
            reopen(i);
            release(i);
            return;
        }
        c->sent += (size_t)n;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void dispatch(int i, double due) {
    conn_t *c = &conns[i];
    long k = next_req++ % nreqs;
    c->busy = 1;
    c->due = due;
    c->req = reqs[k];
    c->req_len = req_lens[k];
    c->sent = 0;
    c->rlen = 0;
    c->header_len = -1;
    c->body_len = -1;
    c->chunked = 0;
    c->close_after = 0;
    flush(i);
}

static long header_value(const char *head, long len, const char *name, char *out, size_t outsz) {
    size_t nlen = strlen(name);
    for (long p = 0; p + (long)nlen < len; p++) {
        if ((p == 0 || head[p - 1] == '\n') && strncasecmp(head + p, name, nlen) == 0) {
            long q = p + (long)nlen;
            while (q < len && (head[q] == ' ' || head[q] == '\t')) q++;
            size_t k = 0;
            while (q < len && head[q] != '\r' && k + 1 < outsz) out[k++] = head[q++];
            out[k] = 0;
            return 1;
        }
    }
    return 0;
}

/* 1 when c->rbuf holds a whole response */
static int complete(conn_t *c) {
    if (c->header_len < 0) {
        char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
        if (!end) return 0;
        c->header_len = end - c->rbuf + 4;
        char v[64];
        if (header_value(c->rbuf, c->header_len, "content-length:", v, sizeof v)) c->body_len = atol(v);
        if (header_value(c->rbuf, c->header_len, "transfer-encoding:", v, sizeof v) && strcasestr(v, "chunked"))
            c->chunked = 1;
        if (header_value(c->rbuf, c->header_len, "connection:", v, sizeof v) && strcasestr(v, "close"))
            c->close_after = 1;
    }
    if (c->body_len >= 0) return (long)c->rlen >= c->header_len + c->body_len;
    if (c->chunked) return c->rlen >= 5 && memcmp(c->rbuf + c->rlen - 5, "0\r\n\r\n", 5) == 0;
    return 0;
}

static void on_readable(int i, double t) {
    conn_t *c = &conns[i];
    for (;;) {
        if (c->rlen == RBUF) {
            fprintf(stderr, "response larger than %d bytes\n", RBUF);
            exit(2);
        }
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) { /* closed (idle keep-alive ends) or failed mid-request */
            reopen(i);
            if (c->busy) { /* an idle connection is already in the idle queue */
                errors++;
                c->busy = 0;
                release(i);
            }
            return;
        }
        if (n < 0) return;
        c->rlen += (size_t)n;
        if (c->busy && complete(c)) break;
    }
    completed++;
    if (strncmp(c->rbuf + 9, "200", 3) != 0) status_errors++;
    if (c->due >= warm_end && (!closed_loop || t <= end_t)) record(t - c->due);
    if (closed_loop && t >= warm_end && t <= end_t) window_done++;
    c->busy = 0;
    last_done = t;
    if (c->close_after) reopen(i);
    release(i);
}

static void record(double seconds) {
    if ((size_t)nlat == lat_cap) {
        lat_cap = lat_cap ? 2 * lat_cap : 65536;
        lat = realloc(lat, lat_cap * sizeof *lat);
        if (!lat) die("realloc");
    }
    lat[nlat++] = seconds;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p) {
    if (nlat == 0) return -1;
    long k = (long)(p / 100.0 * (double)nlat + 0.999999) - 1;
    if (k < 0) k = 0;
    if (k >= nlat) k = nlat - 1;
    return lat[k] * 1e3;
}

static void load_bodies(const char *file, const char *host, int port, const char *path) {
    FILE *f = fopen(file, "r");
    if (!f) die(file);
    size_t cap = 1024;
    reqs = malloc(cap * sizeof *reqs);
    req_lens = malloc(cap * sizeof *req_lens);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if ((size_t)nreqs == cap) {
            cap *= 2;
            reqs = realloc(reqs, cap * sizeof *reqs);
            req_lens = realloc(req_lens, cap * sizeof *req_lens);
        }
        int n = asprintf(&reqs[nreqs],
                         "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zd\r\n\r\n%s",
                         path, host, port, len, line);
        req_lens[nreqs++] = (size_t)n;
    }
    free(line);
    fclose(f);
    if (nreqs == 0) {
        fprintf(stderr, "no bodies in %s\n", file);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: %s HOST PORT PATH BODIES_FILE RATE DURATION_S WARMUP_S CONNECTIONS\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    double rate = atof(argv[5]), duration = atof(argv[6]), warmup = atof(argv[7]);
    nconns = atoi(argv[8]);
    load_bodies(argv[4], host, port, argv[3]);

    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "HOST must be an IPv4 address\n");
        return 2;
    }
    closed_loop = rate <= 0;
    long total = closed_loop ? 0 : (long)(rate * (warmup + duration));
    conns = calloc((size_t)nconns, sizeof *conns);
    idle_q = calloc((size_t)nconns, sizeof *idle_q);
    backlog = calloc((size_t)total + 1, sizeof *backlog);
    epfd = epoll_create1(0);
    for (int i = 0; i < nconns; i++) {
        /* One at a time, 5 ms apart: connections opened in a burst all wait in the accept queue, and the first
           worker process of a multi-process server to wake takes every one of them. */
        open_conn(i);
        idle_push(i);
        usleep(5000);
    }
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);

    struct rusage ru0;
    getrusage(RUSAGE_SELF, &ru0);
    double start = now() + 0.01;
    warm_end = start + warmup;
    double last_due = closed_loop ? start : start + (double)(total - 1) / rate;
    end_t = start + warmup + duration;
    if (closed_loop) {
        while (now() < start) {
        }
        for (int i = 0; i < nconns; i++) dispatch(idle_pop(), start);
    }
    long scheduled = 0;
    struct epoll_event evs[256];
    double t = now();
    for (;;) {
        t = now();
        while (scheduled < total && start + (double)scheduled / rate <= t) {
            double due = start + (double)scheduled / rate;
            scheduled++;
            if (idle_n > 0) dispatch(idle_pop(), due);
            else backlog[backlog_tail++] = due;
        }
        int inflight = nconns - idle_n;
        if (closed_loop && t >= end_t) break;
        if (!closed_loop && scheduled == total && inflight == 0 && backlog_head == backlog_tail) break;
        if (!closed_loop && scheduled == total && t > last_due + GRACE_S) break;
        double wake = closed_loop ? end_t : scheduled < total ? start + (double)scheduled / rate : last_due + GRACE_S;
        struct itimerspec its = {0};
        its.it_value.tv_sec = (time_t)wake;
        its.it_value.tv_nsec = (long)((wake - (double)(time_t)wake) * 1e9);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        int n = epoll_wait(epfd, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        t = now();
        for (int k = 0; k < n; k++) {
            uint32_t id = evs[k].data.u32;
            if (id == UINT32_MAX) {
                uint64_t x;
                if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN) die("timerfd");
                continue;
            }
            if (evs[k].events & EPOLLOUT) flush((int)id);
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable((int)id, t);
        }
    }
    double stop = now();
    long unfinished = 0;
    for (int i = 0; i < nconns && !closed_loop; i++) {
        if (conns[i].busy) {
            unfinished++;
            if (conns[i].due >= warm_end) record(stop - conns[i].due);
        }
    }
    for (long b = backlog_head; b < backlog_tail; b++) {
        unfinished++;
        if (backlog[b] >= warm_end) record(stop - backlog[b]);
    }
    struct rusage ru1;
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 1e-6 * (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
    qsort(lat, (size_t)nlat, sizeof *lat, cmp);
    double sum = 0;
    for (long k = 0; k < nlat; k++) sum += lat[k];
    printf("{\"rate\": %.1f, \"duration_s\": %.3f, \"warmup_s\": %.3f, \"connections\": %d, \"scheduled\": %ld, "
           "\"completed\": %ld, \"errors\": %ld, \"non_200\": %ld, \"unfinished\": %ld, \"recorded\": %ld, "
           "\"achieved_rps\": %.1f, \"mean_ms\": %.3f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
           "\"p999_ms\": %.3f, \"max_ms\": %.3f, \"loadgen_cpu_s\": %.3f, \"wall_s\": %.3f}\n",
           rate, duration, warmup, nconns, total, completed, errors, status_errors, unfinished, nlat,
           closed_loop ? (double)window_done / duration
           : last_done > start ? (double)completed / (last_done - start) : 0.0, nlat ? sum / (double)nlat * 1e3 : -1.0, pct(50), pct(90), pct(99),
           pct(99.9), nlat ? lat[nlat - 1] * 1e3 : -1.0, cpu, stop - start);
    return 0;
}
