# Steps 3, 8 and the whole request: the token cache, the cached lookup of a request, the
# verification steps after a miss.

from collections import OrderedDict as _OrderedDict

cdef object _move_to_end = _OrderedDict.move_to_end  # found once, not on every hit
from operator import index as _index

cdef extern from "_helpers.h":
    Py_ssize_t _front_slot_of "mcpauth_front_slot" (
        const unsigned char* p, Py_ssize_t n, Py_ssize_t mask) noexcept nogil
    bint _same_bytes "mcpauth_same_bytes" (
        const unsigned char* a, const unsigned char* b, Py_ssize_t n) noexcept nogil

#: Front slots per cache: the power of two at or above twice maxsize, within these bounds.
cdef Py_ssize_t _FRONT_MIN = 64
cdef Py_ssize_t _FRONT_MAX = 65536


@cython.final
cdef class _Entry:
    """A cached value, with its expiry as a C double when it is an exact float."""

    cdef object key, value, valid_until, kid
    cdef double valid_until_d
    cdef bint valid_until_is_float, alive, bearer  # bearer: _is_b64token(key), an ASCII str

    cdef inline void assign(self, object value, object valid_until, object kid) noexcept:
        self.valid_until_is_float = type(valid_until) is float
        if self.valid_until_is_float:
            self.valid_until_d = PyFloat_AS_DOUBLE(valid_until)
        self.valid_until = valid_until
        self.value = value
        self.kid = kid

    cdef inline bint expired(self, object now) except -1:
        if now is None:
            if self.valid_until_is_float:
                return self.valid_until_d <= _wall_clock()
            now = _wall_clock()
        elif self.valid_until_is_float and type(now) is float:
            return self.valid_until_d <= PyFloat_AS_DOUBLE(now)
        return bool(self.valid_until <= now)


cdef inline object _od_get(object entries, object token):
    # entries.get(token) without the method call: an OrderedDict keeps its items in the dict
    # it derives from, so the dict lookup is its lookup.
    cdef PyObject* p = PyDict_GetItemWithError(entries, token)
    return <object>p if p != NULL else None


cdef inline Py_ssize_t _front_slot(list front, object token) noexcept:
    # -1 when there is no front, or the token is not an exact ASCII str (those use the dict).
    if front is None or type(token) is not str or not _str_is_ascii(token):
        return -1
    return _front_slot_of(PyUnicode_1BYTE_DATA(token), PyUnicode_GET_LENGTH(token),
                          _list_size(front) - 1)


