#ifndef SPACETIME_CLZ4_SHIM_H
#define SPACETIME_CLZ4_SHIM_H
#include <lz4.h>
#include <malloc.h>

/// Returns freed heap memory to the OS (glibc `malloc_trim(0)`); 1 if memory was released.
static inline int spacetime_malloc_trim(void) {
#ifdef __GLIBC__
    return malloc_trim(0);
#else
    return 0;
#endif
}
#endif
