"""A real mosquitto broker per test on a free loopback port, and a raw paho client to watch it.

The broker gets a generated config in the test's tmp_path and is stopped by its PID. A missing
mosquitto FAILS the test (it is a required test peer, not an optional one).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import Client, MQTTMessage, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import free_port


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/usr/local/sbin")
    if found is None:
        pytest.fail(
            f"{name} is not installed: the MQTT tests need a real broker "
            "(apt-get install mosquitto)",
            pytrace=False,
        )
    return found


class Mosquitto:
    """One mosquitto process.

    Args:
        folder: Where the config, password file and log go.
        users: ``{username: password}``; given, anonymous clients are refused.
        tls: ``(ca_file, cert_file, key_file)``; given, the listener speaks TLS only, and asks
            clients for a certificate signed by that CA when ``require_certificate``.
    """

    def __init__(
        self,
        folder: Path,
        users: dict[str, str] | None = None,
        tls: tuple[Path, Path, Path] | None = None,
        require_certificate: bool = False,
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.users = users
        self.tls = tls
        self.require_certificate = require_certificate
        self.log = folder / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._binary = _binary("mosquitto")

    def _config(self) -> Path:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "set_tcp_nodelay true",
            "persistence false",
            "max_queued_messages 100000",
            "max_inflight_messages 0",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "user root" if os.geteuid() == 0 else "",  # keep access to tmp_path when root
        ]
        if self.tls is not None:
            ca, cert, key = self.tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
            if self.require_certificate:
                lines.append("require_certificate true")
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            password_file = self.folder / "passwords"
            passwd = _binary("mosquitto_passwd")
            password_file.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    [passwd, "-b", str(password_file), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        path = self.folder / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 5.0) -> None:
        """Start and wait until the port accepts connections."""
        assert self._process is None, "already running"
        self._process = subprocess.Popen(
            [self._binary, "-c", str(self._config())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                log = self.log.read_text() if self.log.exists() else ""
                self._process = None
                pytest.fail(f"mosquitto exited at start: {err} {log}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)  # the broker is a separate process: nothing to await
        self.stop()
        pytest.fail(f"mosquitto did not listen on {self.port} within {timeout}s", pytrace=False)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker by its PID (SIGTERM by default, SIGKILL for a crash)."""
        process, self._process = self._process, None
        if process is None:
            return
        os.kill(process.pid, sig)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


class RawClient:
    """A plain paho client for tests: records every message, publishes without any adapter.

    ``messages`` is appended from paho's network thread; use ``wait_for`` to await a condition.
    """

    def __init__(
        self, port: int, client_id: str = "", tls: dict[str, str] | None = None, **connect: Any
    ) -> None:
        self.messages: list[MQTTMessage] = []
        self._lock = threading.Lock()
        self._client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTv5)
        if tls is not None:
            self._client.tls_set(
                ca_certs=tls["ca_file"], certfile=tls.get("cert_file"), keyfile=tls.get("key_file")
            )
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.connect("127.0.0.1", port, **connect)
        self._client.loop_start()

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self._subscribed.clear()
        self._client.subscribe(topic, qos=qos)
        assert self._subscribed.wait(5), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(5)

    def matching(self, predicate: Callable[[MQTTMessage], bool]) -> list[MQTTMessage]:
        with self._lock:
            return [m for m in self.messages if predicate(m)]

    async def wait_for(
        self, predicate: Callable[[MQTTMessage], bool], within: float = 5.0
    ) -> MQTTMessage:
        """The first recorded message that satisfies ``predicate``, waiting up to ``within`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            found = self.matching(predicate)
            if found:
                return found[0]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching message within {within}s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
