"""Errors the gateway answers itself, shaped like the services' errors for each kind of client.

A REST client gets what a service's error becomes through the transcoder: a
``google.rpc.Status`` as JSON, ``{"code": 16, "message": "Jwt is missing"}``,
with the HTTP status Envoy chose.  A gRPC client keeps Envoy's own reply, a
trailers-only gRPC status (UNAUTHENTICATED, RESOURCE_EXHAUSTED, ...).

A REST 401 carries ``WWW-Authenticate`` whoever refused the token: jwt_authn
sets it on its own replies, and :func:`rest_challenge` adds it to a service's
UNAUTHENTICATED once the transcoder has made that a 401.

Which kind a client is comes from the content type it sent, recorded on
arrival: by the time the router answers (no healthy instance, a timeout) the
transcoder has already given a REST call the gRPC content type.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from services.launcher.gateway_api import (
    accesslog,
    core,
    hcm,
    header_mutation,
    matcher,
    matcher_action,
    matching,
    mutation_rules,
    pack,
    protobuf,
    route,
    xds_core,
    xds_matcher,
)
from services.launcher.gateway_model import CLIENT_CONTENT_TYPE_HEADER


class Code(enum.IntEnum):
    """The canonical codes of ``google.rpc.Code`` the gateway's own replies use."""

    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    UNAUTHENTICATED = 16


REST_CODES: Mapping[int, Code] = {
    400: Code.INVALID_ARGUMENT,  # the transcoder: an unknown query parameter, a body that is not JSON
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,  # no such path, or not with this HTTP method
    408: Code.DEADLINE_EXCEEDED,
    413: Code.RESOURCE_EXHAUSTED,  # what a gRPC client gets for a message over the limit
    429: Code.RESOURCE_EXHAUSTED,
    500: Code.INTERNAL,
    501: Code.UNIMPLEMENTED,
    502: Code.UNAVAILABLE,
    503: Code.UNAVAILABLE,
    504: Code.DEADLINE_EXCEEDED,
}
"""The code in a REST client's error body per HTTP status, after ``google.rpc.Code``'s HTTP mapping;
any other status carries UNKNOWN."""

GRPC_CONTENT_TYPE = "application/grpc"
_RUNTIME_PREFIX = "gateway.local_reply"


def _status(op: accesslog.ComparisonFilterOp, status: int) -> accesslog.AccessLogFilter:
    # Envoy requires a runtime key for the compared value; nothing sets it, so the default holds.
    key = f"{_RUNTIME_PREFIX}.status_{op.name.lower()}_{status}"
    value = core.RuntimeUInt32(default_value=status, runtime_key=key)
    return accesslog.AccessLogFilter(
        status_code_filter=accesslog.StatusCodeFilter(
            comparison=accesslog.ComparisonFilter(op=op, value=value)
        )
    )


def _grpc_client() -> accesslog.AccessLogFilter:
    """A client that sent a gRPC content type (``application/grpc``, ``application/grpc+proto``, ...)."""
    sent = route.HeaderMatcher(
        name=CLIENT_CONTENT_TYPE_HEADER, string_match=matcher.StringMatcher(prefix=GRPC_CONTENT_TYPE)
    )
    return accesslog.AccessLogFilter(header_filter=accesslog.HeaderFilter(header=sent))


def _json_status(code: Code) -> core.SubstitutionFormatString:
    body = protobuf.Struct.from_dict({"code": int(code), "message": "%LOCAL_REPLY_BODY%"})
    return core.SubstitutionFormatString(json_format=body, content_type="application/json")


def local_replies() -> hcm.LocalReplyConfig:
    """gRPC clients' replies as Envoy makes them, then a JSON status per HTTP status for the others.

    The first mapper that matches applies.  The configuration sets no body format of its own, so the
    gRPC mapper, which rewrites nothing, leaves Envoy's text as it is: the ``grpc-message`` of the
    trailers-only reply, whose ``grpc-status`` Envoy derives as before.
    """
    unchanged = hcm.ResponseMapper(filter=_grpc_client())
    per_status = [
        hcm.ResponseMapper(
            filter=_status(accesslog.ComparisonFilterOp.EQ, status), body_format_override=_json_status(code)
        )
        for status, code in sorted(REST_CODES.items())
    ]
    other = hcm.ResponseMapper(
        filter=_status(accesslog.ComparisonFilterOp.GE, 0), body_format_override=_json_status(Code.UNKNOWN)
    )
    return hcm.LocalReplyConfig(mappers=[unchanged, *per_status, other])


CHALLENGE_FILTER = "aiplat.rest_challenge"
"""The HTTP filter that adds ``WWW-Authenticate`` to a 401 the transcoder made of a service's
UNAUTHENTICATED (a token the gateway accepted and the service did not, e.g. one without a tenant)."""
CHALLENGE = 'Bearer error="invalid_token"'
"""RFC 6750's challenge for a token that was sent and refused."""


def _unless_unauthorized() -> xds_matcher.Matcher:
    """Skip the wrapped filter for every response whose status is not 401 (decided on the response
    headers; the filter does nothing on the request)."""
    status = xds_matcher.MatcherMatcherListPredicate(
        single_predicate=xds_matcher.MatcherMatcherListPredicateSinglePredicate(
            input=xds_core.TypedExtensionConfig(
                name="status", typed_config=pack(matcher.HttpResponseHeaderMatchInput(header_name=":status"))
            ),
            value_match=xds_matcher.StringMatcher(exact="401"),
        )
    )
    skip = xds_matcher.MatcherOnMatch(
        action=xds_core.TypedExtensionConfig(name="skip", typed_config=pack(matcher_action.SkipFilter()))
    )
    return xds_matcher.Matcher(
        matcher_list=xds_matcher.MatcherMatcherList(
            matchers=[
                xds_matcher.MatcherMatcherListFieldMatcher(
                    predicate=xds_matcher.MatcherMatcherListPredicate(not_matcher=status), on_match=skip
                )
            ]
        )
    )


def rest_challenge() -> matching.ExtensionWithMatcher:
    """``WWW-Authenticate`` on a 401 that lacks one; placed before the transcoder, so that on the way
    back it sees the HTTP status the transcoder made of the service's gRPC status."""
    challenge = mutation_rules.HeaderMutation(
        append=core.HeaderValueOption(
            header=core.HeaderValue(key="www-authenticate", value=CHALLENGE),
            append_action=core.HeaderValueOptionHeaderAppendAction.ADD_IF_ABSENT,
        )
    )
    mutation = header_mutation.HeaderMutation(
        mutations=header_mutation.Mutations(response_mutations=[challenge])
    )
    return matching.ExtensionWithMatcher(
        xds_matcher=_unless_unauthorized(),
        extension_config=core.TypedExtensionConfig(
            name="envoy.filters.http.header_mutation", typed_config=pack(mutation)
        ),
    )
