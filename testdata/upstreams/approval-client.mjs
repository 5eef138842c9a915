// An official-SDK client (TypeScript SDK) that calls one tool through the
// gateway and answers any elicitation with a fixed action, or declares no
// elicitation capability at all. Prints one JSON report on stdout:
// {"asked": [elicitation messages], "result": CallToolResult} or {"error": message}.
//
// usage: node approval-client.mjs URL TOOL ARGS_JSON ACTION|none
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const [url, tool, args, action] = process.argv.slice(2);
const capabilities = action === "none" ? {} : { elicitation: { form: {} } };
const client = new Client({ name: "mcp-wasm-gateway-approval-e2e", version: "1.0.0" }, { capabilities });
const asked = [];
if (action !== "none") {
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    asked.push(request.params.message);
    return { action };
  });
}
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
let report;
try {
  const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
  report = { asked, result };
} catch (error) {
  report = { asked, error: String(error.message ?? error) };
}
console.log(JSON.stringify(report));
await client.close();
