# cython: language_level=3, freethreading_compatible=True, annotation_typing=False
"""Compiled twin of ``src/mcpauth_fast/_speedups_py.py``: the per-request hot path.

Same names, signatures, results, exceptions and messages as the pure-Python module;
``_speedups.pyi`` is the contract both satisfy and ``_accel`` picks one of them.

Exact ``bytes`` / ``str`` / ``dict`` / ``float`` inputs take C paths that work on the raw
buffers; anything else (subclasses, odd types) runs the twin's own code, compiled, so
even odd inputs give the same results and the same errors. ``annotation_typing`` is off
so that annotations stay documentation (as in the twin) and never become type checks.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItemWithError
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsDouble, PyLong_AsLongLongAndOverflow
from cpython.object cimport PyObject
from cpython.unicode cimport (
    PyUnicode_1BYTE_DATA,
    PyUnicode_GET_LENGTH,
    PyUnicode_New,
)
from libc.math cimport INFINITY, floor, isfinite
from libc.string cimport memchr, memcmp, memcpy, memset

import binascii as _binascii
import math as _math
import re as _re
from types import MemberDescriptorType as _MemberDescriptorType

from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature as _encode_dss_signature,
)


from mcpauth_fast.exceptions import (
    BearerAuthExceptionCode as _BearerAuthExceptionCode,
    MCPAuthBearerAuthException as _MCPAuthBearerAuthException,
    MCPAuthBearerAuthExceptionDetails as _MCPAuthBearerAuthExceptionDetails,
    invalid_token as _invalid_token,
)
from mcpauth_fast.types import AuthInfo as _AuthInfo, FrozenList as _FrozenList

cdef extern from "_clock.h":
    double _wall_clock "mcpauth_wall_clock"() noexcept nogil


cdef extern from *:
    """
    /* 1 for an ASCII str, 0 for another str, -1 with an exception set. Before 3.12 a str
       made through the legacy Py_UNICODE API may not be "ready" (no canonical buffer). */
    static int __mcpauth_is_ascii(PyObject *o) {
    #if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(o) < 0)
            return -1;
    #endif
        return PyUnicode_IS_ASCII(o) ? 1 : 0;
    }

    /* ``a, b = v`` exactly as the interpreter's unpack_iterable does it (same calls in
       the same order, same messages), for the items of a header list that are not a
       list or tuple of two. */
    static int __mcpauth_unpack2(PyObject *v, PyObject **a, PyObject **b) {
        PyObject *it, *w;
        *a = *b = NULL;
        it = PyObject_GetIter(v);
        if (it == NULL) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)
                    && Py_TYPE(v)->tp_iter == NULL && !PySequence_Check(v)) {
                PyErr_Format(PyExc_TypeError, "cannot unpack non-iterable %.200s object",
                             Py_TYPE(v)->tp_name);
            }
            return -1;
        }
        *a = PyIter_Next(it);
        if (*a == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError,
                             "not enough values to unpack (expected %d, got %d)", 2, 0);
            goto error;
        }
        *b = PyIter_Next(it);
        if (*b == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError,
                             "not enough values to unpack (expected %d, got %d)", 2, 1);
            goto error;
        }
        w = PyIter_Next(it);
        if (w == NULL) {
            if (PyErr_Occurred())
                goto error;
            Py_DECREF(it);
            return 0;
        }
        Py_DECREF(w);
    #if PY_VERSION_HEX >= 0x030E0000
        if (PyList_CheckExact(v) || PyTuple_CheckExact(v) || PyDict_CheckExact(v)) {
            Py_ssize_t ll = PyDict_CheckExact(v) ? PyDict_Size(v) : Py_SIZE(v);
            if (ll > 2) {
                PyErr_Format(PyExc_ValueError,
                             "too many values to unpack (expected %d, got %zd)", 2, ll);
                goto error;
            }
        }
    #endif
        PyErr_Format(PyExc_ValueError, "too many values to unpack (expected %d)", 2);
    error:
        Py_XDECREF(*a);
        Py_XDECREF(*b);
        *a = *b = NULL;
        Py_DECREF(it);
        return -1;
    }
    """
    int _is_ascii "__mcpauth_is_ascii"(object o) except -1
    int _unpack2 "__mcpauth_unpack2"(object v, PyObject** a, PyObject** b) except -1
    # Declared here without Cython's ``except?`` checks: only ever called on exact types.
    Py_ssize_t _tuple_size "PyTuple_GET_SIZE"(object t) noexcept
    Py_ssize_t _list_size "PyList_GET_SIZE"(object t) noexcept
    PyObject* _tuple_item "PyTuple_GET_ITEM"(object t, Py_ssize_t i) noexcept
    PyObject* _list_item "PyList_GET_ITEM"(object t, Py_ssize_t i) noexcept
    void _decref "Py_DECREF"(PyObject* o) noexcept
    bint _str_is_ascii "PyUnicode_IS_ASCII"(object o) noexcept
    const Py_ssize_t PY_SSIZE_T_MAX

DEFAULT_MAX_TOKEN_BYTES = 8192
#: A JOSE header of an access token is a few dozen bytes; anything near this is an attack.
MAX_HEADER_SEGMENT = 2048
#: base64url length of a 1024-byte signature (RSA-8192), the largest we accept.
MAX_SIGNATURE_SEGMENT = 1366
MAX_KID_LENGTH = 512

cdef enum:
    _C_MAX_HEADER_SEGMENT = 2048
    _C_MAX_SIGNATURE_SEGMENT = 1366
    _C_MAX_KID_LENGTH = 512
    # |x| <= 2**52: an int that converts to a double exactly, and so does the sum of two
    # (``now + leeway`` is exact int arithmetic in the twin when both are ints).
    _EXACT_INT_BITS = 52

# The twin's tables, for the generic (odd input) paths.
_AUTHORIZATION = b"authorization"
_B64TOKEN = _re.compile(rb"[A-Za-z0-9\-._~+/]*")
_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE = {c: i for i, c in enumerate(_B64URL_ALPHABET)}
_B64URL_CHARS = frozenset(_B64URL_ALPHABET)
_B64URL = _re.compile("[A-Za-z0-9_-]*")
_TO_STD_ALPHABET = bytes.maketrans(b"-_", b"+/")
_TYP_PREFIX = "application/"

cdef object _MISSING_AUTH_HEADER = _BearerAuthExceptionCode.MISSING_AUTH_HEADER
cdef object _INVALID_AUTH_HEADER_FORMAT = _BearerAuthExceptionCode.INVALID_AUTH_HEADER_FORMAT
cdef object _MISSING_BEARER_TOKEN = _BearerAuthExceptionCode.MISSING_BEARER_TOKEN
cdef object _INVALID_REQUEST = _BearerAuthExceptionCode.INVALID_REQUEST
cdef object _INVALID_ISSUER = _BearerAuthExceptionCode.INVALID_ISSUER
cdef object _INVALID_AUDIENCE = _BearerAuthExceptionCode.INVALID_AUDIENCE
cdef object _MISSING_REQUIRED_SCOPES = _BearerAuthExceptionCode.MISSING_REQUIRED_SCOPES

# The C tables: 1 for an RFC 6750 b64token character; 0..63 for a base64url character,
# 0xFF (high bit set) for anything else. Indexed by an unsigned char, never out of bounds.
cdef unsigned char _TOKEN68_TABLE[256]
cdef unsigned char _B64_TABLE[256]
# _B64_QUAD[k][c]: character c's six bits at position k of a quad, shifted into place in a
# 24-bit group, or _B64_QUAD_BAD: a quad decodes with four loads and three ORs.
cdef unsigned int _B64_QUAD[4][256]
cdef enum:
    _B64_QUAD_BAD = 0x01000000


cdef void _init_tables() noexcept:
    cdef const unsigned char* token68 = (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
    )
    cdef const unsigned char* alphabet = (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    cdef int i, k
    memset(_TOKEN68_TABLE, 0, 256)
    memset(_B64_TABLE, 0xFF, 256)
    for i in range(68):
        _TOKEN68_TABLE[token68[i]] = 1
    for i in range(64):
        _B64_TABLE[alphabet[i]] = <unsigned char>i
    for i in range(256):
        for k in range(4):
            if _B64_TABLE[i] & 0x80:
                _B64_QUAD[k][i] = _B64_QUAD_BAD
            else:
                _B64_QUAD[k][i] = <unsigned int>_B64_TABLE[i] << (18 - 6 * k)


_init_tables()


# ---------------------------------------------------------------------------- helpers


cdef inline str _ascii_str(const unsigned char* data, Py_ssize_t n):
    """A str of ``n`` bytes already known to be ASCII (no second validation pass)."""
    cdef str result = PyUnicode_New(n, 127)
    memcpy(PyUnicode_1BYTE_DATA(result), data, n)
    return result


cdef inline object _get(object mapping, object key):
    """``mapping.get(key)``, without the method call for an exact dict."""
    cdef PyObject* p
    if type(mapping) is dict:
        p = PyDict_GetItemWithError(mapping, key)
        if p == NULL:
            return None
        return <object>p
    return mapping.get(key)


cdef int _exceeds(Py_ssize_t size, object limit) except -1:
    """``size > limit`` with Python semantics, in C when ``limit`` is an exact int."""
    cdef int overflow = 0
    cdef long long value
    if type(limit) is int:
        value = PyLong_AsLongLongAndOverflow(limit, &overflow)
        if overflow:
            return overflow < 0
        return size > value
    return bool(<object>size > limit)


cdef inline bint _exact_double(object value, double* out) noexcept:
    """A float, or an int small enough to convert exactly: C arithmetic then matches Python's."""
    cdef int overflow = 0
    cdef long long v
    if type(value) is float:
        out[0] = PyFloat_AS_DOUBLE(value)
        return True
    if type(value) is int:
        v = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow == 0 and -(1LL << _EXACT_INT_BITS) <= v <= (1LL << _EXACT_INT_BITS):
            out[0] = <double>v
            return True
    return False


