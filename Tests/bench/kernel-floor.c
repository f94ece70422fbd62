// The kernel's own cost for what a relay does per event: one write() of one SSE-sized frame
// per delivery to N loopback TCP sockets, while a reader thread drains the peers with epoll.
// No HTTP, no allocation, no framework: the floor any server on the same machine stands on.
// Tests/bench/suite.sh runs it next to the servers.
//
//   targeted: each event goes to one random socket (one write per event)
//   broadcast: each event goes to every socket, in order (N writes per event)
//
//   gcc -O2 -pthread -o /tmp/kernel-floor Tests/bench/kernel-floor.c
//   /tmp/kernel-floor 9000 [targeted|broadcast] [SECONDS]
//
// The last line is machine-readable: `RESULT mode=… sockets=… writes_per_s=… received_per_s=… cpu_percent=…`.
//
// N must stay under half the open-file limit (both ends of every connection live here).
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int count = 9000;
static int *server_side, *client_side;
static atomic_long received_bytes;
static atomic_int done;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* The browsers' side: drain every socket as data arrives. */
static void *reader(void *unused) {
    (void)unused;
    int ep = epoll_create1(0);
    for (int i = 0; i < count; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = client_side[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, client_side[i], &ev);
    }
    struct epoll_event events[512];
    char buffer[65536];
    while (!atomic_load(&done)) {
        int n = epoll_wait(ep, events, 512, 100);
        if (n < 0) {
            perror("epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            ssize_t r = read(events[i].data.fd, buffer, sizeof buffer);
            if (r > 0) atomic_fetch_add(&received_bytes, r);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) count = atoi(argv[1]);
    int broadcast = argc > 2 && strcmp(argv[2], "broadcast") == 0;
    double seconds = argc > 3 ? atof(argv[3]) : 5;
    server_side = calloc(count, sizeof(int));
    client_side = calloc(count, sizeof(int));

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    bind(listener, (struct sockaddr *)&address, sizeof address);
    listen(listener, 4096);
    socklen_t length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &length);

    /* Source addresses spread over 127.0.0.2-251, as the relay benchmark does. */
    for (int i = 0; i < count; i++) {
        client_side[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in source = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002 + (i % 250))};
        bind(client_side[i], (struct sockaddr *)&source, sizeof source);
        if (connect(client_side[i], (struct sockaddr *)&address, sizeof address) != 0) {
            perror("connect");
            return 1;
        }
        server_side[i] = accept(listener, NULL, NULL);
        setsockopt(server_side[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }

    pthread_t thread;
    pthread_create(&thread, NULL, reader, NULL);
    char frame[96];
    memset(frame, 'x', sizeof frame - 1);
    frame[sizeof frame - 1] = '\n';
    long writes = 0;
    unsigned seed = 1;
    double start = now();
    while (now() - start < seconds) {
        if (broadcast) {
            for (int i = 0; i < count; i++) {
                if (write(server_side[i], frame, sizeof frame) == sizeof frame) writes++;
            }
            continue;
        }
        for (int k = 0; k < 1000; k++) {
            seed = seed * 1103515245 + 12345;
            if (write(server_side[(seed >> 8) % count], frame, sizeof frame) == sizeof frame) writes++;
        }
    }
    double elapsed = now() - start;
    atomic_store(&done, 1);
    pthread_join(thread, NULL);

    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    double received = atomic_load(&received_bytes) / (double)sizeof frame / elapsed;
    printf("%s, %d sockets: %.0f writes/s, received %.0f frames/s, process cpu %.0f%%\n",
           broadcast ? "broadcast" : "targeted", count, writes / elapsed, received, 100.0 * cpu / elapsed);
    printf("RESULT mode=%s sockets=%d writes_per_s=%.0f received_per_s=%.0f cpu_percent=%.0f\n",
           broadcast ? "broadcast" : "targeted", count, writes / elapsed, received, 100.0 * cpu / elapsed);
    return 0;
}
