#ifndef SPACETIME_CLZ4_SHIM_H
#define SPACETIME_CLZ4_SHIM_H
#include <lz4.h>
#include <malloc.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/// Returns freed heap memory to the OS (glibc `malloc_trim(0)`); 1 if memory was released.
static inline int spacetime_malloc_trim(void) {
#ifdef __GLIBC__
    return malloc_trim(0);
#else
    return 0;
#endif
}

/// Asks the kernel to send `signal` to this process when the thread that started it exits
/// (Linux `prctl(PR_SET_PDEATHSIG)`); 0 on success, -1 with errno set, -2 where unsupported.
static inline int spacetime_set_parent_death_signal(int signal) {
#ifdef __linux__
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
#else
    return -2;
#endif
}
#endif
