"""One way to call a service through the gateway per protocol: gRPC, or REST built from the contracts.

Both return what they got as JSON (``json_format.MessageToDict``, as the
transcoder writes it), so a scenario run once each way can be compared.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import grpc
from google.api import annotations_pb2
from google.protobuf import descriptor_pool, json_format, message, message_factory

from services.launcher.gateway_rpcs import HttpBinding, Rpc

from .support import Envoy, rest

_VARIABLE = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}")


class Api(Protocol):
    """One way to call a service, as one tenant; every method records the RPC it called."""

    called: set[str]

    def call(self, method: str, request: message.Message) -> Any: ...

    def client_stream(self, method: str, requests: Sequence[message.Message]) -> Any: ...

    def server_stream(
        self, method: str, request: message.Message, until: Callable[[Any], bool]
    ) -> list[Any]: ...

    def bidi_stream(self, method: str, requests: Sequence[message.Message]) -> list[Any]: ...


def _response_class(rpc: Rpc) -> type[message.Message]:
    method = descriptor_pool.Default().FindMethodByName(f"{rpc.service}.{rpc.method}")
    return message_factory.GetMessageClass(method.output_type)


def as_json(reply: message.Message) -> Any:
    return json_format.MessageToDict(reply)


class GrpcApi:
    def __init__(self, channel: grpc.Channel, authorization: str, rpcs: Mapping[str, Rpc]) -> None:
        self._channel = channel
        self._metadata = (("authorization", authorization),)
        self._rpcs = rpcs
        self.called: set[str] = set()

    def _callable(self, method: str, kind: str) -> Any:
        self.called.add(method)
        rpc = self._rpcs[method]
        factory = getattr(self._channel, kind)
        return factory(
            rpc.path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=_response_class(rpc).FromString,
        )

    def call(self, method: str, request: message.Message) -> Any:
        return as_json(self._callable(method, "unary_unary")(request, metadata=self._metadata, timeout=10))

    def client_stream(self, method: str, requests: Sequence[message.Message]) -> Any:
        upload = self._callable(method, "stream_unary")
        return as_json(upload(iter(requests), metadata=self._metadata, timeout=10))

    def server_stream(self, method: str, request: message.Message, until: Callable[[Any], bool]) -> list[Any]:
        stream = self._callable(method, "unary_stream")(request, metadata=self._metadata, timeout=10)
        events = []
        for event in stream:
            events.append(as_json(event))
            if until(events[-1]):
                stream.cancel()
                break
        return events

    def bidi_stream(self, method: str, requests: Sequence[message.Message]) -> list[Any]:
        stream = self._callable(method, "stream_stream")(iter(requests), metadata=self._metadata, timeout=10)
        return [as_json(reply) for reply in stream]


def _field(request: message.Message, proto_path: str) -> Any:
    value: Any = request
    for part in proto_path.split("."):
        value = getattr(value, part)
    return value


def _json_name(request: message.Message, proto_name: str) -> str:
    return str(request.DESCRIPTOR.fields_by_name[proto_name].json_name)


def _query(values: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, json.dumps(item) if isinstance(item, bool) else str(item)))
    return pairs


def _drop(fields: dict[str, Any], request: message.Message, proto_path: str) -> None:
    """Remove the field at ``proto_path`` (bound in the URL) from the request's JSON."""
    holder, owner = fields, request
    *parents, leaf = proto_path.split(".")
    for part in parents:
        holder = holder.get(_json_name(owner, part), {})
        owner = getattr(owner, part)
    holder.pop(_json_name(owner, leaf), None)


def http_request(rpc: Rpc, request: message.Message, binding: int = 0) -> tuple[str, str, Any]:
    """The REST request of ``request`` for one of the RPC's bindings: method, path with query, JSON body.

    As a REST client writes it: fields bound in the path are left out of the body; the binding's body
    field (or the whole request for ``*``) is the body; every other field is a query parameter.
    """
    chosen: HttpBinding = rpc.bindings[binding]
    fields = json_format.MessageToDict(request)
    path = chosen.template
    for variable in _VARIABLE.finditer(chosen.template):
        proto_path = variable.group(1)
        path = path.replace(variable.group(0), urllib.parse.quote(str(_field(request, proto_path)), safe="/"))
        _drop(fields, request, proto_path)
    method = descriptor_pool.Default().FindMethodByName(f"{rpc.service}.{rpc.method}")
    body_field = method.GetOptions().Extensions[annotations_pb2.http].body
    body: Any = None
    if body_field == "*":
        body, fields = fields, {}
    elif body_field:
        body = fields.pop(_json_name(request, body_field), {})
    query = urllib.parse.urlencode(_query(fields))
    return chosen.verb, path + (f"?{query}" if query else ""), body


class RestApi:
    def __init__(self, gateway: Envoy, authorization: str, rpcs: Mapping[str, Rpc]) -> None:
        self._gateway = gateway
        self._authorization = authorization
        self._rpcs = rpcs
        self.called: set[str] = set()

    def _send(self, method: str, path: str, body: Any) -> Any:
        reply = rest(self._gateway.address, method, path, body=body, authorization=self._authorization)
        assert reply.status == 200, (method, path, reply.status, reply.body)
        assert reply.headers["content-type"] == "application/json"
        return reply.json()

    def call(self, method: str, request: message.Message) -> Any:
        self.called.add(method)
        return self._send(*http_request(self._rpcs[method], request))

    def client_stream(self, method: str, requests: Sequence[message.Message]) -> Any:
        # A client stream is a JSON array of the messages.
        self.called.add(method)
        return self._send("POST", self._rpcs[method].bindings[0].template, [as_json(r) for r in requests])

    def _lines(self, method: str, path: str, body: Any) -> Iterable[Any]:
        """A server stream is newline-delimited JSON, one message per line."""
        host, port = self._gateway.address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"authorization": self._authorization}
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["content-type"] = "application/json"
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            assert response.status == 200, (path, response.status, response.read())
            while line := response.readline():
                if line.strip():
                    yield json.loads(line)
        finally:
            connection.close()

    def server_stream(self, method: str, request: message.Message, until: Callable[[Any], bool]) -> list[Any]:
        self.called.add(method)
        events: list[Any] = []
        for event in self._lines(*http_request(self._rpcs[method], request)):
            events.append(event)
            if until(event):
                break
        return events

    def bidi_stream(self, method: str, requests: Sequence[message.Message]) -> list[Any]:
        # Both directions as for the one-sided streams: a JSON array in, newline-delimited JSON out.
        # The path comes from the first message, as a REST client's would.
        self.called.add(method)
        verb, path, _ = http_request(self._rpcs[method], requests[0])
        return list(self._lines(verb, path, [as_json(r) for r in requests]))
