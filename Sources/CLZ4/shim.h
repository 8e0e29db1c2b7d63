#ifndef SPACETIME_CLZ4_SHIM_H
#define SPACETIME_CLZ4_SHIM_H
#include <lz4.h>
#endif
