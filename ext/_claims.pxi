# Steps 7 and 9: the time claims of a token, the AuthInfo of its claims, and the per-request
# policy. C computes the accepted case; any refusal, or input C doubles would not compute
# exactly as the twin's Python numbers do, is the twin's call (it raises the error).

cdef enum:
    # |x| <= 2**52: an int that converts to a double exactly, and so does the sum of two
    # (``now + leeway`` is exact int arithmetic in the twin when both are ints).
    _EXACT_INT_BITS = 52


cdef inline bint _exact_double(object value, double* out) noexcept:
    """A finite float, or an int small enough to convert exactly: C arithmetic on it then
    matches Python's."""
    cdef int overflow = 0
    cdef long long v
    if type(value) is float:
        out[0] = PyFloat_AS_DOUBLE(value)
        return isfinite(out[0])
    if type(value) is int:
        v = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow == 0 and -(1LL << _EXACT_INT_BITS) <= v <= (1LL << _EXACT_INT_BITS):
            out[0] = <double>v
            return True
    return False


cdef int _claim(dict claims, str name, double* out) except -2:
    """0 when ``name`` is absent, 1 with ``out`` set for a number C computes with exactly,
    -1 for anything else (the twin decides)."""
    cdef PyObject* p = PyDict_GetItemWithError(claims, name)
    if p == NULL:
        return 0
    return 1 if _exact_double(<object>p, out) else -1


cdef object _check_time_claims(object claims, object now, object leeway, object require_exp,
                               object max_age):
    cdef double exp = 0.0, nbf = 0.0, iat = 0.0, now_d, leeway_d, max_age_d = 0.0
    cdef double valid_until = INFINITY, too_old_at
    cdef int has_exp, has_nbf, has_iat
    if (type(claims) is dict and (require_exp is True or require_exp is False)
            and _exact_double(now, &now_d) and _exact_double(leeway, &leeway_d)
            and (max_age is None or _exact_double(max_age, &max_age_d))):
        has_exp = _claim(claims, "exp", &exp)
        has_nbf = _claim(claims, "nbf", &nbf)
        has_iat = _claim(claims, "iat", &iat)
        if has_exp >= 0 and has_nbf >= 0 and has_iat >= 0 and (has_exp or not require_exp):
            if has_exp:
                # float(math.floor(-0.0)) is +0.0 (it went through an int): add +0.0 likewise.
                valid_until = floor(exp) + 0.0 + leeway_d
            if ((not has_exp or valid_until > now_d)
                    and not (has_nbf and nbf > now_d + leeway_d)
                    and not (has_iat and iat > now_d + leeway_d)):
                if max_age is None:
                    return valid_until
                too_old_at = iat + max_age_d + leeway_d
                if has_iat and too_old_at >= now_d:
                    return too_old_at if too_old_at < valid_until else valid_until
    return _py.check_time_claims(claims, now, leeway, require_exp, max_age)


def check_time_claims(claims, now, leeway=0.0, require_exp=True, max_age=None):
    return _check_time_claims(claims, now, leeway, require_exp, max_age)


cdef dict _scope_memo = _py._scope_memo  # the twin's memory of scope strings, shared
cdef object _new_auth_info = _AuthInfo._of_verified_jws


cdef inline bint _string_or_none(dict claims, str name) except -1:
    cdef PyObject* p = PyDict_GetItemWithError(claims, name)
    return p == NULL or <object>p is None or type(<object>p) is str


cdef object _auth_info_from_claims(object token, object issuer, object claims,
                                   object required_claims):
    # The twin's accepted case for claims of the usual JSON types, its scopes from the twin's
    # memory; anything else is the twin's call (it raises the error, or does the rare work).
    cdef object subject, audience, client_id, exp, item, scopes = None
    cdef PyObject* p
    cdef double exp_d
    if type(claims) is not dict or type(required_claims) is not tuple:
        return _py.auth_info_from_claims(token, issuer, claims, required_claims)
    subject = _get(claims, "sub")
    audience = _get(claims, "aud")
    exp = _get(claims, "exp")
    if (type(subject) is not str or not subject or not _string_or_none(claims, "client_id")
            or not _string_or_none(claims, "azp")
            or PyDict_GetItemWithError(claims, "jti") != NULL
            and type(<object>PyDict_GetItemWithError(claims, "jti")) is not str
            or exp is not None and not (_exact_double(exp, &exp_d) and floor(exp_d) == exp_d)):
        return _py.auth_info_from_claims(token, issuer, claims, required_claims)
    for item in <tuple>required_claims:
        if _get(claims, item) is None:
            return _py.auth_info_from_claims(token, issuer, claims, required_claims)
    if audience is not None and (type(audience) is not str or not audience):
        if type(audience) is not list:
            return _py.auth_info_from_claims(token, issuer, claims, required_claims)
        for item in <list>audience:
            if type(item) is not str or not item:
                return _py.auth_info_from_claims(token, issuer, claims, required_claims)
        audience = _FrozenList(audience)
    item = _get(claims, "scope")
    if type(item) is str and PyDict_GetItemWithError(claims, "scopes") == NULL:
        scopes = _get(_scope_memo, item)
    if scopes is None:
        scopes = _py.extract_scopes(claims)
    client_id = _get(claims, "client_id")
    return _new_auth_info(
        token, issuer, subject, client_id if client_id is not None else _get(claims, "azp"),
        scopes, audience, None if exp is None else exp_d)


def auth_info_from_claims(token, issuer, claims, required_claims=()):
    return _auth_info_from_claims(token, issuer, claims, required_claims)


cdef bint _audience_matches(object audience, object audiences) except -1:
    cdef object item
    if type(audience) is str:
        return audience in audiences
    if type(audience) is _FrozenList or type(audience) is list:
        for item in audience:
            if type(item) is str and item in audiences:
                return True
    return False


cdef int _check_policy(object issuer, object audience, object scopes, object trusted_issuers,
                       object audiences, object required_scopes) except -1:
    cdef tuple requirement  # a str here would be read letter by letter: a TypeError instead
    cdef object scope
    if ((trusted_issuers is None or (type(issuer) is str and issuer in trusted_issuers))
            and (audiences is None or _audience_matches(audience, audiences))):
        for requirement in required_scopes:  # the scope, then the scopes that imply it
            for scope in requirement:
                if scope in scopes:
                    break
            else:
                break
        else:
            return 0
    _py.check_policy(issuer, audience, scopes, trusted_issuers, audiences, required_scopes)
    return 0


def check_policy(issuer, audience, scopes, trusted_issuers, audiences, required_scopes):
    _check_policy(issuer, audience, scopes, trusted_issuers, audiences, required_scopes)
