"""``browse``: the simulated plant's variables with their node ids, paths and types."""

from __future__ import annotations

import pytest

from protocols.base import ConnectError
from protocols.opcua_browse import browse
from protocols.sim.opcua_server import VARIABLES, OpcUaPlantServer
from protocols.sim.plant import Plant
from tests.conftest import free_port


async def test_browse_lists_the_sim_variables_with_types_and_values() -> None:
    plant = Plant(seed=2)
    async with OpcUaPlantServer(plant, port=free_port()) as sim:
        found = await browse(sim.endpoint)
        shallow = await browse(sim.endpoint, max_depth=1)
    by_id = {variable.node_id: variable for variable in found}
    values = plant.values()
    for variable in VARIABLES:
        browsed = by_id[f"ns=2;s={variable.tag}"]
        assert browsed.data_type == variable.type.name
        assert browsed.status == "Good"
        if variable.tag in values:
            assert browsed.value == values[variable.tag]
    assert by_id["ns=2;s=press.temperature"].path == "/Objects/2:Press/2:temperature"
    assert by_id["ns=2;s=pack.lot"].path == "/Objects/2:Packaging/2:lot"
    assert not any(v.path.startswith("/Objects/Server/") for v in found)  # noise left out
    assert not any(v.node_id.startswith("ns=2;") for v in shallow)  # they are one level down


async def test_browse_an_unreachable_endpoint_is_a_connect_error() -> None:
    with pytest.raises(ConnectError):
        await browse(f"opc.tcp://127.0.0.1:{free_port()}")
