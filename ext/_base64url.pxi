# Step 4a: strict base64url (url alphabet, no padding, canonical trailing bits), in C for
# ASCII text. On any failure the caller hands the input to the twin, whose code raises the
# error: no message is written twice.

# _B64_QUAD[k][c]: character c's six bits at position k of a quad, shifted into place in a
# 24-bit group, or _B64_BAD: a quad decodes with four loads and three ORs.
cdef unsigned int _B64_QUAD[4][256]
cdef enum:
    _B64_BAD = 0x01000000


cdef void _init_base64url() noexcept:
    cdef const unsigned char* alphabet = (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    cdef int i, k
    for i in range(256):
        for k in range(4):
            _B64_QUAD[k][i] = _B64_BAD
    for i in range(64):
        for k in range(4):
            _B64_QUAD[k][alphabet[i]] = <unsigned int>i << (18 - 6 * k)


_init_base64url()


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef bytes _b64_decode(const unsigned char* src, Py_ssize_t n):
    """The bytes of ``n`` base64url characters, or None when they are not strict base64url."""
    cdef Py_ssize_t full = n - n % 4, i = 0
    cdef unsigned int group
    cdef unsigned char* dst
    cdef bytes out
    if n % 4 == 1:
        return None
    out = PyBytes_FromStringAndSize(NULL, n // 4 * 3 + (n % 4 - 1 if n % 4 else 0))
    dst = <unsigned char*>PyBytes_AS_STRING(out)
    while i < full:
        group = (_B64_QUAD[0][src[i]] | _B64_QUAD[1][src[i + 1]]
                 | _B64_QUAD[2][src[i + 2]] | _B64_QUAD[3][src[i + 3]])
        if group & _B64_BAD:
            return None
        dst[0] = <unsigned char>(group >> 16)
        dst[1] = <unsigned char>(group >> 8)
        dst[2] = <unsigned char>group
        dst += 3
        i += 4
    if n - full >= 2:
        # The last 2 or 3 characters as the start of a quad; the bits past the last whole
        # byte must be zero (canonical).
        group = _B64_QUAD[0][src[i]] | _B64_QUAD[1][src[i + 1]]
        if n - full == 3:
            group |= _B64_QUAD[2][src[i + 2]]
        if group & _B64_BAD or group & (0xFFFF if n - full == 2 else 0xFF):
            return None
        dst[0] = <unsigned char>(group >> 16)
        if n - full == 3:
            dst[1] = <unsigned char>(group >> 8)
    return out


def b64url_decode(segment):
    cdef bytes out = None
    if type(segment) is str and _is_ascii(segment):
        out = _b64_decode(PyUnicode_1BYTE_DATA(segment), PyUnicode_GET_LENGTH(segment))
    return out if out is not None else _py.b64url_decode(segment)
