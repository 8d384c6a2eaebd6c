"""The LRU of verified tokens, on both implementations."""

from __future__ import annotations

from types import ModuleType

import pytest


def test_hit_miss_and_info(speedups: ModuleType) -> None:
    cache = speedups.TokenCache(3)
    assert cache.get("t1", 0.0) is None
    value = object()
    cache.put("t1", value, 100.0, ("iss", "k1"))
    assert cache.get("t1", 50.0) is value
    assert cache.info() == {"hits": 1, "misses": 1, "evictions": 0, "size": 1, "maxsize": 3}
    assert len(cache) == 1 and cache.maxsize == 3


def test_expired_entry_is_a_miss_and_is_dropped(speedups: ModuleType) -> None:
    cache = speedups.TokenCache(3)
    cache.put("t", "v", 100.0)
    assert cache.get("t", 99.999) == "v"
    assert cache.get("t", 100.0) is None
    assert len(cache) == 0
    assert cache.get("t", 0.0) is None
    assert cache.info()["misses"] == 2


def test_lru_eviction_keeps_recently_used(speedups: ModuleType) -> None:
    cache = speedups.TokenCache(2)
    cache.put("a", 1, 1e9)
    cache.put("b", 2, 1e9)
    assert cache.get("a", 0.0) == 1           # a is now the most recently used
    cache.put("c", 3, 1e9)                    # evicts b
    assert cache.get("b", 0.0) is None
    assert cache.get("a", 0.0) == 1 and cache.get("c", 0.0) == 3
    cache.put("a", 10, 1e9)                   # replacing refreshes, does not grow
    assert len(cache) == 2 and cache.get("a", 0.0) == 10
    assert cache.info()["evictions"] == 1     # b, for room (an expired entry, or one
    cache.put("d", 4, 1e9)                    # revoked, is not an eviction)
    assert cache.info()["evictions"] == 2


def test_key_is_the_whole_token(speedups: ModuleType) -> None:
    cache = speedups.TokenCache(8)
    cache.put("h.p1.sig", "alice", 1e9)
    assert cache.get("h.p2.sig", 0.0) is None
    assert cache.get("h.p1.sig2", 0.0) is None
    assert cache.get("h.p1.si", 0.0) is None


def test_evict_kid(speedups: ModuleType) -> None:
    cache = speedups.TokenCache(8)
    cache.put("a", 1, 1e9, ("iss", "k1"))
    cache.put("b", 2, 1e9, ("iss", "k2"))
    cache.put("c", 3, 1e9, ("iss", "k1"))
    cache.put("d", 4, 1e9, ("other", "k1"))
    assert cache.evict_kid(("iss", "k1")) == 2
    assert cache.get("a", 0.0) is None and cache.get("c", 0.0) is None
    assert cache.get("b", 0.0) == 2 and cache.get("d", 0.0) == 4
    assert cache.evict_kid(("iss", "nope")) == 0


def test_evict_where(speedups: ModuleType) -> None:
    cache = speedups.TokenCache(8)
    for n, token in enumerate("abcd"):
        cache.put(token, n, 1e9)
    assert cache.evict_where(lambda value: value % 2 == 0) == 2
    assert cache.get("a", 0.0) is None and cache.get("c", 0.0) is None
    assert cache.get("b", 0.0) == 1 and cache.get("d", 0.0) == 3
    assert cache.evict_where(lambda value: False) == 0
    # A predicate that changes the cache while it runs: the snapshot is dropped all the same.
    assert cache.evict_where(lambda value: cache.clear() is None) == 2 and len(cache) == 0


def test_clear_and_disabled(speedups: ModuleType) -> None:
    cache = speedups.TokenCache(4)
    cache.put("a", 1, 1e9)
    cache.get("a", 0.0)
    cache.clear()
    assert cache.info() == {"hits": 0, "misses": 0, "evictions": 0, "size": 0, "maxsize": 4}
    off = speedups.TokenCache(0)
    off.put("a", 1, 1e9)
    assert off.get("a", 0.0) is None and len(off) == 0
    with pytest.raises(ValueError):
        speedups.TokenCache(-1)


def test_bounded_under_many_tokens(speedups: ModuleType) -> None:
    cache = speedups.TokenCache(100)
    for i in range(10_000):
        cache.put(f"token-{i}", i, 1e9)
    assert len(cache) == 100
    assert cache.get("token-9999", 0.0) == 9999 and cache.get("token-9899", 0.0) is None


def test_now_defaults_to_the_wall_clock(speedups: ModuleType) -> None:
    import time

    cache = speedups.TokenCache(4)
    cache.put("live", "v", time.time() + 100)
    cache.put("dead", "v", time.time() - 0.001)
    cache.put("int-deadline", "v", int(time.time()) + 100)
    assert cache.get("live") == "v"
    assert cache.get("int-deadline") == "v"
    assert cache.get("dead") is None and len(cache) == 2
