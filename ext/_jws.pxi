# Step 4b: a compact JWS split, its segments decoded (JSON by the twin's orjson call), its
# header checked once per distinct header segment. A token that fails any step in C is
# handed whole to the twin's decode_jws, which raises its first error.

cdef object _orjson_loads = _py.orjson.loads


cdef bint _split(const unsigned char* data, Py_ssize_t n, Py_ssize_t limit,
                 Py_ssize_t* first_dot, Py_ssize_t* second_dot) noexcept:
    """The twin's _split_jws on an ASCII buffer: False where that raises."""
    cdef const unsigned char* p
    cdef Py_ssize_t first, second
    if n > limit:
        return False
    p = <const unsigned char*>memchr(data, c'.', n)
    if p == NULL:
        return False
    first = p - data
    p = <const unsigned char*>memchr(data + first + 1, c'.', n - first - 1)
    if p == NULL:
        return False
    second = p - data
    if (memchr(data + second + 1, c'.', n - second - 1) != NULL
            or first > _C_MAX_HEADER_SEGMENT
            or n - second - 1 > _C_MAX_SIGNATURE_SEGMENT or second + 1 == n):
        return False
    first_dot[0] = first
    second_dot[0] = second
    return True


cdef object _json_segment(const unsigned char* src, Py_ssize_t n, str what):
    """The JSON object of a base64url segment; None when it is not base64url."""
    cdef bytes raw = _b64_decode(src, n)
    cdef object value
    if raw is None:
        return None
    try:
        value = _orjson_loads(raw)
    except ValueError:  # orjson.JSONDecodeError
        value = None
    return value if type(value) is dict else _py._json_object(raw, what)


cdef object _decode_jws(object token, object max_token_bytes):
    cdef Py_ssize_t n, first, second, limit
    cdef const unsigned char* data
    cdef object header, payload, signature
    if (type(token) is str and _is_ascii(token) and _size_limit(max_token_bytes, &limit)):
        n = PyUnicode_GET_LENGTH(token)
        data = PyUnicode_1BYTE_DATA(token)
        if _split(data, n, limit, &first, &second):
            header = _json_segment(data, first, "header")
            if header is not None:
                payload = _json_segment(data + first + 1, second - first - 1, "payload")
                if payload is not None:
                    signature = _b64_decode(data + second + 1, n - second - 1)
                    if signature is not None:
                        return (header, payload,
                                PyBytes_FromStringAndSize(<const char*>data, second), signature)
    return _py.decode_jws(token, max_token_bytes)


def decode_jws(token, max_token_bytes=DEFAULT_MAX_TOKEN_BYTES):
    return _decode_jws(token, max_token_bytes)


@cython.final
cdef class TokenChecks:
    """Everything about a token that costs no signature, under one verifier's policy.

    ``check(token, now)`` is ``decode_jws``, ``check_header``, ``check_time_claims`` and the
    ``iss`` claim's type check in one call, with the same errors in the same order, and
    returns them as an ``Unverified`` record.

    A header segment that passed ``check_header`` is remembered (at most
    ``HEADER_MEMO_SIZE``; when full, the memory starts over): the tokens of one issuer share
    a few headers byte for byte, and a remembered one is neither decoded nor checked again.

    :param algorithms: the allow-list of JWS algorithms.
    :param typ: the required ``typ`` header, or None.
    :param max_token_bytes: tokens longer than this are refused before decoding.
    :param leeway: see ``check_time_claims``; so are ``require_exp`` and ``max_age``.
    """

    cdef readonly object algorithms, typ, max_token_bytes, leeway, require_exp, max_age
    cdef dict _headers  # header segment -> check_header's (alg, kid)

    def __init__(
        self,
        algorithms,
        typ=None,
        max_token_bytes=DEFAULT_MAX_TOKEN_BYTES,
        leeway=0.0,
        require_exp=True,
        max_age=None,
    ):
        self.algorithms = frozenset(algorithms)
        self.typ = typ
        self.max_token_bytes = max_token_bytes
        self.leeway = leeway
        self.require_exp = require_exp
        self.max_age = max_age
        self._headers = {}

    @property
    def remembered_headers(self):
        """How many checked header segments are remembered now."""
        return len(self._headers)

    def check(self, token, now):
        """Raises ``MCPAuthTokenVerificationException`` (``invalid_token``)."""
        return self._check(token, now)

    cdef object _check(self, object token, object now):
        cdef Py_ssize_t n, first, second, limit
        cdef const unsigned char* data
        cdef object checked = None, header = None, payload = None, signature = None
        cdef object segment = None, signing_input, valid_until, issuer
        if type(token) is str and _is_ascii(token) and _size_limit(self.max_token_bytes, &limit):
            n = PyUnicode_GET_LENGTH(token)
            data = PyUnicode_1BYTE_DATA(token)
            if _split(data, n, limit, &first, &second):
                segment = _ascii_str(data, first)
                checked = _get(self._headers, segment)
                if checked is None:
                    header = _json_segment(data, first, "header")
                if checked is not None or header is not None:
                    payload = _json_segment(data + first + 1, second - first - 1, "payload")
                if payload is not None:
                    signature = _b64_decode(data + second + 1, n - second - 1)
        if signature is None:  # odd input, or a step failed: the twin's code raises
            header, payload, signing_input, signature = _py.decode_jws(
                token, self.max_token_bytes)
            segment = None
        else:
            signing_input = PyBytes_FromStringAndSize(<const char*>data, second)
        if checked is None:
            checked = _py.check_header(header, self.algorithms, self.typ)
            if segment is not None:
                if len(self._headers) >= _C_HEADER_MEMO_SIZE:
                    self._headers.clear()
                self._headers[segment] = checked
        valid_until = _check_time_claims(payload, now, self.leeway, self.require_exp,
                                         self.max_age)
        issuer = _get(payload, "iss")
        if type(issuer) is not str or not issuer:
            issuer = _py._issuer_of(payload)
        # The record's own tuple.__new__, without the Python frame of its generated __new__.
        return _tuple_of_type(Unverified, (payload, signing_input, signature, checked[0],
                                       checked[1], issuer, valid_until))
