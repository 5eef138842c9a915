// An official-SDK client (TypeScript SDK) that exercises everything a client
// does with server-everything: every list, prompts, resources (listed, from a
// template, from a tool's resource_link), completion, logging, a resource
// subscription, and the server-to-client requests sampling, elicitation and
// roots. Run against the server directly (prefix "") and through the gateway
// (prefix "everything_"); prints one JSON report on stdout, normalised so the
// two runs compare equal when the gateway is faithful (names unprefixed,
// timestamps of dynamic resources masked, other servers' entries left out).
//
// usage: node federation-client.mjs URL PREFIX
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const [url, prefix = ""] = process.argv.slice(2);
const named = (name) => prefix + name;
const ours = (name) => name.startsWith(prefix);
const unprefixed = (name) => name.slice(prefix.length);
const DEMO = "demo://";

const client = new Client(
  { name: "mcp-wasm-gateway-federation-e2e", version: "1.0.0" },
  {
    capabilities: {
      sampling: { context: {}, tools: {} },
      elicitation: { form: {}, url: {} },
      roots: { listChanged: true },
    },
  },
);
const asked = { sampling: 0, elicitation: 0, roots: 0 };
client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
  asked.sampling += 1;
  const first = request.params.messages[0]?.content;
  return {
    role: "assistant",
    content: { type: "text", text: `sampled: ${first?.text ?? ""}` },
    model: "e2e-model",
    stopReason: "endTurn",
  };
});
client.setRequestHandler(ElicitRequestSchema, async () => {
  asked.elicitation += 1;
  return { action: "accept", content: { name: "Ada Lovelace" } };
});
client.setRequestHandler(ListRootsRequestSchema, async () => {
  asked.roots += 1;
  return { roots: [{ uri: "file:///workspace", name: "workspace" }] };
});
const logs = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
const updates = [];
client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updates.push(n.params.uri));

const mask = (value) =>
  JSON.parse(
    JSON.stringify(value, (key, v) => {
      if (typeof v !== "string") return v;
      if (key === "blob") {
        const text = Buffer.from(v, "base64").toString("utf8");
        return "blob:" + text.replace(/\d{1,2}:\d{2}:\d{2}( ?[AP]M)?/g, "<time>");
      }
      return v.replace(/\d{1,2}:\d{2}:\d{2}( ?[AP]M)?/g, "<time>");
    }),
  );

async function all(list, member) {
  const items = [];
  let cursor;
  do {
    const page = await list(cursor ? { cursor } : undefined);
    items.push(...page[member]);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

async function until(what, check, ms = 15000) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const call = async (name, args = {}) =>
  mask(await client.callTool({ name: named(name), arguments: args }));

await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const report = {};
const capabilities = client.getServerCapabilities();
report.capabilities = {
  prompts: Boolean(capabilities.prompts),
  resources: Boolean(capabilities.resources),
  subscribe: Boolean(capabilities.resources?.subscribe),
  completions: Boolean(capabilities.completions),
  logging: Boolean(capabilities.logging),
};
report.tools = (await all((p) => client.listTools(p), "tools"))
  .filter((t) => ours(t.name))
  .map((t) => ({ ...t, name: unprefixed(t.name) }));
report.prompts = (await all((p) => client.listPrompts(p), "prompts"))
  .filter((t) => ours(t.name))
  .map((t) => ({ ...t, name: unprefixed(t.name) }));
report.resources = (await all((p) => client.listResources(p), "resources")).filter((r) =>
  r.uri.startsWith(DEMO),
);
report.resourceTemplates = (
  await all((p) => client.listResourceTemplates(p), "resourceTemplates")
).filter((r) => r.uriTemplate.startsWith(DEMO));

report.prompt = mask(
  await client.getPrompt({ name: named("args-prompt"), arguments: { city: "Paris", state: "TX" } }),
);
report.resourcePrompt = mask(
  await client.getPrompt({
    name: named("resource-prompt"),
    arguments: { resourceType: "Text", resourceId: "2" },
  }),
);
report.readListed = mask(await client.readResource({ uri: report.resources[0].uri }));
report.readFromTemplate = mask(await client.readResource({ uri: "demo://resource/dynamic/text/3" }));
const links = await call("get-resource-links", { count: 2 });
report.links = links;
report.readLinks = [];
for (const block of links.content.filter((c) => c.type === "resource_link")) {
  report.readLinks.push(mask(await client.readResource({ uri: block.uri })));
}
report.completePrompt = await client.complete({
  ref: { type: "ref/prompt", name: named("completable-prompt") },
  argument: { name: "department", value: "E" },
});
report.completeTemplate = await client.complete({
  ref: { type: "ref/resource", uri: "demo://resource/dynamic/text/{resourceId}" },
  argument: { name: "resourceId", value: "1" },
});

report.sampling = await call("trigger-sampling-request", { prompt: "Hello", maxTokens: 20 });
report.elicitation = await call("trigger-elicitation-request");
report.roots = await call("get-roots-list");

await client.setLoggingLevel("debug");
await call("toggle-simulated-logging");
await until("a log message", () => logs.length > 0);
await call("toggle-simulated-logging");
report.logging = { received: logs.length > 0, logger: typeof logs[0]?.data };

const watched = "demo://resource/dynamic/text/1";
await client.subscribeResource({ uri: watched });
await call("toggle-subscriber-updates");
await until("resources/updated", () => updates.includes(watched));
await call("toggle-subscriber-updates");
await client.unsubscribeResource({ uri: watched });
report.subscription = { updated: updates.includes(watched) };
report.asked = asked;

await client.close();
process.stdout.write(JSON.stringify(report) + "\n");
process.exit(0);
