# cython: language_level=3, freethreading_compatible=True, annotation_typing=False
"""Compiled twin of ``src/mcpauth_fast/_speedups_py.py``: the per-request hot path.

Same names, signatures, results, exceptions and messages as the twin, whose docstrings it
takes. Each step runs in C only for what real requests carry (exact ``list``/``tuple``,
``bytes``, ``str``, ``dict``, ``int``/``float`` values; ASCII tokens) and only where the
end-to-end instruction count shows it pays; everything else (odd types, failures that need an
error built, steps that run once per distinct header) calls the twin's own function, so each
rule is written twice, never three times. One file per step, included here as uvloop does;
C helpers are in ``_helpers.h``.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItemWithError
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_1BYTE_DATA, PyUnicode_GET_LENGTH, PyUnicode_New
from libc.math cimport INFINITY, floor, isfinite
from libc.string cimport memchr, memcpy

from mcpauth_fast import _speedups_py as _py
from mcpauth_fast._limits import (
    DEFAULT_MAX_TOKEN_BYTES,
    HEADER_MEMO_SIZE,
    MAX_HEADER_SEGMENT,
    MAX_KID_LENGTH,
    MAX_SIGNATURE_SEGMENT,
)
from mcpauth_fast._speedups_py import Unverified
from mcpauth_fast.exceptions import (
    BearerAuthExceptionCode as _Code,
    MCPAuthBearerAuthException as _BearerError,
)
from mcpauth_fast.types import AuthInfo as _AuthInfo, FrozenList as _FrozenList

cdef extern from "_helpers.h":
    int _is_ascii "mcpauth_is_ascii" (object o) except -1
    bint _str_is_ascii "PyUnicode_IS_ASCII" (object o) noexcept
    Py_ssize_t _tuple_size "PyTuple_GET_SIZE" (object t) noexcept
    Py_ssize_t _list_size "PyList_GET_SIZE" (object t) noexcept
    PyObject* _tuple_item "PyTuple_GET_ITEM" (object t, Py_ssize_t i) noexcept
    PyObject* _list_item "PyList_GET_ITEM" (object t, Py_ssize_t i) noexcept
    double _wall_clock "mcpauth_wall_clock" () noexcept nogil
    object _tuple_of_type "mcpauth_tuple_of_type" (object type, tuple items)
    const Py_ssize_t PY_SSIZE_T_MAX

# The C copies of the limits, from their one definition in _limits.
cdef Py_ssize_t _C_MAX_HEADER_SEGMENT = MAX_HEADER_SEGMENT
cdef Py_ssize_t _C_MAX_SIGNATURE_SEGMENT = MAX_SIGNATURE_SEGMENT
cdef Py_ssize_t _C_HEADER_MEMO_SIZE = HEADER_MEMO_SIZE


cdef inline bint _size_limit(object limit, Py_ssize_t* out) noexcept:
    """``limit`` as a C size when it is an exact int (clamped: a huge one limits nothing,
    a hugely negative one refuses everything); False for anything else."""
    cdef int overflow = 0
    cdef long long value
    if type(limit) is not int:
        return False
    value = PyLong_AsLongLongAndOverflow(limit, &overflow)
    if overflow > 0 or value > PY_SSIZE_T_MAX:
        out[0] = PY_SSIZE_T_MAX
    elif overflow < 0 or value < -1:
        out[0] = -1
    else:
        out[0] = <Py_ssize_t>value
    return True


cdef inline str _ascii_str(const unsigned char* data, Py_ssize_t n):
    """A str of ``n`` bytes already known to be ASCII (no second validation pass)."""
    cdef str result = PyUnicode_New(n, 127)
    memcpy(PyUnicode_1BYTE_DATA(result), data, n)
    return result


cdef inline object _get(dict mapping, object key):
    """``mapping.get(key)`` for an exact dict, without the method call."""
    cdef PyObject* p = PyDict_GetItemWithError(mapping, key)
    return <object>p if p != NULL else None


# What each C path buys, end to end (bench/e2e_instructions.py, instructions per request with
# the path handed to the twin instead; with every path: fast-same 224,140, fast-distinct
# 587,876, against no-auth 214,661 and the bare RS256 verify 577,399):
#   headers and bearer parse (_headers.pxi)  same +3,739 (1.7 %)   distinct +26,242 (4.5 %)
#   front table (_cache.pxi)                 same +4,397 (1.9 %)
#   policy (_claims.pxi)                     same +4,250 (1.9 %)   distinct +4,861 (0.8 %)
#   base64url (_base64url.pxi)                                     distinct +46,480 (7.9 %)
#   time claims (_claims.pxi)                                      distinct +7,103 (1.2 %)
#   AuthInfo of the claims (_claims.pxi)                           distinct +7,639 (1.3 %)
#   SSE2 b64token scan (_helpers.h)                                distinct +1,943 (0.3 %,
#                                            and the margin under the 1.02 bar: 1.018 vs 1.022)
include "_headers.pxi"
include "_base64url.pxi"
include "_jws.pxi"
include "_claims.pxi"
include "_cache.pxi"


# The steps that run once per distinct header, or per distinct token on a path where the
# signature check dwarfs them, are the twin's own, exported as they are.
check_header = _py.check_header
ecdsa_der = _py.ecdsa_der
extract_scopes = _py.extract_scopes

for _name in ("find_authorization", "parse_bearer", "bearer_token", "b64url_decode",
              "decode_jws", "check_time_claims", "auth_info_from_claims", "check_policy"):
    globals()[_name].__doc__ = getattr(_py, _name).__doc__
del _name
