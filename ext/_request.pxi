# What of a request needs a look beyond its token (an Origin header, a form body): one C scan
# of the raw headers, so that the common request (neither) pays next to nothing for it.

cdef int _C_ORIGIN_HEADER = ORIGIN_HEADER
cdef int _C_FORM_BODY = FORM_BODY


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline bint _starts_lower(const unsigned char* p, Py_ssize_t n, const char* lower,
                               Py_ssize_t m) noexcept nogil:
    # ``p[:m].lower() == lower`` (bytes.lower() folds A-Z only) for ``n >= m``.
    cdef Py_ssize_t i
    cdef unsigned char c
    if n < m:
        return False
    for i in range(m):
        c = p[i]
        if 0x41 <= c <= 0x5A:
            c += 0x20
        if c != <unsigned char>lower[i]:
            return False
    return True


cdef object _request_flags(object headers):
    # Exact list/tuple of (bytes, bytes) pairs here; at the first thing of another shape the
    # twin takes the whole list, as in _find_authorization.
    cdef int flags = 0
    cdef object item, name, value
    cdef Py_ssize_t n, start
    cdef const unsigned char* buf
    if type(headers) is not list and type(headers) is not tuple:
        return _py.request_flags(headers)
    for item in headers:
        if type(item) is tuple and _tuple_size(item) == 2:
            name = <object>_tuple_item(item, 0)
        elif type(item) is list and _list_size(item) == 2:
            name = <object>_list_item(item, 0)
        else:
            return _py.request_flags(headers)
        if type(name) is not bytes:
            return _py.request_flags(headers)
        n = PyBytes_GET_SIZE(name)
        buf = <const unsigned char*>PyBytes_AS_STRING(name)
        if n == 6 and _starts_lower(buf, n, b"origin", 6):
            flags |= _C_ORIGIN_HEADER
        elif n == 12 and _starts_lower(buf, n, b"content-type", 12):
            value = item[1]
            if type(value) is not bytes:
                return _py.request_flags(headers)
            buf = <const unsigned char*>PyBytes_AS_STRING(value)
            n = PyBytes_GET_SIZE(value)
            start = 0
            while start < n and (buf[start] == 0x20 or buf[start] == 0x09):
                start += 1
            if _starts_lower(buf + start, n - start, b"application/x-www-form-urlencoded", 33):
                flags |= _C_FORM_BODY
    return flags


def request_flags(headers):
    return _request_flags(headers)
