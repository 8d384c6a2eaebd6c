/* C helpers of the compiled hot path (ext/_speedups.pyx): what Cython cannot say directly. */
#ifndef MCPAUTH_HELPERS_H
#define MCPAUTH_HELPERS_H

#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* 1 for an ASCII str, 0 for another str, -1 with an exception set. Before 3.12 a str made
   through the legacy Py_UNICODE API may not be "ready" (no canonical buffer). */
static int mcpauth_is_ascii(PyObject *o)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(o) < 0)
        return -1;
#endif
    return PyUnicode_IS_ASCII(o) ? 1 : 0;
}

/* time.time()'s clock (C11 timespec_get: POSIX and Windows alike), without a Python call. */
static inline double mcpauth_wall_clock(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The front slot (of mask + 1) of an ASCII text of n bytes: its length and its last 16 bytes
   (a token's signature) mixed. No hash of the whole token: that is what the front saves. */
static inline Py_ssize_t mcpauth_front_slot(const unsigned char *p, Py_ssize_t n,
                                            Py_ssize_t mask)
{
    uint64_t a = 0, b = 0, h;
    Py_ssize_t i;
    if (n >= 16) {
        memcpy(&a, p + n - 8, 8);
        memcpy(&b, p + n - 16, 8);
    } else {
        for (i = 0; i < n; i++)
            a = (a << 8 | a >> 56) ^ p[i];
    }
    h = (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)n) * 0xBF58476D1CE4E5B9ULL;
    return (Py_ssize_t)((h ^ (h >> 31)) & (uint64_t)mask);
}

/* a[0..n) == b[0..n), in a time that depends on n alone: how long a prefix an attacker's
   token shares with a cached one is not told by the clock. */
static inline int mcpauth_same_bytes(const unsigned char *a, const unsigned char *b,
                                     Py_ssize_t n)
{
    uint64_t diff = 0, x, y;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }
    for (; i < n; i++)
        diff |= (uint64_t)(a[i] ^ b[i]);
    return diff == 0;
}

#endif /* MCPAUTH_HELPERS_H */
