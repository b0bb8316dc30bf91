"""Reading the data plane's messages and building the picker's answers."""

from __future__ import annotations

from typing import Any

from envoy_client import header_map, metadata, pb

from sloserve.epp import protocol


def headers_message(**namespaces: Any) -> Any:
    message = pb.ProcessingRequest(
        request_headers=pb.HttpHeaders(headers=header_map({"X-Slo-Class": "batch"}))
    )
    if namespaces:
        message.metadata_context.CopyFrom(metadata(namespaces))
    return message


def test_header_names_are_lower_cased_and_values_read_from_raw_bytes() -> None:
    values, without_body = protocol.headers(headers_message())
    assert values == {"x-slo-class": "batch"}
    assert not without_body


def test_no_hint_allows_everything_and_a_list_or_a_string_lists_endpoints() -> None:
    assert protocol.subset_hint(headers_message()) is None
    listed = headers_message(
        **{"envoy.lb.subset_hint": {"x-gateway-destination-endpoint-subset": ["a:1", "b:2"]}}
    )
    assert protocol.subset_hint(listed) == ("a:1", "b:2")
    joined = headers_message(
        **{"envoy.lb.subset_hint": {"x-gateway-destination-endpoint-subset": "a:1, b:2,"}}
    )
    assert protocol.subset_hint(joined) == ("a:1", "b:2")
    empty = headers_message(
        **{"envoy.lb.subset_hint": {"x-gateway-destination-endpoint-subset": []}}
    )
    assert protocol.subset_hint(empty) == ()


def test_the_served_endpoint_is_read_from_envoy_lb() -> None:
    served = headers_message(**{"envoy.lb": {"x-gateway-destination-endpoint-served": "a:1"}})
    assert protocol.served_endpoint(served) == "a:1"
    assert protocol.served_endpoint(headers_message()) is None


def test_the_route_sets_one_value_in_the_header_and_the_metadata() -> None:
    answer = protocol.routed_request_headers(
        protocol.Route(endpoint="10.0.0.1:8000", remove_headers=("authorization",))
    )
    mutation = answer.request_headers.response.header_mutation
    assert [(h.header.key, h.header.raw_value) for h in mutation.set_headers] == [
        ("x-gateway-destination-endpoint", b"10.0.0.1:8000")
    ]
    assert list(mutation.remove_headers) == ["authorization"]
    assert answer.request_headers.response.clear_route_cache
    lb = answer.dynamic_metadata.fields["envoy.lb"].struct_value
    assert lb.fields["x-gateway-destination-endpoint"].string_value == "10.0.0.1:8000"


def test_bodies_go_back_in_chunks_with_the_end_on_the_last() -> None:
    body = b"x" * (protocol.BODY_CHUNK_BYTES * 2 + 5)
    answers = list(protocol.streamed_bodies([body], direction="request", end_of_stream=True))
    streamed = [a.request_body.response.body_mutation.streamed_response for a in answers]
    assert [len(s.body) for s in streamed] == [protocol.BODY_CHUNK_BYTES] * 2 + [5]
    assert [s.end_of_stream for s in streamed] == [False, False, True]
    (empty,) = protocol.streamed_bodies([], direction="response", end_of_stream=True)
    assert empty.response_body.response.body_mutation.streamed_response.end_of_stream


def test_an_immediate_answer_carries_status_body_and_headers() -> None:
    answer = protocol.immediate(429, b"{}", {"Retry-After": "2"}).immediate_response
    assert answer.status.code == 429
    assert answer.body == b"{}"
    assert answer.headers.set_headers[0].header.key == "Retry-After"


def test_announced_body_modes_are_read_and_others_marked_unsupported() -> None:
    message = headers_message()
    assert protocol.protocol_modes(message) == protocol.ProtocolModes(None, None)
    message.protocol_config.request_body_mode = 4
    message.protocol_config.response_body_mode = 3  # BUFFERED_PARTIAL
    assert protocol.protocol_modes(message) == protocol.ProtocolModes(
        protocol.BodyMode.FULL_DUPLEX_STREAMED, protocol.BodyMode.UNSUPPORTED
    )
