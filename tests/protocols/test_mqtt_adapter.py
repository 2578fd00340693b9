"""The MQTT adapter against a real mosquitto and the simulated plant's MQTT publisher."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from protocols.base import ConnectError, Reading, WriteRefused
from protocols.mqtt import Mqtt
from protocols.mqtt_config import MqttSource
from protocols.sim.mqtt_publisher import SPARKPLUG_METRICS, MqttPlantPublisher
from protocols.sim.plant import Plant
from protocols.sparkplug import REBIRTH_METRIC, DataType, decode_payload, to_scalar
from protocols.wire import Quality
from tests.protocols.mosquitto import Mosquitto, RawClient

PRESS_KEYS = ("temperature", "pressure", "cycle_count", "state")
JSON_PRESS = {
    "topic": "floorgate/sim/press",
    "payload": {
        "format": "json",
        "tags": [
            {"name": f"press.{key}", "path": f"$.{key}", "timestamp_path": "$.ts"}
            for key in PRESS_KEYS
        ],
    },
}
SPARKPLUG_ALL = {
    "payload": {
        "format": "sparkplug",
        "group": "plant",
        "edge_node": "sim",
        "metrics": [{"name": name, "tag": f"sp.{name}"} for name, _ in SPARKPLUG_METRICS],
    }
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def raw(broker: Mosquitto) -> Iterator[RawClient]:
    client = RawClient(broker.port)
    yield client
    client.close()


def config(port: int, *subscriptions: dict[str, Any], **extra: Any) -> MqttSource:
    return MqttSource.model_validate(
        {
            "kind": "mqtt",
            "name": "broker",
            "host": "127.0.0.1",
            "port": port,
            "client_id": extra.pop("client_id", "agent-test"),
            "timeout": 2,
            "subscriptions": list(subscriptions),
            **extra,
        }
    )


async def collect(
    source: Mqtt, done: Callable[[dict[str, Reading]], bool], within: float = 5.0
) -> dict[str, Reading]:
    """Latest reading per tag, read until ``done`` says enough."""
    latest: dict[str, Reading] = {}
    try:
        async with asyncio.timeout(within), contextlib.aclosing(source.scans()) as scans:
            async for batch in scans:
                latest.update((r.tag, r) for r in batch)
                if done(latest):
                    return latest
    except TimeoutError:
        raise AssertionError(f"not done within {within}s; got {sorted(latest)}") from None
    raise AssertionError("scans() ended")


def has(*tags: str) -> Callable[[dict[str, Reading]], bool]:
    return lambda latest: all(tag in latest for tag in tags)


@contextlib.asynccontextmanager
async def pumping(sim: MqttPlantPublisher, period: float = 0.05) -> AsyncIterator[None]:
    """Publish the plant every ``period`` seconds (as ``floorgate sim`` does) while inside."""

    async def pump() -> None:
        while True:
            sim.plant.step(period)
            await sim.publish()
            await asyncio.sleep(period)

    async with asyncio.TaskGroup() as group:
        task = group.create_task(pump())
        try:
            yield
        finally:
            task.cancel()


def assert_close(got: object, want: object) -> None:
    if isinstance(want, float):
        assert isinstance(got, float)
        assert math.isclose(got, want, rel_tol=1e-9)
    else:
        assert got == want


async def test_reads_the_sims_json_and_sparkplug_values(broker: Mosquitto) -> None:
    plant = Plant(seed=4)
    plant.step(3.0)
    source = Mqtt(config(broker.port, JSON_PRESS, SPARKPLUG_ALL))
    sp_tags = [f"sp.{name}" for name, _ in SPARKPLUG_METRICS]
    async with source, MqttPlantPublisher(plant, port=broker.port):  # NBIRTH + one publish
        latest = await collect(source, has(*(f"press.{k}" for k in PRESS_KEYS), *sp_tags))
    expected = plant.values()
    for key in PRESS_KEYS:
        reading = latest[f"press.{key}"]
        assert reading.quality is Quality.GOOD
        assert_close(reading.value, expected[f"press.{key}"])
        assert abs((reading.receive_time - reading.source_time).total_seconds()) < 2
    for name, _ in SPARKPLUG_METRICS:
        reading = latest[f"sp.{name}"]
        assert reading.quality is Quality.GOOD, reading
        assert_close(reading.value, expected[name.replace("/", ".")])
    assert source.garbled == {}
    assert source.rebirths == 0
    assert source.tags()[:4] == [f"press.{k}" for k in PRESS_KEYS]


async def test_wildcard_subscriptions(broker: Mosquitto, raw: RawClient) -> None:
    every_area = {
        "topic": "floorgate/sim/+",
        "qos": 0,
        "payload": {
            "format": "json",
            "tags": [
                {"name": "oven.zone2", "path": "$.zone2"},
                {"name": "silo.level", "path": "$.level"},
            ],
        },
    }
    states = {
        "topic": "lines/#",
        "payload": {"format": "plain", "type": "text", "tag_prefix": "mqtt/"},
    }
    plant = Plant(seed=5)
    source = Mqtt(config(broker.port, every_area, states))
    async with source, MqttPlantPublisher(plant, port=broker.port):
        raw.publish("lines/1/state", b"RUNNING")
        raw.publish("lines/2/state", b"DOWN")
        raw.publish("lines/with space", b"x")  # not a valid tag name: garbled, skipped
        raw.publish("lines/3/state", b"IDLE")  # after it on the same connection: a marker
        latest = await collect(
            source, has("oven.zone2", "silo.level", "mqtt/lines/2/state", "mqtt/lines/3/state")
        )
    assert latest["mqtt/lines/1/state"].value == "RUNNING"
    assert latest["mqtt/lines/2/state"].value == "DOWN"
    assert_close(latest["oven.zone2"].value, plant.values()["oven.zone2"])
    assert_close(latest["silo.level"].value, plant.values()["silo.level"])
    assert source.tags() == [
        "oven.zone2",
        "silo.level",
        "mqtt/lines/1/state",
        "mqtt/lines/2/state",
        "mqtt/lines/3/state",
    ]
    assert source.garbled == {"lines/with space": 1}


async def test_qos1_messages_sent_while_disconnected_arrive_after_reconnect(
    broker: Mosquitto, raw: RawClient
) -> None:
    counter = {"topic": "line1/count", "qos": 1, "payload": {"format": "plain", "tag": "count"}}
    settings = config(broker.port, counter, client_id="persistent-agent")
    async with Mqtt(settings):
        pass  # the broker now keeps a session with the QoS 1 subscription
    for value in range(1, 6):
        raw.publish("line1/count", str(value).encode(), qos=1)

    source = Mqtt(settings)
    seen: list[object] = []
    async with source:

        def five(latest: dict[str, Reading]) -> bool:
            seen.append(latest["count"].value if "count" in latest else None)
            return latest.get("count") is not None and latest["count"].value == 5

        await collect(source, five)
    assert [v for v in seen if v is not None][-1] == 5

    # A clean session gets nothing of what was sent meanwhile.
    async with Mqtt(config(broker.port, counter, client_id="clean", clean_start=True)):
        pass
    raw.publish("line1/count", b"6", qos=1)
    clean = Mqtt(config(broker.port, counter, client_id="clean", clean_start=True))
    async with clean:
        raw.publish("line1/count", b"7", qos=1)
        latest = await collect(clean, has("count"))
    assert latest["count"].value == 7


async def test_every_queued_message_arrives_in_order(broker: Mosquitto, raw: RawClient) -> None:
    counter = {"topic": "line1/count", "qos": 1, "payload": {"format": "plain", "tag": "count"}}
    settings = config(broker.port, counter, client_id="ordered")
    async with Mqtt(settings):
        pass
    for value in range(1, 51):
        raw.publish("line1/count", str(value).encode(), qos=1)
    values: list[object] = []
    source = Mqtt(settings)
    async with source, asyncio.timeout(5), contextlib.aclosing(source.scans()) as scans:
        async for batch in scans:
            values += [r.value for r in batch]
            if len(values) >= 50:
                break
    assert values == list(range(1, 51))


async def test_broker_restart_ends_scans_promptly_and_a_new_session_works(
    broker: Mosquitto, raw: RawClient
) -> None:
    plain = {"topic": "line1/speed", "payload": {"format": "plain", "tag": "speed"}}
    source = Mqtt(config(broker.port, plain))
    loop = asyncio.get_running_loop()
    async with source:
        raw.publish("line1/speed", b"1.5")
        await collect(source, has("speed"))
        raw.close()
        stopped = loop.time()
        broker.stop()
        with pytest.raises(ConnectError, match="connection lost"):
            await collect(source, lambda _: False)
        assert loop.time() - stopped < 1.0

    with pytest.raises(ConnectError, match="cannot connect"):
        async with Mqtt(config(broker.port, plain)):
            pass

    broker.start()
    again = Mqtt(config(broker.port, plain))
    async with again:
        publisher = RawClient(broker.port)
        publisher.publish("line1/speed", b"2.5")
        publisher.close()
        latest = await collect(again, has("speed"))
    assert latest["speed"].value == 2.5


async def test_garbled_payloads_are_counted_per_topic_and_skipped(
    broker: Mosquitto, raw: RawClient
) -> None:
    speed = {"topic": "line1/speed", "payload": {"format": "plain", "tag": "speed"}}
    source = Mqtt(config(broker.port, JSON_PRESS, speed, SPARKPLUG_ALL))
    plant = Plant(seed=2)
    async with source, MqttPlantPublisher(plant, port=broker.port) as sim:
        await sim.garble(3)
        await sim.garble(1, topic="spBv1.0/plant/NDATA/sim")
        raw.publish("line1/speed", b"fast")
        raw.publish("line1/speed", b"\xff")
        raw.publish("line1/speed", b"12.5")
        # Garbled messages yield no readings: keep the sim publishing so that scans go on.
        async with pumping(sim):
            latest = await collect(
                source,
                lambda latest: "speed" in latest and sum(source.garbled.values()) >= 6,
            )
            await collect(source, has("sp.press/temperature"))
    assert source.garbled == {
        "floorgate/sim/press": 3,
        "spBv1.0/plant/NDATA/sim": 1,
        "line1/speed": 2,
    }
    assert latest["speed"].value == 12.5
    assert latest["press.temperature"].quality is Quality.GOOD


async def test_sparkplug_rebirth_on_missed_birth_and_on_seq_gap(
    broker: Mosquitto, raw: RawClient
) -> None:
    raw.subscribe("spBv1.0/plant/NCMD/sim", qos=0)
    plant = Plant(seed=6)
    async with MqttPlantPublisher(plant, port=broker.port) as sim:
        # Started after the NBIRTH: the aliases in NDATA are unknown until a rebirth.
        source = Mqtt(config(broker.port, SPARKPLUG_ALL))
        async with source, pumping(sim):
            latest = await collect(source, has("sp.press/temperature", "sp.pack/lot"))
            assert source.rebirths == 1
            assert sim.births == 2
            assert latest["sp.pack/lot"].value == "LOT-0001"
            first = await raw.wait_for(lambda m: True)
            (metric,) = decode_payload(bytes(first.payload)).metrics
            assert (metric.name, metric.value) == (REBIRTH_METRIC, True)

            sim.skip_seq(3)  # three messages lost on the way
            await collect(source, lambda _: source.rebirths == 2)
            await raw.wait_for(lambda m: len(raw.messages) >= 2)
            await collect(source, lambda _: sim.births == 3)
            after = await collect(source, has("sp.press/state"))
            assert after["sp.press/state"].quality is Quality.GOOD


async def test_node_death_makes_the_nodes_tags_bad(broker: Mosquitto) -> None:
    plant = Plant(seed=7)
    source = Mqtt(config(broker.port, SPARKPLUG_ALL, JSON_PRESS))
    async with source:
        sim = MqttPlantPublisher(plant, port=broker.port)
        await sim.start()
        good = await collect(source, has("sp.press/temperature"))
        assert good["sp.press/temperature"].quality is Quality.GOOD
        await sim.stop()  # publishes NDEATH
        dead = await collect(
            source, lambda latest: latest["sp.press/temperature"].quality is Quality.BAD
        )
    for name, _ in SPARKPLUG_METRICS:
        reading = dead[f"sp.{name}"]
        assert reading.quality is Quality.BAD
        assert reading.value is None
        assert reading.context == {"reason": "sparkplug NDEATH"}
    json_bad = [t for t, r in dead.items() if t.startswith("press.") and r.quality is Quality.BAD]
    assert json_bad == []  # the JSON tags are not the node's


async def test_full_inbox_drops_the_oldest_and_counts(broker: Mosquitto, raw: RawClient) -> None:
    counter = {"topic": "line1/count", "payload": {"format": "plain", "tag": "count"}}
    source = Mqtt(config(broker.port, counter, max_queued=5))
    async with source:
        for value in range(1, 21):
            raw.publish("line1/count", str(value).encode())
        async with asyncio.timeout(5):
            while source.dropped < 15:  # noqa: ASYNC110 - paho's thread fills it: no event
                await asyncio.sleep(0.01)
        async with contextlib.aclosing(source.scans()) as scans:
            batch = await anext(scans)
    assert [r.value for r in batch] == [16, 17, 18, 19, 20]
    assert source.dropped == 15


async def test_username_and_password(tmp_path: Path) -> None:
    server = Mosquitto(tmp_path, users={"agent": "s3cret pass"})
    server.start()
    try:
        good_file = tmp_path / "agent.pass"
        good_file.write_text("s3cret pass\n")
        bad_file = tmp_path / "wrong.pass"
        bad_file.write_text("guess")
        plain = {"topic": "a", "payload": {"format": "plain", "tag": "a"}}
        async with Mqtt(
            config(server.port, plain, username="agent", password_file=str(good_file))
        ) as source:
            assert source.tags() == ["a"]
        with pytest.raises(ConnectError, match=r"refused the connection: (Bad user name|Not auth)"):
            async with Mqtt(
                config(server.port, plain, username="agent", password_file=str(bad_file))
            ):
                pass
        with pytest.raises(ConnectError, match="refused the connection"):
            async with Mqtt(config(server.port, plain)):  # anonymous
                pass
        with pytest.raises(ConnectError, match="cannot read password_file"):
            async with Mqtt(
                config(server.port, plain, username="agent", password_file=str(tmp_path / "no"))
            ):
                pass
    finally:
        server.stop()


_DYING_AGENT = textwrap.dedent(
    """
    import asyncio, sys
    from protocols.mqtt import Mqtt
    from protocols.mqtt_config import MqttSource

    async def main() -> None:
        config = MqttSource.model_validate_json(sys.argv[1])
        async with Mqtt(config):
            print("ready", flush=True)
            await asyncio.sleep(60)

    asyncio.run(main())
    """
)


async def test_status_topic_online_then_offline_when_the_client_dies(
    broker: Mosquitto, raw: RawClient
) -> None:
    raw.subscribe("agents/+/status")
    plain = {"topic": "a", "payload": {"format": "plain", "tag": "a"}}
    settings = config(broker.port, plain, client_id="dying", status_topic="agents/dying/status")
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _DYING_AGENT,
        settings.model_dump_json(),
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert agent.stdout is not None
        line = await asyncio.wait_for(agent.stdout.readline(), 10)
        assert line.strip() == b"ready"
        online = await raw.wait_for(lambda m: m.topic == "agents/dying/status")
        assert online.payload == b"online"
        os.kill(agent.pid, signal.SIGKILL)  # no DISCONNECT: the broker sends the will
        await raw.wait_for(lambda m: m.payload == b"offline", within=3)
    finally:
        if agent.returncode is None:
            os.kill(agent.pid, signal.SIGKILL)
        await agent.wait()

    # A clean close says offline too, and the retained value tells late subscribers.
    async with Mqtt(settings):
        pass
    late = RawClient(broker.port)
    try:
        late.subscribe("agents/dying/status")
        retained = await late.wait_for(lambda m: m.retain)
        assert retained.payload == b"offline"
    finally:
        late.close()


async def test_writes_go_to_command_topics_of_writable_tags_only(
    broker: Mosquitto, raw: RawClient
) -> None:
    raw.subscribe("cmd/#")
    raw.subscribe("spBv1.0/plant/NCMD/sim")
    setpoint = {
        "topic": "line1/setpoint",
        "payload": {"format": "plain", "tag": "setpoint", "command_topic": "cmd/setpoint"},
    }
    mode = {
        "topic": "line1/status",
        "payload": {
            "format": "json",
            "tags": [
                {"name": "mode", "path": "$.mode", "command_topic": "cmd/mode"},
                {"name": "speed", "path": "$.speed"},
            ],
        },
    }
    sparkplug = {
        "payload": {
            "format": "sparkplug",
            "group": "plant",
            "edge_node": "sim",
            "metrics": [{"name": "press/state", "tag": "press.state", "writable": True}],
        }
    }
    source = Mqtt(config(broker.port, setpoint, mode, sparkplug))
    async with source, MqttPlantPublisher(Plant(), port=broker.port):
        await collect(source, has("press.state"))  # the birth gave its datatype
        await source.write("setpoint", 72.5)
        await source.write("mode", "AUTO")
        await source.write("press.state", 2)
        with pytest.raises(WriteRefused, match="not writable"):
            await source.write("speed", 1.0)
        with pytest.raises(WriteRefused, match="takes a number"):
            await source.write("setpoint", "fast")
        with pytest.raises(WriteRefused, match="INT32 takes an integer"):
            await source.write("press.state", 1.5)
        await raw.wait_for(lambda m: m.topic == "spBv1.0/plant/NCMD/sim")
    assert raw.matching(lambda m: m.topic == "cmd/setpoint")[0].payload == b"72.5"
    assert raw.matching(lambda m: m.topic == "cmd/mode")[0].payload == b'{"value": "AUTO"}'
    ncmd = raw.matching(lambda m: m.topic == "spBv1.0/plant/NCMD/sim")[0]
    (metric,) = decode_payload(bytes(ncmd.payload)).metrics
    assert metric.name == "press/state"
    assert metric.datatype is DataType.INT32
    assert to_scalar(metric.value, metric.datatype) == 2
