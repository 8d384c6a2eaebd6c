/* Strict JSON (RFC 8259) to Python objects, for the header and payload of a token.
 *
 * Accepts exactly what orjson.loads accepts (the pure twin's parser; the agreement tests and
 * the fuzzer hold the two to that) and builds the same values: an int when an integer fits
 * in int64/uint64 and the correctly rounded float otherwise, a float for any fraction or
 * exponent (too large for a double is an error), the last value for a repeated key, at most
 * 1024 nested containers, strict UTF-8 and no lone surrogate.
 *
 * Why not orjson here: on CPUs with AVX-512, orjson's string scanning drops the core's
 * clock for the next milliseconds, and the RSA/ECDSA verify that follows every decode runs
 * ~15-20 % slower (bench/README.md). This parser is plain scalar C; a token's JSON is a few
 * hundred bytes, where SIMD gains nothing.
 *
 * mcpauth_json_loads returns a new reference, or NULL with an exception set: ValueError
 * (UnicodeDecodeError for bad UTF-8) for anything that is not JSON, MemoryError.
 */
#ifndef MCPAUTH_JSON_H
#define MCPAUTH_JSON_H

#include <Python.h>
#include <string.h>

#define MCPAUTH_JSON_MAX_DEPTH 1024

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    int depth;
} mcpauth_json_parser;

static PyObject *mcpauth_json_value(mcpauth_json_parser *ps);

static PyObject *mcpauth_json_fail(void)
{
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "invalid JSON");
    return NULL;
}

static inline void mcpauth_json_skip_space(mcpauth_json_parser *ps)
{
    const unsigned char *p = ps->p, *end = ps->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    ps->p = p;
}

static inline int mcpauth_json_is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* The value of four hex digits at p (p + 4 <= end checked by the caller), or -1. */
static int mcpauth_json_hex4(const unsigned char *p)
{
    int value = 0, i, d;
    for (i = 0; i < 4; i++) {
        unsigned char c = p[i];
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        value = (value << 4) | d;
    }
    return value;
}

static unsigned char *mcpauth_json_put_utf8(unsigned char *o, unsigned int cp)
{
    if (cp < 0x80) {
        *o++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *o++ = (unsigned char)(0xC0 | (cp >> 6));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char)(0xE0 | (cp >> 12));
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (unsigned char)(0xF0 | (cp >> 18));
        *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* A string with escapes, from just after its opening quote: decoded to UTF-8 in a buffer,
   then validated with the raw bytes by Python's strict decoder. An escape never decodes to
   more bytes than it is written with, so the rest of the input bounds the buffer; and it
   decodes to whole UTF-8 sequences, so raw bytes that are not valid UTF-8 stay invalid. */
static PyObject *mcpauth_json_escaped_string(mcpauth_json_parser *ps)
{
    const unsigned char *q = ps->p, *end = ps->end;
    Py_ssize_t room = end - q;
    unsigned char *buffer = (unsigned char *)PyMem_Malloc(room > 0 ? (size_t)room : 1);
    unsigned char *o = buffer;
    PyObject *result;
    int cp, low;
    if (buffer == NULL)
        return PyErr_NoMemory();
    for (;;) {
        unsigned char c;
        if (q >= end)
            goto bad;
        c = *q;
        if (c == '"')
            break;
        if (c < 0x20)
            goto bad;
        if (c != '\\') {
            *o++ = c;
            q++;
            continue;
        }
        if (q + 1 >= end)
            goto bad;
        c = q[1];
        q += 2;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (end - q < 4 || (cp = mcpauth_json_hex4(q)) < 0)
                goto bad;
            q += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                goto bad;  /* a low surrogate first */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - q < 6 || q[0] != '\\' || q[1] != 'u')
                    goto bad;  /* a high surrogate alone */
                low = mcpauth_json_hex4(q + 2);
                if (low < 0xDC00 || low > 0xDFFF)
                    goto bad;
                q += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            o = mcpauth_json_put_utf8(o, (unsigned int)cp);
            break;
        default:
            goto bad;
        }
    }
    ps->p = q + 1;
    result = PyUnicode_DecodeUTF8((const char *)buffer, o - buffer, "strict");
    PyMem_Free(buffer);
    return result;
bad:
    PyMem_Free(buffer);
    return mcpauth_json_fail();
}

/* The member names of access tokens' headers and payloads (RFC 7515, 7519, 9068, 8693 and
   the scope claims the verifier reads), as interned strings with their hashes computed: an
   object key spelled as one of them is that string, so it costs no allocation, and no
   hashing when it goes into the dict or is looked up by a claim check. The table is filled
   once at import (mcpauth_json_init) and only read after that. */
