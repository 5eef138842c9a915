"""One client of either MCP era against the gateway (or an upstream), on the
official Python SDK 2.x: `mode=auto` negotiates 2026-07-28 where the server
speaks it; `mode=legacy` keeps the `initialize` handshake.

    python eras_client.py URL MODE PREFIXES_JSON [listen]

PREFIXES_JSON maps an upstream to the prefix its names carry at URL
(`{"modern": "modern_", "echo": "echo_", "everything": "everything_"}`
through the gateway, `{"modern": ""}` against the upstream itself); calls
are made only for the upstreams it names. With `listen`, also opens a
`subscriptions/listen` stream (stateless era only) and waits for the tool
list to change after calling the modern upstream's `grow` and the echo
upstream's admin switch (EXTRA_URL, the echo server's admin endpoint).

Prints one JSON report; exit code 0 when the script ran to the end.
"""

import json
import sys
import urllib.request

import anyio
import mcp_types as types
from mcp.client.client import Client


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def elicit(context, params):
    return types.ElicitResult(action="accept", content={"name": "Ada"})


async def main(url: str, mode: str, prefixes: dict, listen_admin: str | None) -> None:
    report: dict = {}
    with anyio.fail_after(90):
        async with Client(
            url,
            mode=mode,
            elicitation_callback=elicit,
            client_info=types.Implementation(name="eras-e2e", version="1"),
        ) as client:
            session = client.session
            if session.discover_result is not None:
                report["era"] = "modern"
                report["versions"] = list(session.discover_result.supported_versions)
            else:
                report["era"] = "handshake"
                report["protocolVersion"] = str(session.initialize_result.protocol_version)
            tools = await client.list_tools()
            report["tools"] = sorted(tool.name for tool in tools.tools)
            if "modern" in prefixes:
                p = prefixes["modern"]
                report["add"] = text_of(await client.call_tool(p + "add", {"a": 2, "b": 3}))
                report["greet"] = text_of(await client.call_tool(p + "greet", {}))
                prompt = await client.get_prompt(p + "haiku", {"topic": "gateways"})
                report["haiku"] = prompt.messages[0].content.text
                read = await client.read_resource("modern://notes/7")
                report["note"] = read.contents[0].text
            if "echo" in prefixes:
                p = prefixes["echo"]
                report["echo"] = text_of(await client.call_tool(p + "echo", {"text": "across eras"}))
                read = await client.read_resource("echo://echo/bridged")
                report["echoResource"] = read.contents[0].text
            if "everything" in prefixes:
                p = prefixes["everything"]
                elicited = await client.call_tool(p + "trigger-elicitation-request", {})
                report["elicitation"] = text_of(elicited)
            if listen_admin is not None:
                report["listen"] = await listen(client, prefixes, listen_admin)
    print(json.dumps(report))


async def listen(client, prefixes: dict, admin: str) -> dict:
    seen = {}
    async with client.listen(tools_list_changed=True) as subscription:
        seen["honored"] = subscription.honored.tools_list_changed is True
        # A change of the stateless-era upstream's list.
        await client.call_tool(prefixes["modern"] + "grow", {})
        with anyio.fail_after(30):
            async for _event in subscription:
                names = {t.name for t in (await client.list_tools()).tools}
                if prefixes["modern"] + "grown" in names:
                    seen["modern"] = True
                    break
        # A change of the handshake-era upstream's list.
        urllib.request.urlopen(urllib.request.Request(admin, method="POST"), timeout=10).read()
        with anyio.fail_after(30):
            async for _event in subscription:
                names = {t.name for t in (await client.list_tools()).tools}
                if prefixes["echo"] + "late" in names:
                    seen["handshake"] = True
                    break
    return seen


if __name__ == "__main__":
    admin = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "listen" else None
    anyio.run(main, sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), admin)
