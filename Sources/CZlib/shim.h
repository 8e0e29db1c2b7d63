#ifndef SPACETIME_CZLIB_SHIM_H
#define SPACETIME_CZLIB_SHIM_H
#include <zlib.h>

/// `inflateInit2` for gzip members only (window 15, gzip header and trailer): a macro in zlib.h.
static inline int spacetime_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}
#endif