static const char *const mcpauth_json_known_spellings[] = {
    "alg", "typ", "kid", "cty", "jku", "x5t", "iss", "sub", "aud", "exp", "nbf", "iat",
    "jti", "scope", "scopes", "scp", "client_id", "azp", "auth_time", "acr", "amr", "sid",
    "cnf", "act", "roles", "groups", "entitlements", "email", "name", "tid", "ver", "uid",
    NULL,
};

/* The names whose values repeat from token to token (one issuer, one audience, a client's
   scopes): the last such value is kept per name, and a value spelled as the last one is
   that same string. So it is neither allocated nor hashed again (the scope memo, the set of
   issuers seen and the policy's sets look these strings up). Free-threaded builds keep no
   last values: the slots are not atomic. */
static const char *const mcpauth_json_repeating_spellings[] = {
    "typ", "iss", "aud", "scope", "scp", "client_id", "azp", "tid", "ver", "acr", NULL,
};

/* Longest value kept as a last value: an issuer URL or a scope string, not a document. */
#define MCPAUTH_JSON_LAST_MAX 256

#define MCPAUTH_JSON_KNOWN_SLOTS 128
static PyObject *mcpauth_json_known[MCPAUTH_JSON_KNOWN_SLOTS];
static char mcpauth_json_repeats[MCPAUTH_JSON_KNOWN_SLOTS];
static PyObject *mcpauth_json_last[MCPAUTH_JSON_KNOWN_SLOTS];

static inline unsigned int mcpauth_json_known_slot(const unsigned char *s, Py_ssize_t n)
{
    /* No two names of the list share a slot (mcpauth_json_init checks it). */
    return ((unsigned int)n + s[0] * 5u + s[n - 1] * 2u + s[n / 2] * 7u)
           % MCPAUTH_JSON_KNOWN_SLOTS;
}

/* The slot of the known name spelled s[0..n), or -1 if none is. */
static inline int mcpauth_json_known_index(const unsigned char *s, Py_ssize_t n)
{
    unsigned int slot;
    PyObject *known;
    if (n == 0 || n > 12)
        return -1;
    slot = mcpauth_json_known_slot(s, n);
    known = mcpauth_json_known[slot];
    if (known == NULL || PyUnicode_GET_LENGTH(known) != n
        || memcmp(PyUnicode_1BYTE_DATA(known), s, (size_t)n) != 0)
        return -1;
    return (int)slot;
}

/* 0, or -1 with an exception set. */
static int mcpauth_json_init(void)
{
    const char *const *name;
    for (name = mcpauth_json_known_spellings; *name != NULL; name++) {
        Py_ssize_t n = (Py_ssize_t)strlen(*name);
        unsigned int slot = mcpauth_json_known_slot((const unsigned char *)*name, n);
        PyObject *string;
        if (mcpauth_json_known[slot] != NULL) {
            PyErr_Format(PyExc_RuntimeError, "_json.h: %s and %U share a slot", *name,
                         mcpauth_json_known[slot]);
            return -1;
        }
        string = PyUnicode_InternFromString(*name);
        if (string == NULL || PyObject_Hash(string) == -1) {
            Py_XDECREF(string);
            return -1;
        }
        mcpauth_json_known[slot] = string;
    }
    for (name = mcpauth_json_repeating_spellings; *name != NULL; name++) {
        Py_ssize_t n = (Py_ssize_t)strlen(*name);
        int slot = mcpauth_json_known_index((const unsigned char *)*name, n);
        if (slot < 0) {
            PyErr_Format(PyExc_RuntimeError, "_json.h: %s is not a known name", *name);
            return -1;
        }
        mcpauth_json_repeats[slot] = 1;
    }
    return 0;
}

/* A string, from just after its opening quote. */
static PyObject *mcpauth_json_string(mcpauth_json_parser *ps)
{
    const unsigned char *start = ps->p, *q = ps->p, *end = ps->end;
    unsigned char seen = 0;
    PyObject *result;
    while (q < end) {
        unsigned char c = *q;
        if (c == '"')
            break;
        if (c == '\\')
            return mcpauth_json_escaped_string(ps);
        if (c < 0x20)
            return mcpauth_json_fail();
        seen |= c;
        q++;
    }
    if (q >= end)
        return mcpauth_json_fail();
    ps->p = q + 1;
    if (seen & 0x80)
        return PyUnicode_DecodeUTF8((const char *)start, q - start, "strict");
    result = PyUnicode_New(q - start, 127);
    if (result != NULL)
        memcpy(PyUnicode_1BYTE_DATA(result), start, (size_t)(q - start));
    return result;
}

/* An object's key, from just after its opening quote: a known name when it is spelled as
   one (no escapes), else any string. *repeating is the slot of a name whose value repeats,
   else -1. */
