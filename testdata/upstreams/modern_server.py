"""A real MCP server of the stateless era (MCP 2026-07-28), on the official
Python SDK (`mcp` 2.x, `MCPServer`), for the gateway's end-to-end tests.

The SDK serves both eras on one endpoint; the gateway is told to speak
only 2026-07-28 to it (`era: modern` in its configuration) when a test
needs a stateless-era-only upstream.

    python modern_server.py PORT

- tools: `add` (a + b), `greet` (asks the client for a name by elicitation:
  an `input_required` result on 2026-07-28, an `elicitation/create` request
  mid-call on earlier versions), `grow` (adds a tool `grown`, so the tool
  list changes and `subscriptions/listen` streams are told);
- prompt `haiku` (argument `topic`);
- resource `modern://about`, template `modern://notes/{id}`.

Prints `listening on port PORT` once it serves.
"""

import sys
from typing import Annotated

import uvicorn
from pydantic import BaseModel

from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve

server = MCPServer("modern-e2e")


class Name(BaseModel):
    name: str


def ask_name() -> Elicit[Name]:
    return Elicit("Who should be greeted?", Name)


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool()
def greet(who: Annotated[Name, Resolve(ask_name)]) -> str:
    """Greets the name the client gives when asked."""
    return f"Hello, {who.name}!"


@server.tool()
async def grow(ctx: Context) -> str:
    """Adds the tool `grown` and announces the new list."""

    def grown() -> str:
        """A tool that `grow` added."""
        return "grown"

    server.add_tool(grown, name="grown")
    await ctx.notify_tools_changed()
    return "added grown"


@server.prompt()
def haiku(topic: str) -> str:
    """A haiku about a topic."""
    return f"Write a haiku about {topic}."


@server.resource("modern://about")
def about() -> str:
    """What this server is."""
    return "a stateless-era test server"


@server.resource("modern://notes/{id}")
def note(id: str) -> str:
    """A note by id."""
    return f"note {id}"


def main() -> None:
    port = int(sys.argv[1])
    app = server.streamable_http_app(host="127.0.0.1", json_response=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    runner = uvicorn.Server(config)
    original = runner.startup

    async def startup(sockets=None):
        await original(sockets)
        print(f"listening on port {port}", flush=True)

    runner.startup = startup
    runner.run()


if __name__ == "__main__":
    main()
