#ifndef SPACETIME_CZEROMQ_SHIM_H
#define SPACETIME_CZEROMQ_SHIM_H
#include <zmq.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

// libzmq's own errno values are macros built on ZMQ_HAUSNUMERO, which Swift
// cannot import; these return them.
static inline int czmq_eterm(void) { return ETERM; }
static inline int czmq_efsm(void) { return EFSM; }
static inline int czmq_enocompatproto(void) { return ENOCOMPATPROTO; }
static inline int czmq_emthread(void) { return EMTHREAD; }

// Atomic exchange used by the sockets' concurrent-use check.
static inline int czmq_atomic_exchange(int *p, int value) {
    return __atomic_exchange_n(p, value, __ATOMIC_ACQ_REL);
}
static inline int czmq_atomic_load(int *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void czmq_atomic_store(int *p, int value) {
    __atomic_store_n(p, value, __ATOMIC_RELEASE);
}

// A non-blocking, close-on-exec pipe (the wake-up channel of a Mailbox).
static inline int czmq_nonblocking_pipe(int fds[2]) {
    if (pipe(fds) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        if (fl == -1 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) == -1) goto fail;
        int fd = fcntl(fds[i], F_GETFD);
        if (fd == -1 || fcntl(fds[i], F_SETFD, fd | FD_CLOEXEC) == -1) goto fail;
    }
    return 0;
fail:
    close(fds[0]);
    close(fds[1]);
    return -1;
}
#endif