@cython.final
cdef class TokenCache:
    """A bounded LRU of verified tokens, keyed by the whole token string.

    ``get`` treats an entry whose ``valid_until`` has passed as a miss and drops it.
    ``kid`` is any hashable naming the key that verified the token (the verifier uses
    ``(issuer, kid)``), so ``evict_kid`` can drop every token of a key that left its set.
    A ``maxsize`` of 0 disables the cache. Not thread-safe in this pure implementation;
    the compiled one holds a critical section on free-threaded builds.
    """

    # The LRU is an OrderedDict of token -> _Entry (as uvloop's lru.pyx). In front of it,
    # _front: slots of entries chosen by a token's length and last 16 bytes. A request's
    # token is a new str each time, and hashing it for the dict (SipHash over the whole
    # token) is most of what a hit costs; the slot is found without hashing, even without
    # building the str (_hit_by_header), and its entry is used when alive and equal (compared
    # in constant time). This cuts 1.9 % of a cache-hit request's instructions end to end
    # (bench/e2e_instructions.py fast-same: 224,140 with it, 228,537 without; no-auth 214,661).
    cdef object _entries  # OrderedDict
    cdef _Entry _newest  # the last of _entries when known, else None: a hit on it moves nothing
    cdef list _front  # None when the cache holds nothing (maxsize 0)
    cdef Py_ssize_t _maxsize
    cdef unsigned long long _hits, _misses, _evictions

    def __init__(self, maxsize: int = 4096) -> None:
        cdef Py_ssize_t size = _FRONT_MIN
        maxsize = _index(maxsize)
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        with cython.critical_section(self):
            self._drop_all()
            self._entries = _OrderedDict()
            self._maxsize = min(maxsize, PY_SSIZE_T_MAX)
            self._hits = self._misses = self._evictions = 0
            while size < _FRONT_MAX and size < 2 * self._maxsize:
                size *= 2
            self._front = [None] * size if self._maxsize else None

    cdef void _drop_all(self) noexcept:
        cdef _Entry entry
        self._newest = None
        if self._entries is not None:
            for entry in self._entries.values():
                entry.alive = False
        if self._front is not None:
            self._front = [None] * _list_size(self._front)

    cdef object _remove(self, object key):
        cdef _Entry entry = self._entries.pop(key, None)
        if entry is not None:
            entry.alive = False
            if entry is self._newest:
                self._newest = None
        return entry

    @property
    def maxsize(self):
        return self._maxsize

    def __len__(self):
        return len(self._entries)

    def get(self, token, now=None):
        """The value stored for ``token`` if still valid at ``now``, else None (a miss).

        ``now`` defaults to the wall clock, ``time.time()`` (read in C by the compiled cache).
        """
        return self._get(token, now)

    cdef object _found(self, _Entry entry):
        # A hit: the entry becomes the most recently used.
        if entry is not self._newest:
            try:
                _move_to_end(self._entries, entry.key)
            except KeyError:  # dropped by code a key's __eq__ ran: a miss
                self._misses += 1
                return None
            self._newest = entry
        self._hits += 1
        return entry.value

    cdef object _get(self, object token, object now):
        cdef Py_ssize_t slot
        cdef object held
        cdef _Entry entry = None
        with cython.critical_section(self):
            slot = _front_slot(self._front, token)
            if slot >= 0:
                held = <object>_list_item(self._front, slot)
                if held is not None and (<_Entry>held).alive and (<_Entry>held).bearer:
                    key = (<_Entry>held).key
                    if key is token or (PyUnicode_GET_LENGTH(key) == PyUnicode_GET_LENGTH(token)
                            and _same_bytes(PyUnicode_1BYTE_DATA(key),
                                            PyUnicode_1BYTE_DATA(token),
                                            PyUnicode_GET_LENGTH(token))):
                        entry = <_Entry>held
            if entry is None:
                entry = _od_get(self._entries, token)
                if entry is None:
                    self._misses += 1
                    return None
                if slot >= 0 and entry.bearer:
                    self._front[slot] = entry
            if entry.expired(now):
                self._remove(entry.key)
                self._misses += 1
                return None
            return self._found(entry)

    cdef object _hit_by_header(self, bytes value, object max_token_bytes):
        # get(parse_bearer(value, max_token_bytes)) when that is a hit at the wall clock,
        # found through the front slot of the header's own bytes: no str is built and the
        # b64token check is not repeated (the entry's key passed it when it was stored).
        # Anything else returns None and changes nothing: the caller then goes through
        # parse_bearer and _get, which raise, count misses and drop expired entries.
        cdef const unsigned char* buf = <const unsigned char*>PyBytes_AS_STRING(value)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(value), limit
        cdef Py_ssize_t start = _token_start(buf, n)
        cdef Py_ssize_t length = n - start
        cdef object held
        cdef _Entry entry
        if (start < 0 or length == 0 or not _size_limit(max_token_bytes, &limit)
                or length > limit):
            return None
        with cython.critical_section(self):
            if self._front is None:
                return None
            held = <object>_list_item(
                self._front, _front_slot_of(buf + start, length, _list_size(self._front) - 1))
            if held is None:
                return None
            entry = <_Entry>held
            if (not entry.alive or not entry.bearer
                    or PyUnicode_GET_LENGTH(entry.key) != length
                    or not _same_bytes(PyUnicode_1BYTE_DATA(entry.key), buf + start, length)
                    or entry.expired(None)):
                return None
            return self._found(entry)

    def put(self, token, value, valid_until, kid=None):
        """Store ``value`` for ``token`` until ``valid_until``, evicting the least recently used."""
        self._put(token, value, valid_until, kid,
                  type(token) is str and _str_is_ascii(token)
                  and _is_b64token(PyUnicode_1BYTE_DATA(token), PyUnicode_GET_LENGTH(token)))

    cdef _put(self, object token, object value, object valid_until, object kid, bint bearer):
        # bearer: parse_bearer(b"Bearer " + token) is token, which the caller may know.
        cdef _Entry entry
        cdef Py_ssize_t slot
        with cython.critical_section(self):
            if self._maxsize == 0:
                return
            entries = self._entries
            entry = _od_get(entries, token)
            if entry is None:
                entry = _Entry.__new__(_Entry)
                entry.key = token
                entry.bearer = bearer
                entry.assign(value, valid_until, kid)
                entries[token] = entry  # a new key goes last: the most recently used
                entry.alive = True
            else:  # keep the stored key, replace the rest
                entry.assign(value, valid_until, kid)
                try:
                    _move_to_end(entries, token)
                except KeyError:  # dropped by code a key's __eq__ ran
                    self._newest = None
                    return
            self._newest = entry
            slot = _front_slot(self._front, token)
            if slot >= 0 and entry.bearer:
                self._front[slot] = entry
            while len(entries) > self._maxsize:
                entry = entries.popitem(False)[1]  # the oldest
                entry.alive = False
                self._evictions += 1
                if entry is self._newest:
                    self._newest = None

    def evict_kid(self, kid):
        """Drop every entry stored with ``kid``; return how many were dropped."""
        cdef _Entry entry
        cdef list stale = []
        with cython.critical_section(self):
            # A snapshot first: ``==`` may run code that changes the cache.
            for entry in list(self._entries.values()):
                if entry.kid == kid:
                    stale.append(entry.key)
            for token in stale:
                self._remove(token)
            return len(stale)

    def evict_where(self, predicate):
        """Drop every entry whose value ``predicate(value)`` is true; return how many were
        dropped (a revocation's way into the cache: not on the request path)."""
        cdef _Entry entry
        cdef list stale = []
        with cython.critical_section(self):
            # A snapshot first: the predicate may run code that changes the cache.
            for entry in list(self._entries.values()):
                if predicate(entry.value):
                    stale.append(entry.key)
            for token in stale:
                self._remove(token)
            return len(stale)

    def clear(self):
        """Drop every entry and reset the counters."""
        with cython.critical_section(self):
            self._drop_all()
            self._entries.clear()
            self._hits = self._misses = self._evictions = 0

    def info(self):
        """``{"hits", "misses", "evictions", "size", "maxsize"}`` (evictions: entries dropped
        to make room)."""
        with cython.critical_section(self):
            return {"hits": self._hits, "misses": self._misses, "evictions": self._evictions,
                    "size": len(self._entries), "maxsize": self._maxsize}


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
        if type(value) is bytes:
            info = self._cache._hit_by_header(<bytes>value, self._max_token_bytes)
        if info is None:
            token = _parse_bearer(value, self._max_token_bytes)
            info = self._cache._get(token, None)
            if info is None:
                return token
        _check_policy(info.issuer, info.audience, info.scopes, self._issuers, self._audiences,
                      self._required)
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
        return self._verify(token, _wall_clock()) if value is None else value

    def verify(self, token, now):
        """Raises ``MCPAuthTokenVerificationException`` (``invalid_token``)."""
        return self._verify(token, now)

    def finish(self, token, unverified, key):
        """The steps after the key is found; ``unverified`` is what ``check`` returned."""
        return self._finish(token, unverified, key)

    cdef object _verify(self, object token, object now):
        cdef object unverified = self._checks._check(token, now)
        cdef object key = self._find(unverified.issuer, unverified.kid, unverified.alg)
        if key is None:
            raise self._missing_key(unverified.kid)
        return self._finish(token, unverified, key)

    cdef object _finish(self, object token, object unverified, object key):
        cdef object issuer = unverified.issuer
        cdef object info
        key.verify(unverified.alg, unverified.signing_input, unverified.signature)
        info = _auth_info_from_claims(token, issuer, unverified.payload, self._required_claims)
        # A token that passed decode_jws is base64url characters and dots: a bearer token as
        # it stands (tests/test_jws_decoding.py holds decode_jws to that).
        self._cache._put(token, info, unverified.valid_until, (issuer, key.kid), True)
        self._issuers_seen.add(issuer)
        return info
