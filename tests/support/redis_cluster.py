"""A real Redis Cluster of three masters (no replicas) on free 127.0.0.1 ports, for the tests.

Each master is a ``RedisServer`` started with cluster mode on, in its own directory; the
cluster is made with ``redis-cli --cluster create`` and is ready once every node reports
``cluster_state:ok``. A master can be killed (SIGKILL) in the middle of a test. Everything is
bounded in time; a missing ``redis-server`` or ``redis-cli`` fails the test, never skips it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .redis_server import HOW_TO_GET_IT, RedisServer, free_port, redis_binary

#: Seconds without an answer before the other masters count a node as failed (the cluster
#: then refuses every command: no replica can take over its slots).
NODE_TIMEOUT_MS = 2000


class ClusterNode(RedisServer):
    """One master of the cluster, with its cluster bus on a port of its own (by default
    port + 10000, which may be taken or out of range)."""

    def __init__(self, binary: str, directory: Path) -> None:
        super().__init__(binary, directory)
        self.bus_port = free_port()

    def arguments(self) -> list[str]:
        return [*super().arguments(),
                "--cluster-enabled", "yes",
                "--cluster-port", str(self.bus_port),
                "--cluster-config-file", str(self.directory / "nodes.conf"),
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS)]

    def info(self) -> str:
        return self.command("CLUSTER", "INFO").decode(errors="replace")

    def slot_of(self, key: str | bytes) -> int:
        return int(self.command("CLUSTER", "KEYSLOT", key).strip()[1:])

    def slots(self) -> set[int]:
        # CLUSTER MYSHARDID is 7.2+; CLUSTER NODES works on 7.0: "myself" line, then ranges.
        for line in self.command("CLUSTER", "NODES").decode().splitlines():
            if "myself" in line:
                owned: set[int] = set()
                for part in line.split()[8:]:
                    low, _, high = part.partition("-")
                    owned.update(range(int(low), int(high or low) + 1))
                return owned
        return set()

    def keys(self, pattern: str = "*") -> list[bytes]:
        reply = self.command("KEYS", pattern)
        return [line for line in reply.split(b"\r\n")[1:] if line and line[:1] != b"$"]


class RedisCluster:
    """Three masters; ``url`` names the first (any node lets a client find the others)."""

    def __init__(self, binary: str, cli: str, directory: Path, size: int = 3) -> None:
        self.cli = cli
        self.nodes = []
        for index in range(size):
            node_directory = directory / f"node{index}"
            node_directory.mkdir()
            self.nodes.append(ClusterNode(binary, node_directory))

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.start()
        subprocess.run(
            [self.cli, "--cluster", "create",
             *(f"127.0.0.1:{node.port}" for node in self.nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, timeout=max(1.0, deadline - time.monotonic()))
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def ready(self) -> bool:
        """Every running node reports ``cluster_state:ok`` and knows every other."""
        running = [node for node in self.nodes if node.process is not None]
        return all("cluster_state:ok" in info and f"cluster_known_nodes:{len(self.nodes)}"
                   in info for info in (node.info() for node in running))

    def owner(self, key: str | bytes) -> ClusterNode:
        """The master that holds ``key``."""
        slot = self.nodes[0].slot_of(key)
        (node,) = [node for node in self.nodes if slot in node.slots()]
        return node

    def keys(self, pattern: str = "*") -> dict[int, list[bytes]]:
        """The keys of every running master, by port."""
        return {node.port: node.keys(pattern) for node in self.nodes
                if node.process is not None}

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _running_cluster(directory: Path) -> Iterator[RedisCluster]:
    binary, cli = redis_binary(), shutil.which("redis-cli") or shutil.which("valkey-cli")
    if binary is None or cli is None:
        pytest.fail(HOW_TO_GET_IT)
    cluster = RedisCluster(binary, cli, directory)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    """A cluster of this test's own, which it may kill nodes of."""
    yield from _running_cluster(tmp_path)


@pytest.fixture(scope="module")
def _module_redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    yield from _running_cluster(tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def empty_redis_cluster(_module_redis_cluster: RedisCluster) -> RedisCluster:
    """The module's cluster, emptied (starting one takes seconds), for a test that leaves
    its nodes running."""
    cluster = _module_redis_cluster
    for node in cluster.nodes:
        assert node.process is not None, "a test killed a node of the module's cluster"
        node.command("FLUSHALL")
        node.command("CONFIG", "RESETSTAT")
    return cluster
