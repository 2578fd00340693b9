"""``floorgate browse opc.tcp://...``: list a server's variables to write a tag table from.

Walks the Objects folder breadth first over hierarchical references (folders and objects, not
into variables), then reads every variable's data type and current value in batched requests.
The node id and the browse path it prints are both accepted as ``node`` in the config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.uaerrors import UaError

from protocols.base import ConnectError, ReadTimeout
from protocols.opcua import close_client, connect_client, status_name, to_scalar
from protocols.opcua_config import OpcUaSecurity
from protocols.wire import Scalar

_PER_REQUEST = 500
_NODE_CLASSES = ua.NodeClass.Object | ua.NodeClass.Variable
_MAX_TEXT = 60


@dataclass(frozen=True, slots=True)
class BrowsedVariable:
    """One variable found on the server.

    Args:
        node_id: E.g. ``ns=2;s=press.temperature``.
        path: The browse path from the root, e.g. ``/Objects/2:Press/2:temperature``.
        data_type: The data type's browse name, e.g. ``Double``.
        value: The current value; arrays and structures as shortened text.
        status: The status of the value read, e.g. ``Good`` or ``BadNotReadable``.
    """

    node_id: str
    path: str
    data_type: str
    value: Scalar
    status: str


async def browse(
    endpoint: str,
    *,
    max_depth: int = 6,
    max_variables: int = 10_000,
    include_server: bool = False,
    security: OpcUaSecurity | None = None,
    username: str | None = None,
    password: str | None = None,
    request_timeout: float = 5.0,
) -> list[BrowsedVariable]:
    """Every variable below Objects, up to ``max_depth`` levels deep, in browse order.

    Args:
        endpoint: ``opc.tcp://host:port[/path]``.
        max_depth: Levels below Objects to descend (1 lists Objects' own variables).
        max_variables: Stop collecting after this many (servers with huge address spaces).
        include_server: Also walk the standard ``Server`` object (diagnostics, mostly noise).
        security: The secure channel, as in the source config; ``None`` means policy None.
        username: User token; anonymous when ``None``.
        password: The user's password.
        request_timeout: Bounds each request.

    Raises:
        ConnectError: Unreachable, refused, or the connection dropped.
        ReadTimeout: The server stopped answering.
    """
    client = await connect_client(
        endpoint,
        label="browse",
        security=security,
        username=username,
        password=password,
        request_timeout=request_timeout,
    )
    try:
        found = await _walk(client, max_depth, max_variables, include_server)
        return await _describe(client, found)
    except TimeoutError as exc:
        raise ReadTimeout(f"browse: {endpoint} stopped answering") from exc
    except (OSError, UaError) as exc:
        raise ConnectError(f"browse: {endpoint}: {exc}") from exc
    finally:
        await close_client(client, request_timeout)


async def _walk(
    client: Client, max_depth: int, max_variables: int, include_server: bool
) -> list[tuple[ua.NodeId, str]]:
    objects = ua.NodeId(ua.Int32(ObjectIds.ObjectsFolder))
    server = ua.NodeId(ua.Int32(ObjectIds.Server))
    seen = {objects}
    frontier = [(objects, "/Objects")]
    variables: list[tuple[ua.NodeId, str]] = []
    for _ in range(max_depth):
        next_frontier: list[tuple[ua.NodeId, str]] = []
        for start in range(0, len(frontier), _PER_REQUEST):
            chunk = frontier[start : start + _PER_REQUEST]
            results = await _browse(client, [node for node, _ in chunk])
            for (_, parent_path), references in zip(chunk, results, strict=True):
                for ref in references:
                    node = ua.NodeId(
                        ref.NodeId.Identifier, ref.NodeId.NamespaceIndex, ref.NodeId.NodeIdType
                    )
                    if node in seen or (node == server and not include_server):
                        continue
                    seen.add(node)
                    name = ref.BrowseName
                    step = (
                        f"{name.NamespaceIndex}:{name.Name}" if name.NamespaceIndex else name.Name
                    )
                    path = f"{parent_path}/{step}"
                    if ref.NodeClass == ua.NodeClass.Variable:
                        variables.append((node, path))
                        if len(variables) >= max_variables:
                            return variables
                    else:
                        next_frontier.append((node, path))
        frontier = next_frontier
        if not frontier:
            break
    return variables


async def _browse(
    client: Client, nodes: Sequence[ua.NodeId]
) -> list[list[ua.ReferenceDescription]]:
    """Forward hierarchical references to objects and variables, continuation points followed."""
    descriptions = [
        ua.BrowseDescription(
            NodeId=node,
            BrowseDirection=ua.BrowseDirection.Forward,
            ReferenceTypeId=ua.NodeId(ua.Int32(ObjectIds.HierarchicalReferences)),
            NodeClassMask=ua.UInt32(_NODE_CLASSES),
            ResultMask=ua.UInt32(ua.BrowseResultMask.All),
        )
        for node in nodes
    ]
    results = await client.uaclient.browse(ua.BrowseParameters(NodesToBrowse=descriptions))
    references: list[list[ua.ReferenceDescription]] = []
    for result in results:
        found = list(result.References)
        point = result.ContinuationPoint
        while point:
            more = await client.uaclient.browse_next(
                ua.BrowseNextParameters(ContinuationPoints=[point])
            )
            found += more[0].References
            point = more[0].ContinuationPoint
        references.append(found)
    return references


async def _describe(client: Client, found: list[tuple[ua.NodeId, str]]) -> list[BrowsedVariable]:
    types: list[ua.DataValue] = []
    values: list[ua.DataValue] = []
    for start in range(0, len(found), _PER_REQUEST):
        nodes = [node for node, _ in found[start : start + _PER_REQUEST]]
        types += await _read(client, nodes, AttributeIds.DataType)
        values += await _read(client, nodes, AttributeIds.Value)
    type_ids = {
        data.Value.Value
        for data in types
        if data.Value is not None and isinstance(data.Value.Value, ua.NodeId)
    }
    names: dict[ua.NodeId, str] = {}
    ordered = list(type_ids)
    for start in range(0, len(ordered), _PER_REQUEST):
        chunk = ordered[start : start + _PER_REQUEST]
        for type_id, data in zip(
            chunk, await _read(client, chunk, AttributeIds.BrowseName), strict=True
        ):
            name = data.Value.Value if data.Value is not None else None
            names[type_id] = (
                name.Name if isinstance(name, ua.QualifiedName) else type_id.to_string()
            )
    described = []
    for (node, path), type_data, value_data in zip(found, types, values, strict=True):
        raw_type = type_data.Value.Value if type_data.Value is not None else None
        data_type = names.get(raw_type, "?") if isinstance(raw_type, ua.NodeId) else "?"
        status = value_data.StatusCode
        raw = value_data.Value.Value if value_data.Value is not None else None
        try:
            value = to_scalar(raw)
        except ValueError:
            text = repr(raw)
            value = text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."
        described.append(
            BrowsedVariable(
                node_id=node.to_string(),
                path=path,
                data_type=data_type,
                value=value,
                status=status_name(status.value) if status is not None else "Good",
            )
        )
    return described


async def _read(
    client: Client, nodes: Sequence[ua.NodeId], attribute: AttributeIds
) -> list[ua.DataValue]:
    params = ua.ReadParameters(
        NodesToRead=[ua.ReadValueId(NodeId=node, AttributeId=attribute) for node in nodes]
    )
    result: list[ua.DataValue] = await client.uaclient.read(params)
    return result