# ---------------------------------------------------------------------------- headers


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
    cdef object found = None
    cdef object item, name, value
    cdef PyObject* a
    cdef PyObject* b
    for item in headers:
        if type(item) is tuple and _tuple_size(item) == 2:
            name = <object>_tuple_item(item, 0)
            value = <object>_tuple_item(item, 1)
        elif type(item) is list and _list_size(item) == 2:
            name = <object>_list_item(item, 0)
            value = <object>_list_item(item, 1)
        else:
            _unpack2(item, &a, &b)
            # _unpack2 returned new references: Cython now holds its own, drop those.
            name = <object>a
            value = <object>b
            _decref(a)
            _decref(b)
        if type(name) is bytes:
            if PyBytes_GET_SIZE(name) != 13 or not _is_authorization(
                <const unsigned char*>PyBytes_AS_STRING(name)
            ):
                continue
        elif not (len(name) == 13 and name.lower() == _AUTHORIZATION):
            continue
        if found is not None:
            raise _MCPAuthBearerAuthException(_INVALID_REQUEST)
        found = value if type(value) is bytes else bytes(value)
    return found


def find_authorization(headers: Iterable[Any]) -> bytes | None:
    """The value of the one ``authorization`` header in raw ASGI ``scope["headers"]``.

    Returns None when absent. Raises ``MCPAuthBearerAuthException`` (``invalid_request``)
    when present more than once. Names are compared case-insensitively.
    """
    return _find_authorization(headers)


cdef extern from "_scan.h":
    bint _all_b64token "mcpauth_all_b64token" (
        const unsigned char* p, Py_ssize_t n, const unsigned char* table
    ) noexcept nogil


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline bint _is_bearer(const unsigned char* p) noexcept nogil:
    # ``p[:6].lower() == b"bearer"``, see _is_authorization.
    return (
        (p[0] | 0x20) == c'b' and (p[1] | 0x20) == c'e' and (p[2] | 0x20) == c'a'
        and (p[3] | 0x20) == c'r' and (p[4] | 0x20) == c'e' and (p[5] | 0x20) == c'r'
    )


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline Py_ssize_t _token_start(const unsigned char* buf, Py_ssize_t n) noexcept nogil:
    # Where the credentials start in ``Bearer`` SP *SP credentials (n when there are none),
    # or -1 when the value does not start with the scheme and a space.
    cdef Py_ssize_t start = 7
    if n < 7 or not _is_bearer(buf) or buf[6] != 0x20:
        return -1
    while start < n and buf[start] == 0x20:
        start += 1
    return start


@cython.boundscheck(False)
@cython.wraparound(False)
cdef object _parse_bearer(object value, object max_token_bytes):
    if type(value) is not bytes:
        return _parse_bearer_generic(value, max_token_bytes)
    cdef const unsigned char* buf = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
    cdef Py_ssize_t start, end
    if n == 0:
        raise _MCPAuthBearerAuthException(_MISSING_AUTH_HEADER)
    start = _token_start(buf, n)
    if start < 0:
        raise _MCPAuthBearerAuthException(_INVALID_AUTH_HEADER_FORMAT)
    if start == n:
        raise _MCPAuthBearerAuthException(_MISSING_BEARER_TOKEN)
    if _exceeds(n - start, max_token_bytes):
        raise _invalid_token(f"token is larger than {max_token_bytes} bytes")
    end = n
    while end > start and buf[end - 1] == 0x3D:  # trailing "=" padding is part of b64token
        end -= 1
    if end == start:
        raise _MCPAuthBearerAuthException(_INVALID_AUTH_HEADER_FORMAT)
    if not _all_b64token(buf + start, end - start, _TOKEN68_TABLE):
        raise _MCPAuthBearerAuthException(_INVALID_AUTH_HEADER_FORMAT)
    return _ascii_str(buf + start, n - start)


cdef object _parse_bearer_generic(object value, object max_token_bytes):
    # The twin's code, for anything but an exact bytes object.
    cdef object n, start, end, i
    if not value:
        raise _MCPAuthBearerAuthException(_MISSING_AUTH_HEADER)
    n = len(value)
    if n < 6 or value[:6].lower() != b"bearer" or (n > 6 and value[6] != 0x20):
        raise _MCPAuthBearerAuthException(_INVALID_AUTH_HEADER_FORMAT)
    if n == 6:
        raise _MCPAuthBearerAuthException(_INVALID_AUTH_HEADER_FORMAT)
    start = 7
    while start < n and value[start] == 0x20:
        start += 1
    if start == n:
        raise _MCPAuthBearerAuthException(_MISSING_BEARER_TOKEN)
    if n - start > max_token_bytes:
        raise _invalid_token(f"token is larger than {max_token_bytes} bytes")
    end = n
    while end > start and value[end - 1] == 0x3D:
        end -= 1
    if end == start:
        raise _MCPAuthBearerAuthException(_INVALID_AUTH_HEADER_FORMAT)
    if _B64TOKEN.fullmatch(value, start, end) is None:
        raise _MCPAuthBearerAuthException(_INVALID_AUTH_HEADER_FORMAT)
    return value[start:].decode("ascii")