static PyObject *mcpauth_json_key(mcpauth_json_parser *ps, int *repeating)
{
    const unsigned char *start = ps->p, *q = ps->p, *end = ps->end;
    PyObject *known;
    int slot;
    *repeating = -1;
    while (q < end && q - start <= 12 && *q != '"' && *q != '\\')
        q++;
    if (q < end && *q == '"') {
        slot = mcpauth_json_known_index(start, q - start);
        if (slot >= 0) {
            ps->p = q + 1;
            if (mcpauth_json_repeats[slot])
                *repeating = slot;
            known = mcpauth_json_known[slot];
            Py_INCREF(known);
            return known;
        }
    }
    return mcpauth_json_string(ps);
}

/* The value of a name whose values repeat, from its first byte. A string spelled exactly as
   the last one kept for the name is that string: the last one was written without escapes
   (its text is its value), so the same bytes followed by a quote are the same value. */
static PyObject *mcpauth_json_repeated_value(mcpauth_json_parser *ps, int slot)
{
#ifdef Py_GIL_DISABLED
    (void)slot;
    return mcpauth_json_value(ps);
#else
    const unsigned char *start;
    PyObject *last = mcpauth_json_last[slot], *value;
    Py_ssize_t n;
    mcpauth_json_skip_space(ps);
    if (ps->p >= ps->end || *ps->p != '"')
        return mcpauth_json_value(ps);
    start = ++ps->p;
    if (last != NULL) {
        n = PyUnicode_GET_LENGTH(last);
        if (ps->end - start > n && start[n] == '"'
            && memcmp(start, PyUnicode_1BYTE_DATA(last), (size_t)n) == 0) {
            ps->p = start + n + 1;
            Py_INCREF(last);
            return last;
        }
    }
    value = mcpauth_json_string(ps);
    /* As long as its text (no escape: an escape is longer than what it stands for), ASCII. */
    if (value != NULL && PyUnicode_IS_ASCII(value)
        && PyUnicode_GET_LENGTH(value) == ps->p - start - 1
        && PyUnicode_GET_LENGTH(value) <= MCPAUTH_JSON_LAST_MAX) {
        Py_INCREF(value);
        Py_XSETREF(mcpauth_json_last[slot], value);
    }
    return value;
#endif
}

static PyObject *mcpauth_json_number(mcpauth_json_parser *ps)
{
    const unsigned char *start = ps->p, *q = ps->p, *end = ps->end, *digits;
    int negative = 0, is_float = 0;
    Py_ssize_t count, i, length;
    char small[64], *text;
    double value;
    if (*q == '-') {
        negative = 1;
        q++;
    }
    digits = q;
    if (q >= end || !mcpauth_json_is_digit(*q))
        return mcpauth_json_fail();
    if (*q == '0')
        q++;
    else
        while (q < end && mcpauth_json_is_digit(*q))
            q++;
    count = q - digits;
    if (q < end && *q == '.') {
        is_float = 1;
        q++;
        if (q >= end || !mcpauth_json_is_digit(*q))
            return mcpauth_json_fail();
        while (q < end && mcpauth_json_is_digit(*q))
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        is_float = 1;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q >= end || !mcpauth_json_is_digit(*q))
            return mcpauth_json_fail();
        while (q < end && mcpauth_json_is_digit(*q))
            q++;
    }
    ps->p = q;
    if (!is_float && count <= 20) {
        unsigned long long magnitude = 0;
        int overflow = 0;
        for (i = 0; i < count; i++) {
            overflow |= __builtin_mul_overflow(magnitude, 10ULL, &magnitude);
            overflow |= __builtin_add_overflow(magnitude, (unsigned long long)(digits[i] - '0'),
                                               &magnitude);
        }
        if (!overflow) {
            if (!negative)
                return PyLong_FromUnsignedLongLong(magnitude);
            if (magnitude <= 9223372036854775807ULL)
                return PyLong_FromLongLong(-(long long)magnitude);
            if (magnitude == 9223372036854775808ULL)
                return PyLong_FromLongLong((-9223372036854775807LL) - 1);
        }
    }
    /* A fraction, an exponent or an integer beyond 64 bits: the correctly rounded double. */
    length = q - start;
    text = length < (Py_ssize_t)sizeof(small) ? small : (char *)PyMem_Malloc((size_t)length + 1);
    if (text == NULL)
        return PyErr_NoMemory();
    memcpy(text, start, (size_t)length);
    text[length] = '\0';
    value = PyOS_string_to_double(text, NULL, NULL);
    if (text != small)
        PyMem_Free(text);
    if (value == -1.0 && PyErr_Occurred())
        return NULL;
    if (!Py_IS_FINITE(value))
        return mcpauth_json_fail();
    return PyFloat_FromDouble(value);
}

