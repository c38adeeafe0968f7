"""A throwaway Ray cluster of several nodes on this machine, on 127.0.0.1: how the ray
engine is tried (and tested, and benchmarked) on more than one node without a second
machine.

Each node is a ``ray start`` of its own (the head with ``--head``, the others joining it
with ``--address``), with its own temp dir under one root folder, so that :meth:`close`
stops exactly these processes, found by that folder in their command lines, and their
children, never a machine-wide ``ray stop``.

Token authentication is on, as on a real cluster: a fresh random token is given to every
node and to the driver as ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN`` (a node started
without it is refused with ``InvalidAuthToken``); :meth:`driver_env` is what a
``photoqc score --engine ray --ray-address auto`` process needs to join.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from photoqc.engines.ray import RayEngineError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_command() -> list[str]:
    beside = Path(sys.executable).with_name("ray")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("ray")
    if found is None:
        raise RayEngineError("the `ray` command is not installed: pip install 'photoqc[ray]'")
    return [found]


class LocalRayCluster:
    """``nodes`` Ray nodes of ``cpus_per_node`` CPUs each on 127.0.0.1.

    Parameters
    ----------
    nodes : int
        The head and ``nodes - 1`` more.
    cpus_per_node : int
        ``--num-cpus`` of each node.
    root : path, optional
        Where the nodes' temp dirs go (default: a new temporary folder, removed on close).
    """

    def __init__(self, nodes: int = 2, cpus_per_node: int = 1, root: str | None = None):
        if nodes < 1 or cpus_per_node < 1:
            raise ValueError("nodes and cpus_per_node must be at least 1")
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self._own_root = root is None
        # Short: Ray's socket paths live under it and a Unix socket path has 107 bytes.
        self.root = Path(root or tempfile.mkdtemp(prefix="pqray-", dir="/tmp"))
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.address = f"127.0.0.1:{self.port}"
        self._closed = False

    def _env(self) -> dict[str, str]:
        return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def driver_env(self) -> dict[str, str]:
        """The environment of a process that joins this cluster with ``--ray-address auto``."""
        return {**self._env(), "RAY_ADDRESS": self.address}

    def start(self) -> LocalRayCluster:
        """Start the head, then the other nodes; wait until all have joined."""
        common = [
            f"--num-cpus={self.cpus_per_node}",
            "--node-ip-address=127.0.0.1",
            "--disable-usage-stats",
        ]
        try:
            self._ray(
                "start",
                "--head",
                f"--port={self.port}",
                "--include-dashboard=false",
                f"--temp-dir={self.root / 'head'}",
                *common,
            )
            for k in range(1, self.nodes):
                self._ray(
                    "start",
                    f"--address={self.address}",
                    f"--temp-dir={self.root / f'node{k}'}",
                    *common,
                )
            self._wait_for_nodes()
        except BaseException:
            self.close()
            raise
        return self

    def _ray(self, *args: str) -> None:
        done = subprocess.run(
            [*_ray_command(), *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RayEngineError(f"ray {args[0]} failed: {done.stderr.strip()[-800:]}")

    def _wait_for_nodes(self, timeout_s: float = 60.0) -> None:
        code = (
            "import ray; ray.init(address='auto', log_to_driver=False); "
            "print(sum(n['Alive'] for n in ray.nodes()))"
        )
        deadline = time.monotonic() + timeout_s
        while True:
            done = subprocess.run(
                [sys.executable, "-c", code],
                env=self.driver_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            alive = done.stdout.strip().splitlines()[-1:] if done.returncode == 0 else []
            if alive == [str(self.nodes)]:
                return
            if time.monotonic() > deadline:
                raise RayEngineError(
                    f"{self.nodes} Ray nodes did not all join in {timeout_s:.0f} s "
                    f"({alive or done.stderr.strip()[-400:]})"
                )
            time.sleep(1.0)

    def node_processes(self, k: int) -> list:
        """Node ``k``'s processes (0: the head) and their children."""
        return self.processes(self.root / ("head" if k == 0 else f"node{k}"))

    def processes(self, folder: Path | None = None) -> list:
        """This cluster's processes (those naming its root folder, or ``folder`` under it)
        and their children."""
        import psutil

        root, found = str(folder or self.root), {}
        for process in psutil.process_iter(["cmdline"]):
            try:
                if root in " ".join(process.info["cmdline"] or ()):
                    found[process.pid] = process
                    for child in process.children(recursive=True):
                        found[child.pid] = child
            except psutil.Error:
                continue
        return list(found.values())

    def close(self) -> None:
        """Stop this cluster's processes (SIGTERM, then SIGKILL after 5 s); idempotent."""
        if self._closed:
            return
        self._closed = True
        import psutil

        processes = self.processes()
        for process in processes:
            try:
                process.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(processes, timeout=5)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
