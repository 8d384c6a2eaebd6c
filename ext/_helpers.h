/* C helpers of the compiled hot path (ext/_speedups.pyx): what Cython cannot say directly. */
#ifndef MCPAUTH_HELPERS_H
#define MCPAUTH_HELPERS_H

#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* 1 when every byte of p[0..n) is one of RFC 6750's b64token characters (ALPHA, DIGIT and
   "-" "." "_" "~" "+" "/"; the trailing "=" are the caller's), else 0. table[c] is 1 for
   exactly those bytes; it decides the bytes after the last whole 16.
   16 bytes at a time where SSE2 is there (every x86-64 CPU: no runtime dispatch, and no wide
   vectors that would lower the core's clock): a quarter of the table loop's instructions on a
   700-byte token, 0.5 % of a new token's request end to end (e2e_instructions fast-distinct). */
static inline int mcpauth_all_b64token(const unsigned char *p, Py_ssize_t n,
                                       const unsigned char *table)
{
    Py_ssize_t i = 0;
    unsigned char all = 1;
#if defined(__SSE2__)
    /* Signed byte compares: bytes from 0x80 are negative, below every range here. */
    const __m128i upper_lo = _mm_set1_epi8('A' - 1), upper_hi = _mm_set1_epi8('Z' + 1);
    const __m128i lower_lo = _mm_set1_epi8('a' - 1), lower_hi = _mm_set1_epi8('z' + 1);
    const __m128i digit_lo = _mm_set1_epi8('0' - 1), digit_hi = _mm_set1_epi8('9' + 1);
    const __m128i punct_lo = _mm_set1_epi8('-' - 1), punct_hi = _mm_set1_epi8('/' + 1);
    const __m128i plus = _mm_set1_epi8('+'), under = _mm_set1_epi8('_');
    const __m128i tilde = _mm_set1_epi8('~');
    __m128i bad = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(v, upper_lo), _mm_cmplt_epi8(v, upper_hi));
        ok = _mm_or_si128(ok, _mm_and_si128(_mm_cmpgt_epi8(v, lower_lo),
                                            _mm_cmplt_epi8(v, lower_hi)));
        ok = _mm_or_si128(ok, _mm_and_si128(_mm_cmpgt_epi8(v, digit_lo),
                                            _mm_cmplt_epi8(v, digit_hi)));
        ok = _mm_or_si128(ok, _mm_and_si128(_mm_cmpgt_epi8(v, punct_lo),
                                            _mm_cmplt_epi8(v, punct_hi)));
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, plus));
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, under));
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, tilde));
        /* No early exit: a good token, the case to be fast for, is read to its end anyway. */
        bad = _mm_or_si128(bad, _mm_xor_si128(ok, _mm_set1_epi8(-1)));
    }
    if (_mm_movemask_epi8(bad) != 0)
        return 0;
#endif
    for (; i < n; i++)
        all &= table[p[i]];
    return all;
}

/* type(*items) for a tuple subclass such as a NamedTuple: what tuple.__new__(type, items)
   does, without looking the method up and calling it. */
static inline PyObject *mcpauth_tuple_of_type(PyObject *type, PyObject *items)
{
    PyObject *result, *args = PyTuple_Pack(1, items);
    if (args == NULL)
        return NULL;
    result = PyTuple_Type.tp_new((PyTypeObject *)type, args, NULL);
    Py_DECREF(args);
    return result;
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
