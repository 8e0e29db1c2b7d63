#ifndef SPACETIME_CZEROMQ_SHIM_H
#define SPACETIME_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
