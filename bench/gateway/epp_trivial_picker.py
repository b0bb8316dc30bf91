"""A picker that answers at once with a fixed endpoint, on the same Python gRPC runtime as
`sloserve epp` (grpcio's asyncio server and the xds-protos messages): the floor of the protocol in
Python, which bench/gateway/epp.py measures beside sloserve's picker.

    python bench/gateway/epp_trivial_picker.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc

from sloserve.epp import protocol

_EOF: Any = grpc.aio.EOF
_ROUTE = protocol.Route(endpoint="127.0.0.1:8000")


class TrivialPicker:
    async def Process(self, request_iterator: object, context: Any) -> None:  # noqa: N802
        chunks: list[bytes] = []
        while True:
            message = await context.read()
            if message is _EOF:
                return
            kind = protocol.kind(message)
            if kind == "request_body":
                chunk, last = protocol.body(message)
                chunks.append(chunk)
                if last:
                    await context.write(protocol.routed_request_headers(_ROUTE))
                    for answer in protocol.streamed_bodies(
                        chunks, direction="request", end_of_stream=True
                    ):
                        await context.write(answer)
            elif kind == "response_headers":
                await context.write(protocol.response_headers({}))
            elif kind == "response_body":
                chunk, last = protocol.body(message)
                for answer in protocol.streamed_bodies(
                    [chunk], direction="response", end_of_stream=last
                ):
                    await context.write(answer)


async def main(port: int) -> None:
    from envoy.service.ext_proc.v3 import external_processor_pb2_grpc

    grpc_module: Any = external_processor_pb2_grpc
    server = grpc.aio.server()
    grpc_module.add_ExternalProcessorServicer_to_server(TrivialPicker(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
