"""Pydantic models for field sources, validated once when the agent starts.

They live beside the adapters (not in edge_agent) so each adapter can take its own model
without importing the agent, and they import no protocol library, so checking a config stays
cheap and an agent loads only the libraries of the protocols it uses.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from protocols.config_base import Duration, Interval, PathError, StrictConfig, TagName
from protocols.modbus_config import ModbusRtuSource, ModbusTag, ModbusTcpSource, SerialLine
from protocols.mqtt_config import MqttSource
from protocols.opcua_config import OpcUaSource

__all__ = [
    "Duration",
    "Interval",
    "ModbusRtuSource",
    "ModbusTag",
    "ModbusTcpSource",
    "MqttSource",
    "OpcUaSource",
    "PathError",
    "SerialLine",
    "SourceConfig",
    "StrictConfig",
    "TagName",
]

SourceConfig = Annotated[
    ModbusTcpSource | ModbusRtuSource | MqttSource | OpcUaSource, Field(discriminator="kind")
]
"""Every source kind the agent can read. Each offers ``name``, ``tag_paths()``,
``writable_tags()`` and ``tag_prefixes()`` (tags that wildcard subscriptions create)."""
