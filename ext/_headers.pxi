# Steps 1 and 2: the Authorization header of raw ASGI headers, and its bearer token.

# 1 for an RFC 6750 b64token character (ALPHA, DIGIT, "-._~+/"; the trailing "=" apart).
cdef unsigned char _B64TOKEN[256]


cdef void _init_b64token() noexcept:
    cdef const unsigned char* chars = (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
    )
    cdef int i
    for i in range(256):
        _B64TOKEN[i] = 0
    for i in range(68):
        _B64TOKEN[chars[i]] = 1


_init_b64token()


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline bint _is_authorization(const unsigned char* p) noexcept nogil:
    # bytes.lower() only folds A-Z; for a lowercase letter t, (c | 0x20) == t holds
    # exactly for c in {t, t - 0x20}, so this is ``p[:13].lower() == b"authorization"``.
    return (
        (p[0] | 0x20) == c'a' and (p[1] | 0x20) == c'u' and (p[2] | 0x20) == c't'
        and (p[3] | 0x20) == c'h' and (p[4] | 0x20) == c'o' and (p[5] | 0x20) == c'r'
        and (p[6] | 0x20) == c'i' and (p[7] | 0x20) == c'z' and (p[8] | 0x20) == c'a'
        and (p[9] | 0x20) == c't' and (p[10] | 0x20) == c'i' and (p[11] | 0x20) == c'o'
        and (p[12] | 0x20) == c'n'
    )


cdef object _find_authorization(object headers):
    # A list or tuple of (bytes, bytes) pairs, as ASGI servers send them, is scanned here;
    # at the first thing of another shape the twin takes the whole list (it unpacks and
    # fails as Python code does). No code runs before that, so its answer is the twin's.
    cdef object found = None, item, name, value
    if type(headers) is not list and type(headers) is not tuple:
        return _py.find_authorization(headers)
    for item in headers:
        if type(item) is tuple and _tuple_size(item) == 2:
            name = <object>_tuple_item(item, 0)
        elif type(item) is list and _list_size(item) == 2:
            name = <object>_list_item(item, 0)
        else:
            return _py.find_authorization(headers)
        if type(name) is not bytes:
            return _py.find_authorization(headers)
        if PyBytes_GET_SIZE(name) != 13 or not _is_authorization(
            <const unsigned char*>PyBytes_AS_STRING(name)
        ):
            continue
        value = item[1]
        if type(value) is not bytes:
            return _py.find_authorization(headers)
        if found is not None:
            raise _BearerError(_Code.INVALID_REQUEST)
        found = value
    return found


def find_authorization(headers):
    return _find_authorization(headers)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline Py_ssize_t _token_start(const unsigned char* buf, Py_ssize_t n) noexcept nogil:
    # Where the credentials start in ``Bearer`` SP *SP credentials (n when there are none),
    # or -1 when the value does not start with the scheme and a space.
    cdef Py_ssize_t start = 7
    if n < 7 or buf[6] != 0x20 or not (
        (buf[0] | 0x20) == c'b' and (buf[1] | 0x20) == c'e' and (buf[2] | 0x20) == c'a'
        and (buf[3] | 0x20) == c'r' and (buf[4] | 0x20) == c'e' and (buf[5] | 0x20) == c'r'
    ):
        return -1
    while start < n and buf[start] == 0x20:
        start += 1
    return start


cdef extern from "_helpers.h":
    bint _all_b64token "mcpauth_all_b64token" (
        const unsigned char* p, Py_ssize_t n, const unsigned char* table) noexcept nogil


cdef inline bint _is_b64token(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    # b64token characters, then "=" padding (not padding alone).
    while n > 0 and p[n - 1] == 0x3D:
        n -= 1
    return n > 0 and _all_b64token(p, n, _B64TOKEN)


cdef object _parse_bearer(object value, object max_token_bytes):
    # A well-formed value in C; anything else (another type, a malformed value: the error
    # to raise) is the twin's.
    cdef Py_ssize_t n, start, limit
    cdef const unsigned char* buf
    if type(value) is not bytes or not _size_limit(max_token_bytes, &limit):
        return _py.parse_bearer(value, max_token_bytes)
    buf = <const unsigned char*>PyBytes_AS_STRING(value)
    n = PyBytes_GET_SIZE(value)
    start = _token_start(buf, n)
    if start < 0 or start == n or n - start > limit or not _is_b64token(buf + start, n - start):
        return _py.parse_bearer(value, max_token_bytes)
    return _ascii_str(buf + start, n - start)


def parse_bearer(value, max_token_bytes=DEFAULT_MAX_TOKEN_BYTES):
    return _parse_bearer(value, max_token_bytes)


def bearer_token(headers, max_token_bytes=DEFAULT_MAX_TOKEN_BYTES):
    return _parse_bearer(_find_authorization(headers), max_token_bytes)
