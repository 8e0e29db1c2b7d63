#ifndef SPACETIME_CZSTD_SHIM_H
#define SPACETIME_CZSTD_SHIM_H
#include <zstd.h>
#endif
