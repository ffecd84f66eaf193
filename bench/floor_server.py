"""The floor: a minimal MCP server with one trivial tool, what Python and the `mcp` SDK cost at all.

Over stdio by default; `--port P` serves streamable HTTP at /mcp on 127.0.0.1, as ours does.
"""

import sys

from mcp.server import MCPServer

mcp = MCPServer("floor")


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


def serve_http(port: int) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = mcp.streamable_http_app(streamable_http_path="/mcp")
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")).run()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--port":
        serve_http(int(sys.argv[2]))
    else:
        mcp.run("stdio")
