/* Throughput peer in C for scripts/bench-transport: same protocol as
 * `spacetime-zmq-peer thr-recv/thr-send` and zmq_thr.py.
 *   zmq_thr recv BIND COUNT SIZE HWM   -> prints "ENDPOINT e", then "RESULT ..."
 *   zmq_thr send CONNECT COUNT SIZE HWM
 * The receiver times from the first message to the last. */
#include <zmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what) {
    fprintf(stderr, "zmq_thr: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s recv|send ENDPOINT COUNT SIZE HWM\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1], *endpoint = argv[2];
    long count = atol(argv[3]);
    size_t size = (size_t)atol(argv[4]);
    int hwm = atoi(argv[5]);
    void *ctx = zmq_ctx_new();
    if (!ctx) die("zmq_ctx_new");

    if (strcmp(mode, "recv") == 0) {
        void *s = zmq_socket(ctx, ZMQ_PULL);
        if (zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm)) die("ZMQ_RCVHWM");
        if (zmq_bind(s, endpoint)) die("zmq_bind");
        char last[256];
        size_t len = sizeof last;
        if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, last, &len)) die("ZMQ_LAST_ENDPOINT");
        printf("ENDPOINT %s\n", last);
        fflush(stdout);
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, s, 0) < 0) die("zmq_msg_recv");
        double start = now();
        for (long i = 1; i < count; i++) {
            if (zmq_msg_recv(&msg, s, 0) < 0) die("zmq_msg_recv");
            if (zmq_msg_size(&msg) != size) { fprintf(stderr, "zmq_thr: bad size\n"); return 1; }
        }
        double seconds = now() - start;
        double rate = (count - 1) / seconds;
        printf("RESULT impl=c size=%zu count=%ld seconds=%.4f msgs_per_s=%.0f mib_per_s=%.1f\n",
               size, count, seconds, rate, rate * size / 1048576.0);
        fflush(stdout);
        zmq_msg_close(&msg);
        zmq_close(s);
    } else {
        void *s = zmq_socket(ctx, ZMQ_PUSH);
        int linger = -1;
        if (zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm)) die("ZMQ_SNDHWM");
        if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger)) die("ZMQ_LINGER");
        if (zmq_connect(s, endpoint)) die("zmq_connect");
        char *payload = calloc(size ? size : 1, 1);
        memset(payload, 0x5A, size);
        for (long i = 0; i < count; i++)
            if (zmq_send(s, payload, size, 0) < 0) die("zmq_send");
        free(payload);
        zmq_close(s);
    }
    zmq_ctx_term(ctx);
    return 0;
}