def parse_bearer(value: bytes | None, max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value.

    The scheme is case-insensitive and separated from the token by one or more spaces
    (RFC 7235); the token is an RFC 6750 ``b64token``. Raises ``MCPAuthBearerAuthException``
    with ``missing_auth_header`` (None or empty), ``invalid_auth_header_format`` (another
    scheme, no separator, extra parts, characters outside b64token) or
    ``missing_bearer_token`` (nothing after the scheme), and ``invalid_token`` when the
    token is longer than ``max_token_bytes``.
    """
    return _parse_bearer(value, max_token_bytes)


def bearer_token(headers: Iterable[Any], max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> str:
    """``parse_bearer(find_authorization(headers))``: the token of an ASGI request."""
    return _parse_bearer(_find_authorization(headers), max_token_bytes)


# ---------------------------------------------------------------------------- base64url

cdef enum:
    _B64_OK = 0
    _B64_BAD_LENGTH = 1
    _B64_BAD_CHARACTER = 2
    _B64_NON_CANONICAL = 3

cdef tuple _B64_MESSAGES = (
    None,
    "invalid base64url length",
    "invalid base64url character",
    "non-canonical base64url",
)


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef int _b64_decode(
    const unsigned char* src, Py_ssize_t n, unsigned char* dst
) noexcept nogil:
    """Decode ``n`` base64url characters (``n % 4 != 1``) into ``dst`` (``n * 3 // 4`` bytes).

    Every character is checked before the trailing bits, so the first error reported is
    the twin's: a bad character anywhere wins over non-canonical trailing bits.
    """
    cdef Py_ssize_t full = n - n % 4
    cdef Py_ssize_t i = 0
    cdef unsigned int a, b, c, d, group
    while i < full:
        group = (_B64_QUAD[0][src[i]] | _B64_QUAD[1][src[i + 1]]
                 | _B64_QUAD[2][src[i + 2]] | _B64_QUAD[3][src[i + 3]])
        if group & _B64_QUAD_BAD:
            return _B64_BAD_CHARACTER
        dst[0] = <unsigned char>(group >> 16)
        dst[1] = <unsigned char>(group >> 8)
        dst[2] = <unsigned char>group
        dst += 3
        i += 4
    if n - full == 2:
        a = _B64_TABLE[src[i]]
        b = _B64_TABLE[src[i + 1]]
        if (a | b) & 0x80:
            return _B64_BAD_CHARACTER
        if b & 0x0F:
            return _B64_NON_CANONICAL
        dst[0] = <unsigned char>((a << 2) | (b >> 4))
    elif n - full == 3:
        a = _B64_TABLE[src[i]]
        b = _B64_TABLE[src[i + 1]]
        c = _B64_TABLE[src[i + 2]]
        if (a | b | c) & 0x80:
            return _B64_BAD_CHARACTER
        if c & 0x03:
            return _B64_NON_CANONICAL
        dst[0] = <unsigned char>((a << 2) | (b >> 4))
        dst[1] = <unsigned char>(((b & 0x0F) << 4) | (c >> 2))
    return _B64_OK


@cython.cdivision(True)
cdef bytes _b64_decode_ascii(const unsigned char* src, Py_ssize_t n, int* error):
    """Decode an ASCII buffer; on failure set ``error`` and return None (no exception)."""
    cdef bytes out
    cdef int rc
    if n % 4 == 1:
        error[0] = _B64_BAD_LENGTH
        return None
    out = PyBytes_FromStringAndSize(NULL, n // 4 * 3 + (n % 4 - 1 if n % 4 else 0))
    rc = _b64_decode(src, n, <unsigned char*>PyBytes_AS_STRING(out))
    if rc != _B64_OK:
        error[0] = rc
        return None
    return out


cdef object _b64url_decode(object segment):
    cdef int error = _B64_OK
    cdef bytes out
    cdef int ascii
    if type(segment) is not str:
        return _b64url_decode_generic(segment)
    ascii = _is_ascii(segment)
    # The twin's order: the length first, then the characters.
    if PyUnicode_GET_LENGTH(segment) % 4 == 1:
        raise ValueError(_B64_MESSAGES[_B64_BAD_LENGTH])
    if not ascii:  # a non-ASCII character is never in the alphabet
        raise ValueError(_B64_MESSAGES[_B64_BAD_CHARACTER])
    out = _b64_decode_ascii(PyUnicode_1BYTE_DATA(segment), PyUnicode_GET_LENGTH(segment), &error)
    if error:
        raise ValueError(_B64_MESSAGES[error])
    return out


cdef object _b64url_decode_generic(object segment):
    # The twin's code, for anything but an exact str.
    cdef object n, c, last, padded
    n = len(segment)
    if n % 4 == 1:
        raise ValueError("invalid base64url length")
    if isinstance(segment, str):
        if _B64URL.fullmatch(segment) is None:
            raise ValueError("invalid base64url character")
    elif not all(c in _B64URL_CHARS for c in segment):
        raise ValueError("invalid base64url character")
    if n % 4:
        last = _B64URL_VALUE[segment[-1]]
        if last & (0x0F if n % 4 == 2 else 0x03):
            raise ValueError("non-canonical base64url")
    padded = segment.encode("ascii").translate(_TO_STD_ALPHABET) + b"=" * (-n % 4)
    return _binascii.a2b_base64(padded)


def b64url_decode(segment: str) -> bytes:
    """Strict base64url (RFC 7515 section 2): url alphabet, no padding, canonical last bits.

    Raises ``ValueError`` on anything else.
    """
    return _b64url_decode(segment)


# ---------------------------------------------------------------------------- JWS


cdef extern from "_json.h":
    object _json_loads "mcpauth_json_loads" (const char* data, Py_ssize_t n)
    int _json_init "mcpauth_json_init" () except -1


_json_init()


cdef dict _json_object(bytes raw, str what):
    # The twin's orjson.loads, in scalar C: see _json.h for why.
    cdef object value
    try:
        value = _json_loads(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
    except ValueError:
        raise _invalid_token(f"{what}: invalid JSON") from None
    if type(value) is not dict:
        raise _invalid_token(f"{what}: not a JSON object")
    return <dict>value


cdef dict _decode_json_segment(const unsigned char* src, Py_ssize_t n, str what):
    cdef int error = _B64_OK
    cdef bytes raw = _b64_decode_ascii(src, n, &error)
    if error:
        raise _invalid_token(f"{what}: {_B64_MESSAGES[error]}") from None
    return _json_object(raw, what)


cdef dict _decode_json_object_generic(object segment, str what):
    # The twin's _decode_json_object.
    cdef object raw
    try:
        raw = _b64url_decode(segment)
    except ValueError as exc:
        raise _invalid_token(f"{what}: {exc}") from None
    return _json_object(raw, what)


cdef int _split_ascii(
    const unsigned char* data, Py_ssize_t n, object max_token_bytes,
    Py_ssize_t* first_dot, Py_ssize_t* second_dot,
) except -1:
    # The twin's _split_jws on the buffer of an ASCII str.
    cdef Py_ssize_t first, second
    cdef const unsigned char* p
    if _exceeds(n, max_token_bytes):
        raise _invalid_token(f"token is larger than {max_token_bytes} bytes")
    p = <const unsigned char*>memchr(data, c'.', n)
    first = p - data if p != NULL else -1
    second = -1
    if first >= 0:
        p = <const unsigned char*>memchr(data + first + 1, c'.', n - first - 1)
        second = p - data if p != NULL else -1
    if second < 0 or memchr(data + second + 1, c'.', n - second - 1) != NULL:
        raise _invalid_token("token is not a compact JWS (three segments)")
    if first > _C_MAX_HEADER_SEGMENT:
        raise _invalid_token("header segment is too large")
    if n - second - 1 > _C_MAX_SIGNATURE_SEGMENT:
        raise _invalid_token("signature segment is too large")
    if second + 1 == n:
        raise _invalid_token("signature is empty")
    first_dot[0] = first
    second_dot[0] = second
    return 0


cdef bytes _signature_ascii(const unsigned char* data, Py_ssize_t n, Py_ssize_t second):
    cdef int error = _B64_OK
    cdef bytes signature = _b64_decode_ascii(data + second + 1, n - second - 1, &error)
    if error:
        raise _invalid_token(f"signature: {_B64_MESSAGES[error]}") from None
    return signature


cdef tuple _decode_rest_ascii(const unsigned char* data, Py_ssize_t n, Py_ssize_t first,
                              Py_ssize_t second):
    # The twin's _decode_rest: (payload, signing_input, signature).
    cdef dict payload = _decode_json_segment(data + first + 1, second - first - 1, "payload")
    cdef bytes signature = _signature_ascii(data, n, second)
    return (payload, PyBytes_FromStringAndSize(<const char*>data, second), signature)


cdef object _decode_jws(object token, object max_token_bytes):
    cdef Py_ssize_t n, first, second
    cdef const unsigned char* data
    cdef dict header
    if type(token) is not str or not _is_ascii(token):
        return _decode_jws_generic(token, max_token_bytes)
    n = PyUnicode_GET_LENGTH(token)
    data = PyUnicode_1BYTE_DATA(token)
    _split_ascii(data, n, max_token_bytes, &first, &second)
    header = _decode_json_segment(data, first, "header")
    return (header,) + _decode_rest_ascii(data, n, first, second)


cdef object _decode_jws_generic(object token, object max_token_bytes):
    # The twin's code, for anything but an ASCII exact str.
    cdef object n, first, second, header, payload, signature
    n = len(token)
    if n > max_token_bytes:
        raise _invalid_token(f"token is larger than {max_token_bytes} bytes")
    first = token.find(".")
    second = token.find(".", first + 1) if first >= 0 else -1
    if second < 0 or token.find(".", second + 1) >= 0:
        raise _invalid_token("token is not a compact JWS (three segments)")
    if first > MAX_HEADER_SEGMENT:
        raise _invalid_token("header segment is too large")
    if n - second - 1 > MAX_SIGNATURE_SEGMENT:
        raise _invalid_token("signature segment is too large")
    if second + 1 == n:
        raise _invalid_token("signature is empty")
    header = _decode_json_object_generic(token[:first], "header")
    payload = _decode_json_object_generic(token[first + 1 : second], "payload")
    try:
        signature = _b64url_decode(token[second + 1 :])
    except ValueError as exc:
        raise _invalid_token(f"signature: {exc}") from None
    return header, payload, token[:second].encode("ascii"), signature


def decode_jws(
    token: str, max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES
) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Split and decode a compact JWS: ``(header, payload, signing_input, signature)``.

    Sizes are checked before anything is decoded. Raises ``MCPAuthTokenVerificationException``
    (``invalid_token``) for a token that is not exactly three strict base64url segments whose
    first two are JSON objects, or that exceeds a size cap.
    """
    return _decode_jws(token, max_token_bytes)


# ---------------------------------------------------------------------------- ECDSA


cdef inline Py_ssize_t _der_integer(const unsigned char* p, Py_ssize_t n, Py_ssize_t* skip):
    # The DER content length of the unsigned big-endian ``p[:n]``: leading zero bytes dropped
    # (one kept for 0), a zero byte added when the first one left has its high bit set.
    cdef Py_ssize_t i = 0
    while i < n - 1 and p[i] == 0:
        i += 1
    skip[0] = i
    return n - i + (1 if p[i] & 0x80 else 0)


cdef unsigned char* _put_der_integer(unsigned char* out, const unsigned char* p, Py_ssize_t n,
                                     Py_ssize_t skip, Py_ssize_t length) noexcept:
    out[0] = 0x02
    out[1] = <unsigned char>length
    out += 2
    if length > n - skip:
        out[0] = 0
        out += 1
    memcpy(out, p + skip, n - skip)
    return out + n - skip


def ecdsa_der(signature: bytes, size: int) -> bytes:
    """The DER ``SEQUENCE { INTEGER r, INTEGER s }`` that OpenSSL verifies, of a JWS ECDSA
    signature ``r || s`` (RFC 7518 section 3.4) whose halves are ``size`` bytes each.

    Raises ``ValueError`` for a signature of another length (a DER or truncated one).
    """
    cdef const unsigned char* p
    cdef Py_ssize_t k, skip_r, skip_s, len_r, len_s, content
    cdef bytes out
    cdef unsigned char* o
    if type(signature) is not bytes or type(size) is not int or not 0 < size <= 66:
        return _ecdsa_der_generic(signature, size)  # 66: P-521, the largest curve
    k = size
    if PyBytes_GET_SIZE(signature) != 2 * k:
        raise ValueError("ECDSA signature is not r || s of the curve's size")
    p = <const unsigned char*>PyBytes_AS_STRING(signature)
    len_r = _der_integer(p, k, &skip_r)
    len_s = _der_integer(p + k, k, &skip_s)
    content = 4 + len_r + len_s  # at most 138: one length byte, after 0x81 from 128 on
    out = PyBytes_FromStringAndSize(NULL, content + (3 if content >= 128 else 2))
    o = <unsigned char*>PyBytes_AS_STRING(out)
    o[0] = 0x30
    if content >= 128:
        o[1] = 0x81
        o[2] = <unsigned char>content
        o += 3
    else:
        o[1] = <unsigned char>content
        o += 2
    o = _put_der_integer(o, p, k, skip_r, len_r)
    _put_der_integer(o, p + k, k, skip_s, len_s)
    return out


cdef object _ecdsa_der_generic(object signature, object size):
    # The twin's code, for anything but exact bytes and a curve's size.
    if len(signature) != 2 * size:
        raise ValueError("ECDSA signature is not r || s of the curve's size")
    return _encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )


def check_header(
    header: dict[str, Any], algorithms: frozenset[str], typ: str | None = None
) -> tuple[str, str | None]:
    """Check a JOSE header against the caller's policy; return ``(alg, kid)``.

    ``alg`` must be a string in ``algorithms`` (the caller's allow-list, never the token's
    choice); ``kid``, when present, a string of at most 512 characters; ``crit`` is rejected
    (no extension is understood); with ``typ``, the header's ``typ`` must equal it
    case-insensitively, with or without the ``application/`` prefix (RFC 7515 4.1.9).
    Raises ``MCPAuthTokenVerificationException`` (``invalid_token``).
    """
    return _check_header(header, algorithms, typ)


cdef tuple _check_header(object header, object algorithms, object typ):
    cdef object alg, kid, actual
    alg = _get(header, "alg")
    if type(alg) is not str:
        raise _invalid_token("header: alg is missing or not a string")
    if alg not in algorithms:
        raise _invalid_token("header: alg is not allowed")
    kid = _get(header, "kid")
    if kid is not None:
        if type(kid) is not str:
            raise _invalid_token("header: kid is not a string")
        if len(<str>kid) > _C_MAX_KID_LENGTH:
            raise _invalid_token("header: kid is too long")
    if "crit" in header:
        raise _invalid_token("header: unsupported critical header parameter")
    if typ is not None:
        actual = _get(header, "typ")
        if type(actual) is not str or not _typ_matches(actual, typ):
            raise _invalid_token("header: typ does not match")
    return alg, kid


cdef object _typ_matches(object actual, object expected):
    actual = actual.lower()
    expected = expected.lower()
    if actual.startswith(_TYP_PREFIX):
        actual = actual[12:]
    if expected.startswith(_TYP_PREFIX):
        expected = expected[12:]
    return actual == expected


# ---------------------------------------------------------------------------- claims


cdef inline double _int_as_double(object value) except? -1.0:
    # float(value) for an exact int. Through long long when it fits: the conversion rounds to
    # nearest, ties to even, as PyLong_AsDouble does, without its general path (an epoch
    # time has two 30-bit digits, past PyLong_AsDouble's one-digit shortcut).
    cdef int overflow = 0
    cdef long long fits = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow == 0:
        return <double>fits
    return PyLong_AsDouble(value)


cdef int _numeric_claim(object claims, str name, str not_a_number, double* out) except -1:
    """The twin's _numeric_claim: 0 when absent or null-and-absent, 1 with ``out`` set."""
    cdef object value = _get(claims, name)
    if value is None:
        if name in claims:
            raise _invalid_token(not_a_number)
        return 0
    if type(value) is float:
        out[0] = PyFloat_AS_DOUBLE(value)
    elif type(value) is int:
        try:
            out[0] = _int_as_double(value)
        except OverflowError:
            raise _invalid_token(not_a_number) from None
    else:
        raise _invalid_token(not_a_number)
    if not isfinite(out[0]):
        raise _invalid_token(not_a_number)
    return 1


def check_time_claims(
    claims: dict[str, Any],
    now: float,
    leeway: float = 0.0,
    require_exp: bool = True,
    max_age: float | None = None,
) -> float:
    """Check ``exp``, ``nbf`` and ``iat`` at time ``now`` (seconds since the epoch).

    Each present claim must be a finite JSON number that fits a double (int or float; not a
    string, bool, null, NaN or infinity).
    ``exp`` is required unless ``require_exp`` is false; the token is expired when
    ``floor(exp) <= now - leeway`` (PyJWT's rule). ``nbf`` and ``iat`` may not be later than
    ``now + leeway``. With ``max_age``, ``iat`` is required and ``now - iat`` may not exceed
    ``max_age + leeway``. Returns the time until which a cached verification stays valid
    (``inf`` when the token never expires). Raises ``MCPAuthTokenVerificationException``.
    """
    return _check_time_claims(claims, now, leeway, require_exp, max_age)


cdef object _check_time_claims(
    object claims, object now, object leeway, object require_exp, object max_age
):
    cdef double exp = 0.0, nbf = 0.0, iat = 0.0
    cdef double now_d = 0.0, leeway_d = 0.0, max_age_d = 0.0, valid_until, too_old_at
    cdef bint has_exp, has_nbf, has_iat
    has_exp = _numeric_claim(claims, "exp", "claim exp is not a number", &exp)
    has_nbf = _numeric_claim(claims, "nbf", "claim nbf is not a number", &nbf)
    has_iat = _numeric_claim(claims, "iat", "claim iat is not a number", &iat)
    # C doubles only where IEEE arithmetic is exactly what the twin computes (floats, and
    # ints that convert exactly); anything else (a huge int compares exactly, a bool or
    # a Decimal has its own arithmetic) runs the twin's code on Python objects.
    if not (
        _exact_double(leeway, &leeway_d)
        and _exact_double(now, &now_d)
        and (max_age is None or _exact_double(max_age, &max_age_d))
    ):
        return _check_time_claims_generic(
            <object>exp if has_exp else None,
            <object>nbf if has_nbf else None,
            <object>iat if has_iat else None,
            now, leeway, require_exp, max_age,
        )
    valid_until = INFINITY
    if not has_exp:
        if require_exp:
            raise _invalid_token("claim exp is required")
    else:
        # float(math.floor(-0.0)) is +0.0 (it went through an int): add +0.0 likewise.
        valid_until = floor(exp) + 0.0 + leeway_d
        if valid_until <= now_d:
            raise _invalid_token("token has expired")
    if has_nbf and nbf > now_d + leeway_d:
        raise _invalid_token("token is not yet valid (nbf)")
    if has_iat and iat > now_d + leeway_d:
        raise _invalid_token("token is issued in the future (iat)")
    if max_age is not None:
        if not has_iat:
            raise _invalid_token("claim iat is required")
        too_old_at = iat + max_age_d + leeway_d
        if too_old_at < now_d:
            raise _invalid_token("token is too old (iat)")
        if too_old_at < valid_until:
            valid_until = too_old_at
    return valid_until


cdef object _check_time_claims_generic(
    object exp, object nbf, object iat, object now, object leeway, object require_exp,
    object max_age,
):
    # The twin's code on Python objects, for the inputs C doubles would not reproduce.
    cdef object valid_until = _math.inf, too_old_at
    if exp is None:
        if require_exp:
            raise _invalid_token("claim exp is required")
    else:
        valid_until = float(_math.floor(exp)) + leeway
        if valid_until <= now:
            raise _invalid_token("token has expired")
    if nbf is not None and nbf > now + leeway:
        raise _invalid_token("token is not yet valid (nbf)")
    if iat is not None and iat > now + leeway:
        raise _invalid_token("token is issued in the future (iat)")
    if max_age is not None:
        if iat is None:
            raise _invalid_token("claim iat is required")
        too_old_at = iat + max_age + leeway
        if too_old_at < now:
            raise _invalid_token("token is too old (iat)")
        if too_old_at < valid_until:
            valid_until = too_old_at
    return valid_until


#: Distinct JOSE headers a TokenChecks remembers as checked. An issuer signs with a handful
#: of keys, so its tokens carry a handful of distinct headers; the bound is for attackers.
HEADER_MEMO_SIZE = 16
cdef Py_ssize_t _C_HEADER_MEMO_SIZE = 16


@cython.final
cdef class TokenChecks:
    """Everything about a token that costs no signature, under one verifier's policy.

    ``check(token, now)`` is ``decode_jws``, ``check_header``, ``check_time_claims`` and the
    ``iss`` claim's type check in one call, with the same errors in the same order, and
    returns ``(payload, signing_input, signature, alg, kid, issuer, valid_until)``.

    A header segment that passed ``check_header`` is remembered (at most
    ``HEADER_MEMO_SIZE``; when full, the memory starts over): the tokens of one issuer share
    a few headers byte for byte, and a remembered one is neither decoded nor checked again.

    :param algorithms: the allow-list of JWS algorithms.
    :param typ: the required ``typ`` header, or None.
    :param max_token_bytes: tokens longer than this are refused before decoding.
    :param leeway: see ``check_time_claims``; so are ``require_exp`` and ``max_age``.
    """

    cdef readonly object algorithms, typ, max_token_bytes, leeway, require_exp, max_age
    cdef dict _headers
    cdef tuple _last  # (segment, checked) of the last header seen, also in _headers

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
        self._last = None

    @property
    def remembered_headers(self):
        """How many checked header segments are remembered now."""
        return len(self._headers)

    def check(self, token, now):
        """Raises ``MCPAuthTokenVerificationException`` (``invalid_token``)."""
        return self._check(token, now)

    cdef tuple _check(self, object token, object now):
        cdef Py_ssize_t n, first, second
        cdef const unsigned char* data
        cdef object checked, header = None, payload, signing_input, signature
        cdef object segment = None, valid_until, issuer
        if type(token) is not str or not _is_ascii(token):
            header, payload, signing_input, signature = _decode_jws_generic(
                token, self.max_token_bytes
            )
            checked = _check_header(header, self.algorithms, self.typ)
        else:
            n = PyUnicode_GET_LENGTH(token)
            data = PyUnicode_1BYTE_DATA(token)
            _split_ascii(data, n, self.max_token_bytes, &first, &second)
            checked = self._last_checked(data, first)
            if checked is None:
                segment = _ascii_str(data, first)
                checked = self._remembered(segment)
                if checked is None:
                    header = _decode_json_segment(data, first, "header")
            payload = _decode_json_segment(data + first + 1, second - first - 1, "payload")
            signature = _signature_ascii(data, n, second)
            signing_input = PyBytes_FromStringAndSize(<const char*>data, second)
            if header is not None:
                checked = _check_header(header, self.algorithms, self.typ)
                self._remember(segment, checked)
        valid_until = _check_time_claims(
            payload, now, self.leeway, self.require_exp, self.max_age
        )
        issuer = _get(payload, "iss")
        if type(issuer) is not str or not issuer:
            raise _invalid_token("claim iss is missing or not a string")
        return (payload, signing_input, signature, checked[0], checked[1], issuer, valid_until)

    cdef object _last_checked(self, const unsigned char* data, Py_ssize_t n):
        # The header segment of the last token, compared as bytes: most tokens in a row share
        # it, and then no str is built and nothing is hashed.
        cdef tuple last
        cdef str segment
        with cython.critical_section(self):
            last = self._last
        if last is not None:
            segment = <str>last[0]
            if (PyUnicode_GET_LENGTH(segment) == n
                    and memcmp(PyUnicode_1BYTE_DATA(segment), data, n) == 0):
                return last[1]
        return None

    cdef object _remembered(self, str segment):
        cdef PyObject* found = PyDict_GetItemWithError(self._headers, segment)
        if found == NULL:
            return None
        with cython.critical_section(self):
            self._last = (segment, <object>found)
        return <object>found

    cdef int _remember(self, str segment, object checked) except -1:
        if len(self._headers) >= _C_HEADER_MEMO_SIZE:
            self._headers.clear()
        self._headers[segment] = checked
        with cython.critical_section(self):
            self._last = (segment, checked)
        return 0


cdef int _split_scopes(object value, list out, set seen) except -1:
    cdef object scope, item
    if type(value) is str:
        for scope in (<str>value).split():
            if scope not in seen:
                seen.add(scope)
                out.append(scope)
    elif type(value) is list:
        for item in <list>value:
            if type(item) is not str:
                raise _invalid_token("scope claim is not a string or a list of strings")
            _split_scopes(item, out, seen)
    else:
        raise _invalid_token("scope claim is not a string or a list of strings")
    return 0


def extract_scopes(claims: dict[str, Any]) -> FrozenList:
    """The scopes of a token: ``scope``, or ``scopes`` when that is empty (mcpauth's
    ``scope or scopes``); ``scp`` only when both are absent or null.

    A claim is a space-separated string or a list of strings; it is split on runs of
    whitespace, empties dropped, order kept, duplicates removed. ``scope`` and ``scopes`` are
    both checked when present, as mcpauth checks both. Raises
    ``MCPAuthTokenVerificationException`` for a claim of any other type.
    """
    return _extract_scopes(claims)


cdef object _extract_scopes(object claims):
    cdef object name, value, scopes
    cdef object found = None
    for name in ("scope", "scopes"):
        value = _get(claims, name)
        if value is not None:
            scopes = _scopes_of(value)
            if not found:
                found = scopes
    if found is None:
        value = _get(claims, "scp")
        found = _scopes_of(value) if value is not None else _NO_SCOPES
    return found


# The scope strings seen lately and their scopes: a client's tokens carry the same string, and
# each verified token keeps its scopes in the cache; shared, they cost one list, not one each.
cdef Py_ssize_t _SCOPE_MEMO_SIZE = 1024
cdef Py_ssize_t _SCOPE_MEMO_MAX_CHARS = 256
cdef dict _scope_memo = {}
cdef object _NO_SCOPES = _FrozenList()


cdef object _scopes_of(object value):
    cdef PyObject* found
    cdef list out
    cdef bint memoized = type(value) is str and PyUnicode_GET_LENGTH(value) <= _SCOPE_MEMO_MAX_CHARS
    if memoized:
        found = PyDict_GetItemWithError(_scope_memo, value)
        if found != NULL:
            return <object>found
    out = []
    _split_scopes(value, out, set())
    scopes = _FrozenList(out)
    if memoized:
        if len(_scope_memo) >= _SCOPE_MEMO_SIZE:
            _scope_memo.clear()
        _scope_memo[value] = scopes
    return scopes


cdef object _string_claim(object claims, str name):
    cdef object value = _get(claims, name)
    if value is not None and type(value) is not str:
        raise _invalid_token(f"claim {name} is not a string")
    return value


cdef extern from *:
    """
    #include "structmember.h"
    /* Store value in the slot that member descriptor ``descr`` describes: what the slot's
       ``__set__`` does, without the call (and past AuthInfo's read-only ``__setattr__``). */
    static int __mcpauth_set_slot(PyObject *obj, PyObject *descr, PyObject *value) {
        return PyMember_SetOne((char *)obj, ((PyMemberDescrObject *)descr)->d_member, value);
    }
    /* The value of that slot (AttributeError when unset): the slot's ``__get__``. */
    static PyObject *__mcpauth_get_slot(PyObject *obj, PyObject *descr) {
        return PyMember_GetOne((const char *)obj, ((PyMemberDescrObject *)descr)->d_member);
    }
    """
    int _set_slot "__mcpauth_set_slot" (object obj, object descr, object value) except -1
    object _get_slot "__mcpauth_get_slot" (object obj, object descr)


cdef extern from *:
    """
    /* object.__new__(type) without the call: what object_new does for a class that is not
       abstract and takes no arguments (the import checks AuthInfo is such a class). */
    static PyObject *__mcpauth_new_instance(PyObject *type) {
        return ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 0);
    }
    """
    object _new_instance "__mcpauth_new_instance" (object type)


cdef tuple _auth_info_slots():
    # The slots _of_verified_jws sets, in this order; AuthInfo having any other slot (but
    # __weakref__) would leave it unset here, so that fails the import instead.
    cdef tuple names = ("token", "issuer", "subject", "_claims", "client_id", "scopes",
                        "audience", "expires_at", "_sdk_user")
    if set(names) != set(_AuthInfo.__slots__) - {"__weakref__"}:
        raise ImportError("AuthInfo's slots changed: update _speedups.auth_info_from_claims")
    if "__new__" in _AuthInfo.__dict__ or getattr(_AuthInfo, "__abstractmethods__", None):
        raise ImportError("AuthInfo has a __new__ or is abstract: update _speedups")
    descriptors = tuple(_AuthInfo.__dict__[name] for name in names)
    for descriptor in descriptors:
        if type(descriptor) is not _MemberDescriptorType:
            raise ImportError(f"AuthInfo.{descriptor!r} is not a slot")
    return descriptors


cdef tuple _AUTH_INFO_SLOTS = _auth_info_slots()


def auth_info_from_claims(token, issuer, claims, required_claims=()):
    """Build the ``AuthInfo`` of ``claims``, the payload of ``token``, a verified compact JWS;
    refuse claims of the wrong shape (``invalid_token``): at least every shape mcpauth 0.1.1
    refuses. The AuthInfo keeps the fields, not the dict: its ``claims`` are decoded again from
    ``token`` when first read."""
    return _auth_info_from_claims(token, issuer, claims, required_claims)


cdef object _auth_info_from_claims(object token, object issuer, object claims,
                                   object required_claims):
    cdef object subject, name, audience, item, client_id, azp, exp, info, jti
    cdef tuple slots = _AUTH_INFO_SLOTS
    subject = _get(claims, "sub")
    if type(subject) is not str or not subject:
        raise _invalid_token("claim sub is missing or not a string")
    for name in required_claims:
        if _get(claims, name) is None:
            raise _invalid_token(f"claim {name} is required")
    jti = _get(claims, "jti")
    if (jti is not None and type(jti) is not str) or (jti is None and "jti" in claims):
        raise _invalid_token("claim jti is not a string")
    audience = _get(claims, "aud")
    if audience is not None and (type(audience) is not str or not audience):
        if type(audience) is not list:
            raise _invalid_token("claim aud is not a non-empty string or a list of them")
        for item in <list>audience:
            if type(item) is not str or not item:
                raise _invalid_token("claim aud is not a non-empty string or a list of them")
        audience = _FrozenList(<list>audience)
    client_id = _string_claim(claims, "client_id")
    azp = _string_claim(claims, "azp")
    if client_id is None:
        client_id = azp
    exp = _get(claims, "exp")
    if type(exp) is int:
        exp = _int_as_double(exp)
    elif exp is not None:
        exp = float(exp)
        if not exp.is_integer():
            raise _invalid_token("claim exp is not a whole number of seconds")
    scopes = _extract_scopes(claims)
    info = _new_instance(_AuthInfo)
    _set_slot(info, slots[0], token)
    _set_slot(info, slots[1], issuer)
    _set_slot(info, slots[2], subject)
    _set_slot(info, slots[3], None)
    _set_slot(info, slots[4], client_id)
    _set_slot(info, slots[5], scopes)
    _set_slot(info, slots[6], audience)
    _set_slot(info, slots[7], exp)
    _set_slot(info, slots[8], None)
    return info


def check_policy(
    issuer: Any,
    audience: Any,
    scopes: Any,
    trusted_issuers: frozenset[str] | None,
    audiences: frozenset[str] | None,
    required_scopes: tuple[str, ...],
) -> None:
    """The per-request policy: trusted issuer, accepted audience, required scopes.

    ``trusted_issuers`` / ``audiences`` of None skip that check. The issuer must equal one
    trusted issuer exactly; the token's audience (a string or a list of strings) must
    contain one accepted value; every scope of ``required_scopes`` must be in ``scopes``,
    and all missing ones are reported. Raises ``MCPAuthBearerAuthException`` with
    ``invalid_issuer``, ``invalid_audience`` or ``missing_required_scopes``.
    """
    _check_policy(issuer, audience, scopes, trusted_issuers, audiences, required_scopes)


cdef int _check_policy(object issuer, object audience, object scopes, object trusted_issuers,
                       object audiences, object required_scopes) except -1:
    cdef object s
    cdef list missing
    if trusted_issuers is not None and (type(issuer) is not str or issuer not in trusted_issuers):
        raise _MCPAuthBearerAuthException(
            _INVALID_ISSUER,
            _MCPAuthBearerAuthExceptionDetails(
                expected=_expected(trusted_issuers), actual=issuer
            ),
        )
    if audiences is not None and not _audience_matches(audience, audiences):
        raise _MCPAuthBearerAuthException(
            _INVALID_AUDIENCE,
            _MCPAuthBearerAuthExceptionDetails(
                expected=_expected(audiences),
                actual=list(audience) if type(audience) is _FrozenList else audience,
            ),
        )
    if required_scopes:
        for s in required_scopes:
            if s not in scopes:
                break
        else:
            return 0
        missing = [s for s in required_scopes if s not in scopes]
        if missing:
            raise _MCPAuthBearerAuthException(
                _MISSING_REQUIRED_SCOPES,
                _MCPAuthBearerAuthExceptionDetails(missing_scopes=missing),
            )
    return 0


cdef object _expected(object values):
    if len(values) == 1:
        return next(iter(values))
    return sorted(values)


cdef bint _audience_matches(object audience, object audiences) except -1:
    cdef object item
    if type(audience) is str:
        return audience in audiences
    if type(audience) is _FrozenList or type(audience) is list:
        for item in audience:
            if type(item) is str and item in audiences:
                return True
    return False


# ---------------------------------------------------------------------------- cache


@cython.final
@cython.trashcan(True)  # a long chain of nodes freed at once must not overflow the C stack
cdef class _Node:
    """One cache entry, a link of TokenCache's circular LRU list (oldest after the root)."""

    cdef object key
    cdef object value
    cdef object valid_until
    cdef object kid
    cdef double valid_until_d  # valid_until when it is an exact float
    cdef bint valid_until_is_float
    cdef bint bearer  # parse_bearer(b"Bearer " + key) returns key: see _is_bearer_token
    cdef _Node prev  # None when not linked
    cdef _Node next

    cdef inline void assign(self, object value, object valid_until, object kid) noexcept:
        # The C fields first: each object assignment may run a destructor (which may
        # reenter the cache), and must find valid_until and its C copy in agreement.
        self.valid_until_is_float = type(valid_until) is float
        if self.valid_until_is_float:
            self.valid_until_d = PyFloat_AS_DOUBLE(valid_until)
        self.valid_until = valid_until
        self.value = value
        self.kid = kid


cdef extern from *:
    """
    #include <stdint.h>
    /* The front slot (of mask + 1) of an ASCII text of n bytes: its length and its last 16
       bytes (a token's signature) mixed. */
    static Py_ssize_t __mcpauth_front_slot(const unsigned char *p, Py_ssize_t n,
                                           Py_ssize_t mask) {
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
    static int __mcpauth_same_bytes(const unsigned char *a, const unsigned char *b,
                                    Py_ssize_t n) {
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
    """
    Py_ssize_t _front_slot_of "__mcpauth_front_slot" (
        const unsigned char* p, Py_ssize_t n, Py_ssize_t mask
    ) noexcept nogil
    bint _same_bytes "__mcpauth_same_bytes" (
        const unsigned char* a, const unsigned char* b, Py_ssize_t n
    ) noexcept nogil


cdef bint _is_bearer_token(object key) noexcept:
    # True when parse_bearer(b"Bearer " + key) returns key: an exact ASCII str of b64token
    # characters, then "=" padding (not padding alone).
    cdef const unsigned char* p
    cdef Py_ssize_t n, end
    if type(key) is not str or not _str_is_ascii(key):
        return False
    p = PyUnicode_1BYTE_DATA(key)
    n = PyUnicode_GET_LENGTH(key)
    end = n
    while end > 0 and p[end - 1] == 0x3D:
        end -= 1
    return end > 0 and _all_b64token(p, end, _TOKEN68_TABLE)


#: Front slots per cache: the power of two at or above twice maxsize, within these bounds.
cdef Py_ssize_t _FRONT_MIN = 64
cdef Py_ssize_t _FRONT_MAX = 65536


cdef inline Py_ssize_t _front_slot(list front, object token) noexcept:
    # -1 when there is no front, or the token is not an exact ASCII str (those use the dict).
    if front is None or type(token) is not str or not _str_is_ascii(token):
        return -1
    return _front_slot_of(PyUnicode_1BYTE_DATA(token), PyUnicode_GET_LENGTH(token),
                          _list_size(front) - 1)


cdef list _new_front(object maxsize):
    cdef Py_ssize_t size = _FRONT_MIN
    if maxsize == 0:
        return None
    while size < _FRONT_MAX and size < 2 * maxsize:
        size *= 2
    return [None] * size


cdef inline bint _same_token(object key, object token) noexcept:
    # ``key == token`` for the exact ASCII str ``token``.
    if key is token:
        return True
    if type(key) is not str or not _str_is_ascii(key):
        return False
    if PyUnicode_GET_LENGTH(key) != PyUnicode_GET_LENGTH(token):
        return False
    return _same_bytes(PyUnicode_1BYTE_DATA(key), PyUnicode_1BYTE_DATA(token),
                       PyUnicode_GET_LENGTH(token))


cdef inline bint _expired_now(_Node node) except -1:
    # valid_until has passed by the wall clock: time.time()'s clock, read here without a
    # Python call.
    if node.valid_until_is_float:
        return node.valid_until_d <= _wall_clock()
    return node.valid_until <= _wall_clock()


# The list code never assumes more than it checks: code run by a key's __eq__, a value's
# destructor or the garbage collector's tp_clear can leave a node half linked, and a
# crash is not an acceptable answer to that. The locals hold references, so no node is
# freed (and no destructor runs) until the links are consistent again.

cdef inline void _unlink(_Node node) noexcept:
    cdef _Node before = node.prev
    cdef _Node after = node.next
    if before is not None and after is not None:
        before.next = after
        after.prev = before
    node.prev = None
    node.next = None


cdef inline void _append(_Node root, _Node node) noexcept:
    # Link an unlinked node as the most recently used.
    cdef _Node last = root.prev
    if last is None:
        last = root
    node.prev = last
    node.next = root
    last.next = node
    root.prev = node


cdef inline void _move_to_end(_Node root, _Node node) noexcept:
    # Only a linked node moves: one that reentrant code has just dropped stays out.
    if node.prev is None or root.prev is node:
        return
    _unlink(node)
    _append(root, node)


@cython.final
@cython.no_gc_clear  # _entries and _root are never None, even inside a garbage cycle
cdef class TokenCache:
    """A bounded LRU of verified tokens, keyed by the whole token string.

    ``get`` treats an entry whose ``valid_until`` has passed as a miss and drops it.
    ``kid`` is any hashable naming the key that verified the token (the verifier uses
    ``(issuer, kid)``), so ``evict_kid`` can drop every token of a key that left its set.
    A ``maxsize`` of 0 disables the cache. Not thread-safe in this pure implementation;
    the compiled one holds a critical section on free-threaded builds.
    """

    # A dict from token to _Node, plus a circular doubly linked list through the nodes
    # (root.next is the least recently used). Unlike an OrderedDict, a hit costs one dict
    # lookup and a few pointer moves, and allocates nothing. Dict operations hash and
    # compare keys, which may run arbitrary code that reenters the cache (clear() swaps
    # the dict): they always work on a local reference to the dict.
    #
    # In front of the dict, _front: slots of nodes chosen by a token's length and last 16
    # bytes. A request's token is a new str each time, and hashing it for the dict (SipHash
    # over the whole token) is most of what a hit costs; the slot is found without hashing,
    # and its node is used when its key is linked and equal (compared in constant time).
    # A slot that holds another token, or none, sends the lookup to the dict as before.
    cdef dict _entries
    cdef list _front  # None when the cache holds nothing (maxsize 0)
    cdef _Node _root
    cdef object _maxsize
    cdef Py_ssize_t _limit  # maxsize when it is an exact int that fits; else use _maxsize
    cdef bint _limit_is_c
    cdef unsigned long long _hits
    cdef unsigned long long _misses

    def __cinit__(self):
        self._entries = {}
        self._root = _Node.__new__(_Node)
        self._root.prev = self._root
        self._root.next = self._root
        self._maxsize = 4096
        self._limit = 4096
        self._limit_is_c = True

    def __init__(self, maxsize: int = 4096) -> None:
        cdef int overflow = 0
        cdef long long limit
        cdef dict old
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        with cython.critical_section(self):
            old = self._drop_all()
            self._maxsize = maxsize
            self._limit_is_c = False
            if type(maxsize) is int:
                limit = PyLong_AsLongLongAndOverflow(maxsize, &overflow)
                if overflow == 0 and limit <= PY_SSIZE_T_MAX:
                    self._limit = <Py_ssize_t>limit
                    self._limit_is_c = True
            self._hits = 0
            self._misses = 0
            self._front = _new_front(maxsize)
            old = None  # the old entries go (and their destructors run) in a consistent state

    def __dealloc__(self):
        # Unchain the nodes so that freeing them never recurses along the list.
        self._front = None  # and no new front for a cache that is going away
        self._drop_all()

    cdef dict _drop_all(self):
        """Empty the list and swap in a new dict; return the old one (still holding the nodes)."""
        cdef _Node root = self._root
        cdef _Node node, after
        cdef dict old = self._entries
        self._entries = {}
        if self._front is not None:
            self._front = [None] * _list_size(self._front)
        if root is None:
            return old
        # Detach the whole chain from the root first: reentrant code sees an empty cache.
        node = root.next
        root.prev = root
        root.next = root
        while node is not None and node is not root:
            after = node.next
            node.prev = None
            node.next = None
            node = after
        return old

    cdef int _pop(self, object key) except -1:
        """``del self._entries[key]`` (KeyError when absent), unlinking the node removed."""
        cdef dict entries = self._entries
        cdef object removed = entries.pop(key)
        _unlink(<_Node>removed)
        self._forget(<_Node>removed)
        return 0

    cdef void _forget(self, _Node node) noexcept:
        # Empty the front slot that holds ``node`` (no longer in the cache), so that it is
        # freed now; a slot left holding it would still never serve it (it is unlinked).
        cdef list front = self._front
        cdef Py_ssize_t slot = _front_slot(front, node.key)
        if slot >= 0 and <object>_list_item(front, slot) is node:
            front[slot] = None

    cdef _Node _lookup(self, dict entries, object token):
        # The node stored for ``token``, or None: through its front slot when that holds it,
        # else through the dict (and then the slot is given to it).
        cdef list front = self._front
        cdef Py_ssize_t slot = _front_slot(front, token)
        cdef object held
        cdef PyObject* p
        if slot >= 0:
            held = <object>_list_item(front, slot)
            if (held is not None and (<_Node>held).prev is not None
                    and _same_token((<_Node>held).key, token)):
                return <_Node>held
        p = PyDict_GetItemWithError(entries, token)
        if p == NULL:
            return None
        if slot >= 0 and (<_Node>p).prev is not None:
            front[slot] = <object>p
        return <_Node>p

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def __len__(self) -> int:
        with cython.critical_section(self):
            return len(self._entries)

    def get(self, token: str, now: float | None = None) -> Any:
        """The value stored for ``token`` if still valid at ``now``, else None (a miss).

        ``now`` defaults to the wall clock, ``time.time()`` (read in C by the compiled cache).
        """
        return self._get(token, now)

    cdef object _get(self, object token, object now):
        cdef dict entries
        cdef PyObject* p
        cdef _Node node
        cdef bint expired
        with cython.critical_section(self):
            entries = self._entries
            node = self._lookup(entries, token)
            if node is None:
                self._misses += 1
                return None
            if now is None:
                expired = _expired_now(node)
            elif node.valid_until_is_float and type(now) is float:
                expired = node.valid_until_d <= PyFloat_AS_DOUBLE(now)
            else:
                expired = node.valid_until <= now
            if expired:
                self._pop(token)
                self._misses += 1
                return None
            _move_to_end(self._root, node)
            self._hits += 1
            return node.value

    cdef object _hit_by_header(self, bytes value, object max_token_bytes):
        # get(parse_bearer(value, max_token_bytes)) when that is a hit at the wall clock,
        # found through the front slot of the header's own bytes: no str is built and the
        # b64token check is not repeated (the node's key passed it when it was stored).
        # Anything else returns None and changes nothing: the caller then goes through
        # parse_bearer and _get, which raise, count misses and drop expired entries.
        cdef const unsigned char* buf = <const unsigned char*>PyBytes_AS_STRING(value)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
        cdef Py_ssize_t start = _token_start(buf, n)
        cdef Py_ssize_t length = n - start
        cdef list front
        cdef object held
        cdef _Node node
        if start < 0 or length == 0 or _exceeds(length, max_token_bytes):
            return None
        with cython.critical_section(self):
            front = self._front
            if front is None:
                return None
            held = <object>_list_item(
                front, _front_slot_of(buf + start, length, _list_size(front) - 1))
            if held is None:
                return None
            node = <_Node>held
            if (node.prev is None or not node.bearer or not _str_is_ascii(node.key)
                    or PyUnicode_GET_LENGTH(node.key) != length
                    or not _same_bytes(PyUnicode_1BYTE_DATA(node.key), buf + start, length)):
                return None
            if _expired_now(node):
                return None
            _move_to_end(self._root, node)
            self._hits += 1
            return node.value

    def put(self, token: str, value: Any, valid_until: float, kid: Any = None) -> None:
        """Store ``value`` for ``token`` until ``valid_until``, evicting the least recently used."""
        self._put(token, value, valid_until, kid, _is_bearer_token(token))

    cdef object _put(self, object token, object value, object valid_until, object kid,
                     bint bearer):
        # bearer: _is_bearer_token(token), which the caller may know without the scan.
        cdef dict entries
        cdef PyObject* p
        cdef _Node node, lru, root = self._root
        cdef object existing
        cdef Py_ssize_t slot
        with cython.critical_section(self):
            if self._limit_is_c:
                if self._limit == 0:
                    return
            elif self._maxsize == 0:
                return
            entries = self._entries
            p = PyDict_GetItemWithError(entries, token)
            if p != NULL:
                # Like ``entries[token] = ...`` on a present key: keep the stored key,
                # replace the rest.
                node = <_Node>p
                node.assign(value, valid_until, kid)
            else:
                node = _Node.__new__(_Node)
                node.key = token
                node.bearer = bearer
                node.assign(value, valid_until, kid)
                entries[token] = node
            if entries is not self._entries:
                return  # cleared while the key was compared: the entry went with the old dict
            if node.prev is None:
                _append(root, node)
            else:
                _move_to_end(root, node)
            slot = _front_slot(self._front, token)
            if slot >= 0:
                self._front[slot] = node
            while True:
                entries = self._entries
                if self._limit_is_c:
                    if len(entries) <= self._limit:
                        break
                elif not (len(entries) > self._maxsize):
                    break
                lru = root.next
                if lru is None or lru is root:
                    break
                _unlink(lru)
                self._forget(lru)
                existing = entries.pop(lru.key, None)
                if existing is not None and existing is not lru:
                    _unlink(<_Node>existing)
                    self._forget(<_Node>existing)

    def evict_kid(self, kid: Any) -> int:
        """Drop every entry stored with ``kid``; return how many were dropped."""
        cdef list nodes = []
        cdef list stale = []
        cdef _Node node, root = self._root
        cdef object token
        with cython.critical_section(self):
            # Snapshot first: ``==`` may run arbitrary code that changes the list.
            node = root.next
            while node is not None and node is not root:
                nodes.append(node)
                node = node.next
            for node in nodes:
                if node.kid == kid:
                    stale.append(node.key)
            for token in stale:
                self._pop(token)
            return len(stale)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        cdef dict old
        with cython.critical_section(self):
            old = self._drop_all()
            old.clear()
            self._hits = 0
            self._misses = 0

    def info(self) -> dict[str, int]:
        """``{"hits", "misses", "size", "maxsize"}``."""
        with cython.critical_section(self):
            return {
                "hits": self._hits,
                "misses": self._misses,
                "size": len(self._entries),
                "maxsize": self._maxsize,
            }


@cython.final
cdef class BearerLookup:
    """A request's way to the ``AuthInfo`` its verifier has cached, in one call.

    ``lookup(headers)``: the token of the ASGI ``headers`` (``bearer_token`` with
    ``max_token_bytes``; its errors are raised), then ``cache.get(token)`` at the wall clock.
    On a hit, the cached ``AuthInfo`` once it passes ``check_policy`` with
    ``trusted_issuers``, ``audiences`` and ``required_scopes`` (its errors are raised); on a
    miss, the token itself (a ``str``), for the caller to verify.
    """

    cdef TokenCache _cache
    cdef object _max_token_bytes, _issuers, _audiences, _required

    def __init__(self, cache, max_token_bytes, trusted_issuers, audiences, required_scopes):
        self._cache = cache
        self._max_token_bytes = max_token_bytes
        self._issuers = trusted_issuers
        self._audiences = audiences
        self._required = required_scopes

    def lookup(self, headers):
        """The cached ``AuthInfo`` that passes the policy, or the token to verify."""
        cdef object value = _find_authorization(headers)
        cdef object info = None
        cdef object token
        cdef tuple slots
        if type(value) is bytes:
            info = self._cache._hit_by_header(<bytes>value, self._max_token_bytes)
        if info is None:
            token = _parse_bearer(value, self._max_token_bytes)
            info = self._cache._get(token, None)
            if info is None:
                return token
        if type(info) is _AuthInfo:  # what the verifier stores: its slots read directly
            slots = _AUTH_INFO_SLOTS
            _check_policy(_get_slot(info, slots[1]), _get_slot(info, slots[6]),
                          _get_slot(info, slots[5]), self._issuers, self._audiences,
                          self._required)
        else:
            _check_policy(info.issuer, info.audience, info.scopes, self._issuers,
                          self._audiences, self._required)
        return info


@cython.final
cdef class VerifySteps:
    """One verifier's way from a token to its ``AuthInfo``, every step in one call.

    ``verify(token, now)``: ``checks.check(token, now)`` (everything that costs no
    signature), the key from ``find(issuer, kid, alg)`` (``missing_key(kid)`` is raised when
    it returns None), then ``finish``. ``finish(token, unverified, key)``: the signature
    (``key.verify``), the ``AuthInfo`` (``auth_info_from_claims`` with ``required_claims``),
    stored in ``cache`` until the token's ``valid_until`` under ``(issuer, key.kid)``, and
    the issuer added to ``issuers_seen``. ``verify_sync(token)``: the cache's value for
    ``token`` at the wall clock, else ``verify(token, time.time())``.
    """

    cdef TokenCache _cache
    cdef TokenChecks _checks
    cdef object _find, _missing_key
    cdef tuple _required_claims
    cdef set _issuers_seen

    def __init__(self, cache, checks, find, missing_key, required_claims, issuers_seen):
        self._cache = cache
        self._checks = checks
        self._find = find
        self._missing_key = missing_key
        self._required_claims = tuple(required_claims)
        self._issuers_seen = issuers_seen

    def verify_sync(self, token):
        """The cached ``AuthInfo`` of ``token``, else ``verify(token, time.time())``."""
        cdef object value = self._cache._get(token, None)
        if value is None:
            return self._verify(token, _wall_clock())
        return value

    def verify(self, token, now):
        """Raises ``MCPAuthTokenVerificationException`` (``invalid_token``)."""
        return self._verify(token, now)

    def finish(self, token, unverified, key):
        """The steps after the key is found; ``unverified`` is what ``check`` returned."""
        return self._finish(token, unverified, key)

    cdef object _verify(self, object token, object now):
        cdef tuple unverified = self._checks._check(token, now)
        cdef object key = self._find(unverified[5], unverified[4], unverified[3])
        if key is None:
            raise self._missing_key(unverified[4])
        return self._finish(token, unverified, key)

    cdef object _finish(self, object token, tuple unverified, object key):
        cdef object issuer = unverified[5]
        cdef object info
        key.verify(unverified[3], unverified[1], unverified[2])
        info = _auth_info_from_claims(token, issuer, unverified[0], self._required_claims)
        # A token that passed decode_jws is base64url characters and dots: a bearer token as
        # it stands (tests/test_jws_decoding.py holds decode_jws to that).
        self._cache._put(token, info, unverified[6], (issuer, key.kid), True)
        self._issuers_seen.add(issuer)
        return info