static PyObject *mcpauth_json_literal(mcpauth_json_parser *ps, const char *word, Py_ssize_t n,
                                      PyObject *value)
{
    if (ps->end - ps->p < n || memcmp(ps->p, word, (size_t)n) != 0)
        return mcpauth_json_fail();
    ps->p += n;
    Py_INCREF(value);
    return value;
}

/* Just after a container's opening byte: 1 when it is empty (its closing byte consumed),
   0 when members follow, -1 (exception set) past the depth limit. */
static int mcpauth_json_enter(mcpauth_json_parser *ps, unsigned char close)
{
    if (++ps->depth > MCPAUTH_JSON_MAX_DEPTH) {
        mcpauth_json_fail();
        return -1;
    }
    mcpauth_json_skip_space(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return 1;
    }
    return 0;
}

/* After a member: 1 after a comma (another member follows), 0 after the closing byte (the
   container is done), -1 (exception set) for anything else. */
static int mcpauth_json_next_member(mcpauth_json_parser *ps, unsigned char close)
{
    mcpauth_json_skip_space(ps);
    if (ps->p < ps->end) {
        if (*ps->p == ',') {
            ps->p++;
            return 1;
        }
        if (*ps->p == close) {
            ps->p++;
            ps->depth--;
            return 0;
        }
    }
    mcpauth_json_fail();
    return -1;
}

static PyObject *mcpauth_json_array(mcpauth_json_parser *ps)
{
    PyObject *list, *item;
    int state = mcpauth_json_enter(ps, ']'), rc;
    if (state < 0)
        return NULL;
    list = PyList_New(0);
    if (list == NULL || state == 1)
        return list;
    do {
        item = mcpauth_json_value(ps);
        if (item == NULL)
            goto error;
        rc = PyList_Append(list, item);
        Py_DECREF(item);
        if (rc < 0)
            goto error;
    } while ((state = mcpauth_json_next_member(ps, ']')) == 1);
    if (state == 0)
        return list;
error:
    Py_DECREF(list);
    return NULL;
}

static PyObject *mcpauth_json_object(mcpauth_json_parser *ps)
{
    PyObject *dict, *key, *value;
    int state = mcpauth_json_enter(ps, '}'), rc, repeating;
    if (state < 0)
        return NULL;
    dict = PyDict_New();
    if (dict == NULL || state == 1)
        return dict;
    do {
        mcpauth_json_skip_space(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            mcpauth_json_fail();
            goto error;
        }
        ps->p++;
        key = mcpauth_json_key(ps, &repeating);
        if (key == NULL)
            goto error;
        mcpauth_json_skip_space(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            Py_DECREF(key);
            mcpauth_json_fail();
            goto error;
        }
        ps->p++;
        value = repeating >= 0 ? mcpauth_json_repeated_value(ps, repeating)
                               : mcpauth_json_value(ps);
        if (value == NULL) {
            Py_DECREF(key);
            goto error;
        }
        rc = PyDict_SetItem(dict, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0)
            goto error;
    } while ((state = mcpauth_json_next_member(ps, '}')) == 1);
    if (state == 0)
        return dict;
error:
    Py_DECREF(dict);
    return NULL;
}

static PyObject *mcpauth_json_value(mcpauth_json_parser *ps)
{
    mcpauth_json_skip_space(ps);
    if (ps->p >= ps->end)
        return mcpauth_json_fail();
    switch (*ps->p) {
    case '{':
        ps->p++;
        return mcpauth_json_object(ps);
    case '[':
        ps->p++;
        return mcpauth_json_array(ps);
    case '"':
        ps->p++;
        return mcpauth_json_string(ps);
    case 't':
        return mcpauth_json_literal(ps, "true", 4, Py_True);
    case 'f':
        return mcpauth_json_literal(ps, "false", 5, Py_False);
    case 'n':
        return mcpauth_json_literal(ps, "null", 4, Py_None);
    default:
        if (*ps->p == '-' || mcpauth_json_is_digit(*ps->p))
            return mcpauth_json_number(ps);
        return mcpauth_json_fail();
    }
}

static PyObject *mcpauth_json_loads(const char *data, Py_ssize_t n)
{
    mcpauth_json_parser ps;
    PyObject *value;
    ps.p = (const unsigned char *)data;
    ps.end = ps.p + n;
    ps.depth = 0;
    value = mcpauth_json_value(&ps);
    if (value == NULL)
        return NULL;
    mcpauth_json_skip_space(&ps);
    if (ps.p != ps.end) {
        Py_DECREF(value);
        return mcpauth_json_fail();
    }
    return value;
}

#endif /* MCPAUTH_JSON_H */
