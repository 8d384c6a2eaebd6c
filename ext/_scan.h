/* Character-class scans of the request path, 16 bytes at a time where SSE2 is there (every
 * x86-64 CPU: no runtime dispatch, and no wide vectors that would lower the core's clock).
 */
#ifndef MCPAUTH_SCAN_H
#define MCPAUTH_SCAN_H

#include <Python.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* 1 when every byte of p[0..n) is one of RFC 6750's b64token characters (ALPHA, DIGIT and
   "-" "." "_" "~" "+" "/"; the trailing "=" are the caller's), else 0. table[c] is 1 for
   exactly those bytes; it decides the bytes after the last whole 16. */
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

#endif /* MCPAUTH_SCAN_H */
