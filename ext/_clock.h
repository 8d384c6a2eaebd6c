/* The wall clock (seconds since the Unix epoch, as time.time()) without a Python call:
 * clock_gettime where POSIX has it; on Windows, which has no clock_gettime, C11's
 * timespec_get from the Universal CRT that every supported CPython is built with.
 */
#ifndef MCPAUTH_CLOCK_H
#define MCPAUTH_CLOCK_H

#include <time.h>

static inline double mcpauth_wall_clock(void)
{
    struct timespec ts;
#if defined(_WIN32)
    timespec_get(&ts, TIME_UTC);
#else
    clock_gettime(CLOCK_REALTIME, &ts);
#endif
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
