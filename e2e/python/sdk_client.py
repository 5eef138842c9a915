"""An agent's view of the gateway through the official Python MCP SDK.

Run by e2e/tests/sdk_clients.rs: `python sdk_client.py URL`. The SDK (2.x)
first probes for the stateless 2026-07-28 era, which the gateway speaks;
then it lists the tools, calls one tool of each upstream (both
handshake-era: bridged) and an unknown tool. Prints one JSON object; exit code 0 when the
script ran to the end (the Rust test asserts on the JSON).
"""

import json
import sys

import anyio
from mcp.client.client import Client


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def main(url: str) -> None:
    report: dict = {}
    with anyio.fail_after(60):
        async with Client(url) as client:
            session = client.session
            report["era"] = "modern" if session.discover_result is not None else "handshake"
            if session.initialize_result is not None:
                report["protocolVersion"] = str(session.initialize_result.protocol_version)
                report["serverName"] = session.initialize_result.server_info.name
            if session.discover_result is not None:
                info = (session.discover_result.meta or {}).get("io.modelcontextprotocol/serverInfo", {})
                report["serverName"] = info.get("name")
            tools = await client.list_tools()
            report["tools"] = sorted(tool.name for tool in tools.tools)
            echo = await client.call_tool("echo_echo", {"text": "from python"})
            report["echo"] = text_of(echo)
            summed = await client.call_tool("everything_get-sum", {"a": 20, "b": 22})
            report["sum"] = text_of(summed)
            try:
                unknown = await client.call_tool("no_such_tool", {})
                report["unknown"] = {"isError": unknown.is_error, "text": text_of(unknown)}
            except Exception as error:  # the SDK raises McpError for JSON-RPC errors
                report["unknown"] = {"raised": type(error).__name__, "text": str(error)}
    print(json.dumps(report))


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
