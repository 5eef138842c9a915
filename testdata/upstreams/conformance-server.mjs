// MCP server that implements every server scenario of the official
// conformance suite (@modelcontextprotocol/conformance 0.1.10), built on the
// official TypeScript SDK's low-level `Server` class (so tool input schemas
// can be raw JSON Schema, see json_schema_2020_12_tool) and its Streamable
// HTTP transport.
//
//   PORT=3100 node testdata/upstreams/conformance-server.mjs
//
// - endpoint: http://127.0.0.1:$PORT/mcp (POST, GET, DELETE), stateful:
//   one Server + one transport per Mcp-Session-Id;
// - prints exactly one stdout line, `listening on port <PORT>`, once it
//   listens; everything else goes to stderr;
// - no Host / Origin checks: it is also reached through a proxy that sets
//   other Host values;
// - each session has an in-memory event store, so POST SSE streams are
//   resumable (GET with Last-Event-ID), which server-sse-polling exercises.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  isInitializeRequest
} from '@modelcontextprotocol/sdk/types.js';

const PORT = Number.parseInt(process.env.PORT ?? '3100', 10);
const HOST = '127.0.0.1';
const MAX_BODY_BYTES = 4 * 1024 * 1024;
// SSE `retry:` (ms) sent in the priming event of each POST stream.
const SSE_RETRY_MS = 500;

const log = (...args) => console.error('[conformance-server]', ...args);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// JSON-RPC error to throw from handlers. (The SDK's McpError prefixes its
// message with "MCP error <code>:", which would then be sent on the wire.)
const rpcError = (code, message) => Object.assign(new Error(message), { code });

// ---------------------------------------------------------------- fixtures

// 1x1 red pixel PNG.
const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';

// Minimal valid WAV: 10 ms of silence, 8 kHz, mono, 8-bit PCM.
const WAV_SILENCE = (() => {
  const samples = 80;
  const b = Buffer.alloc(44 + samples, 0x80);
  b.write('RIFF', 0); b.writeUInt32LE(36 + samples, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); // fmt size, PCM, mono
  b.writeUInt32LE(8000, 24); b.writeUInt32LE(8000, 28); // sample rate, byte rate
  b.writeUInt16LE(1, 32); b.writeUInt16LE(8, 34); // block align, bits per sample
  b.write('data', 36); b.writeUInt32LE(samples, 40);
  return b.toString('base64');
})();

const text = (t) => ({ type: 'text', text: t });
const image = () => ({ type: 'image', data: PNG_1X1, mimeType: 'image/png' });
const resource = (uri, mimeType, body) => ({ type: 'resource', resource: { uri, mimeType, text: body } });
const noArgs = { type: 'object', properties: {} };
const stringArg = (name, description) => ({
  type: 'object',
  properties: { [name]: { type: 'string', description } },
  required: [name]
});

// ------------------------------------------------------------------- tools

const TOOLS = [
  { name: 'test_simple_text', description: 'Returns a simple text response', inputSchema: noArgs },
  { name: 'test_image_content', description: 'Returns a 1x1 PNG image', inputSchema: noArgs },
  { name: 'test_audio_content', description: 'Returns a short WAV clip', inputSchema: noArgs },
  { name: 'test_embedded_resource', description: 'Returns an embedded text resource', inputSchema: noArgs },
  { name: 'test_multiple_content_types', description: 'Returns text, image and resource content', inputSchema: noArgs },
  { name: 'test_tool_with_logging', description: 'Sends three info log notifications while running', inputSchema: noArgs },
  { name: 'test_error_handling', description: 'Always fails with isError: true', inputSchema: noArgs },
  { name: 'test_tool_with_progress', description: 'Reports progress 0, 50, 100 of 100', inputSchema: noArgs },
  { name: 'test_sampling', description: 'Asks the client for an LLM completion (sampling/createMessage)', inputSchema: stringArg('prompt', 'The prompt to send to the LLM') },
  { name: 'test_elicitation', description: 'Asks the client for user input (elicitation/create)', inputSchema: stringArg('message', 'The message to show the user') },
  { name: 'test_elicitation_sep1034_defaults', description: 'Elicitation whose schema has defaults for every primitive type (SEP-1034)', inputSchema: noArgs },
  { name: 'test_elicitation_sep1330_enums', description: 'Elicitation with all five enum schema variants (SEP-1330)', inputSchema: noArgs },
  {
    // json-schema-2020-12: the listing must keep $schema, $defs and
    // additionalProperties verbatim (hence the low-level Server, not zod).
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
      properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
      additionalProperties: false
    }
  },
  { name: 'test_reconnection', description: 'Closes its SSE stream mid-call; the result is delivered after the client reconnects (SEP-1699)', inputSchema: noArgs }
];

function requireString(args, name) {
  const v = args?.[name];
  if (typeof v !== 'string') throw rpcError(ErrorCode.InvalidParams, `Missing required string argument '${name}'`);
  return v;
}

// Tool bodies. `ctx` = { server, transport, extra, request }.
const TOOL_HANDLERS = {
  test_simple_text: async () => ({ content: [text('This is a simple text response for testing.')] }),
  test_image_content: async () => ({ content: [image()] }),
  test_audio_content: async () => ({ content: [{ type: 'audio', data: WAV_SILENCE, mimeType: 'audio/wav' }] }),
  test_embedded_resource: async () => ({
    content: [resource('test://embedded-resource', 'text/plain', 'This is an embedded resource content.')]
  }),
  test_multiple_content_types: async () => ({
    content: [
      text('Multiple content types test:'),
      image(),
      resource('test://mixed-content-resource', 'application/json', JSON.stringify({ test: 'data', value: 123 }))
    ]
  }),
  // Log notifications are sent with extra.sendNotification so they travel on
  // this request's POST SSE stream (server.sendLoggingMessage would use the
  // standalone GET stream). The level set by logging/setLevel is honoured.
  test_tool_with_logging: async ({ server, extra }) => {
    const steps = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
    for (let i = 0; i < steps.length; i++) {
      if (i > 0) await sleep(50);
      await sendLog(server, extra, 'info', steps[i]);
    }
    return { content: [text('Tool with logging executed successfully')] };
  },
  test_error_handling: async () => ({ isError: true, content: [text('This tool intentionally returns an error for testing')] }),
  test_tool_with_progress: async ({ extra }) => {
    const token = extra._meta?.progressToken;
    for (const [i, progress] of [0, 50, 100].entries()) {
      if (i > 0) await sleep(50);
      if (token !== undefined) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken: token, progress, total: 100, message: `Completed step ${progress} of 100` }
        });
      }
    }
    return { content: [text('Tool with progress executed successfully')] };
  },
  // Server-to-client requests (sampling, elicitation) go through
  // extra.sendRequest, which ties them to the tools/call POST stream, so they
  // work whether or not the client keeps a standalone GET stream open.
  test_sampling: async ({ server, extra, request }) => {
    const prompt = requireString(request.params.arguments, 'prompt');
    if (!server.getClientCapabilities()?.sampling) {
      return { isError: true, content: [text('Client does not support sampling')] };
    }
    const params = { messages: [{ role: 'user', content: text(prompt) }], maxTokens: 100 };
    const result = await extra.sendRequest({ method: 'sampling/createMessage', params }, CreateMessageResultSchema);
    const reply = result.content?.type === 'text' ? result.content.text : JSON.stringify(result.content);
    return { content: [text(`LLM response: ${reply}`)] };
  },
  test_elicitation: async (ctx) => {
    const message = requireString(ctx.request.params.arguments, 'message');
    return elicit(ctx, 'User response', message, {
      type: 'object',
      properties: {
        username: { type: 'string', description: "User's response" },
        email: { type: 'string', description: "User's email address" }
      },
      required: ['username', 'email']
    });
  },
  // SEP-1034: every primitive type carries a `default`.
  test_elicitation_sep1034_defaults: async (ctx) => {
    return elicit(ctx, 'Elicitation completed', 'Please review and update the form fields with defaults', {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'User name', default: 'John Doe' },
        age: { type: 'integer', description: 'User age', default: 30 },
        score: { type: 'number', description: 'User score', default: 95.5 },
        status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
        verified: { type: 'boolean', description: 'Verification status', default: true }
      },
      required: []
    });
  },
  // SEP-1330: the five enum shapes. Titled variants must use oneOf / anyOf
  // of {const, title} and must NOT also carry `enum`; the legacy variant
  // uses the deprecated `enumNames` of the same length as `enum`.
  test_elicitation_sep1330_enums: async (ctx) => {
    return elicit(ctx, 'Elicitation completed', 'Please select options from the enum fields', {
      type: 'object',
      properties: {
        untitledSingle: { type: 'string', description: 'Untitled single-select', enum: ['option1', 'option2', 'option3'] },
        titledSingle: {
          type: 'string',
          description: 'Titled single-select',
          oneOf: ['First', 'Second', 'Third'].map((t, i) => ({ const: `value${i + 1}`, title: `${t} Option` }))
        },
        legacyEnum: {
          type: 'string',
          description: 'Legacy titled enum (deprecated enumNames)',
          enum: ['opt1', 'opt2', 'opt3'],
          enumNames: ['Option One', 'Option Two', 'Option Three']
        },
        untitledMulti: { type: 'array', description: 'Untitled multi-select', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
        titledMulti: {
          type: 'array',
          description: 'Titled multi-select',
          items: { anyOf: ['First', 'Second', 'Third'].map((t, i) => ({ const: `value${i + 1}`, title: `${t} Choice` })) }
        }
      },
      required: []
    });
  },
  json_schema_2020_12_tool: async ({ request }) => ({
    content: [text(`json_schema_2020_12_tool called with ${JSON.stringify(request.params.arguments ?? {})}`)]
  }),
  // SEP-1699 polling: close this request's SSE stream before the result is
  // ready; the result is stored in the event store and delivered when the
  // client reconnects with GET + Last-Event-ID.
  //
  // The SDK only writes the priming event (id + retry + empty data), and only
  // offers extra.closeSSEStream, when the request's MCP-Protocol-Version is
  // >= 2025-11-25. The 0.1.10 suite sends this call raw with
  // `mcp-protocol-version: 2025-03-26`, so there is no priming event (the
  // suite reports the priming/retry checks as WARNING, not failure). To still
  // give the client an event id to resume from, we first send one log
  // notification on the stream (events written with an id also make the
  // stream resumable in the SDK), bypassing the log-level filter because it
  // is needed for resumption, then close the stream via the transport.
  test_reconnection: async ({ server, transport, extra }) => {
    if (extra.closeSSEStream) {
      extra.closeSSEStream();
    } else {
      await sendLog(server, extra, 'notice', 'test_reconnection: closing SSE stream; reconnect with Last-Event-ID', true);
      transport.closeSSEStream(extra.requestId);
    }
    await sleep(300); // give the client time to reconnect (either order works)
    return {
      content: [text('Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.')]
    };
  }
};

async function sendLog(server, extra, level, data, force = false) {
  if (!force && server.isMessageIgnored(level, extra.sessionId)) return;
  await extra.sendNotification({ method: 'notifications/message', params: { level, logger: 'conformance-server', data } });
}

// Sends elicitation/create and turns the answer into a text tool result.
async function elicit({ server, extra }, label, message, requestedSchema) {
  if (!server.getClientCapabilities()?.elicitation) {
    return { isError: true, content: [text('Client does not support elicitation')] };
  }
  const r = await extra.sendRequest({ method: 'elicitation/create', params: { message, requestedSchema } }, ElicitResultSchema);
  return { content: [text(`${label}: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] };
}

// ----------------------------------------------------------------- prompts

const PROMPTS = [
  { name: 'test_simple_prompt', description: 'A simple prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two required arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true }
    ]
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that embeds a resource',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }]
  },
  { name: 'test_prompt_with_image', description: 'A prompt that includes an image' }
];

function getPrompt(name, args = {}) {
  const user = (content) => ({ role: 'user', content });
  switch (name) {
    case 'test_simple_prompt':
      return { messages: [user(text('This is a simple prompt for testing.'))] };
    case 'test_prompt_with_arguments': {
      const arg1 = requireString(args, 'arg1');
      const arg2 = requireString(args, 'arg2');
      return { messages: [user(text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`))] };
    }
    case 'test_prompt_with_embedded_resource': {
      const uri = requireString(args, 'resourceUri');
      return {
        messages: [
          user(resource(uri, 'text/plain', 'Embedded resource content for testing.')),
          user(text('Please process the embedded resource above.'))
        ]
      };
    }
    case 'test_prompt_with_image':
      return {
        messages: [
          user(image()),
          user(text('Please analyze the image above.'))
        ]
      };
    default:
      throw rpcError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
  }
}

// --------------------------------------------------------------- resources

const RESOURCES = [
  { uri: 'test://static-text', name: 'static-text', description: 'A static text resource', mimeType: 'text/plain' },
  { uri: 'test://static-binary', name: 'static-binary', description: 'A static binary resource (PNG)', mimeType: 'image/png' },
  { uri: 'test://watched-resource', name: 'watched-resource', description: 'A resource that can be subscribed to', mimeType: 'text/plain' }
];
const TEMPLATE = {
  uriTemplate: 'test://template/{id}/data',
  name: 'template-data',
  description: 'Templated JSON resource; {id} is substituted into the content',
  mimeType: 'application/json'
};
const TEMPLATE_RE = /^test:\/\/template\/([^/]+)\/data$/;

function readResource(uri) {
  switch (uri) {
    case 'test://static-text':
      return { contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] };
    case 'test://static-binary':
      return { contents: [{ uri, mimeType: 'image/png', blob: PNG_1X1 }] };
    case 'test://watched-resource':
      return { contents: [{ uri, mimeType: 'text/plain', text: 'Watched resource content.' }] };
  }
  const m = TEMPLATE_RE.exec(uri);
  if (m) {
    const id = decodeURIComponent(m[1]);
    const body = { id, templateTest: true, data: `Data for ID: ${id}` };
    return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(body) }] };
  }
  throw rpcError(-32002, `Resource not found: ${uri}`);
}

// Values offered by completion/complete, per argument name.
const COMPLETIONS = {
  arg1: ['paris', 'park', 'party', 'test', 'testing'],
  arg2: ['alpha', 'beta', 'gamma'],
  id: ['1', '2', '3', '123'],
  resourceUri: ['test://static-text', 'test://example-resource']
};

// ---------------------------------------------------------- one MCP server

function createServer(getTransport) {
  const server = new Server(
    { name: 'mcp-conformance-test-server', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: false },
        prompts: { listChanged: false },
        resources: { subscribe: true, listChanged: false },
        logging: {}, // the SDK then answers logging/setLevel itself
        completions: {}
      }
    }
  );
  const subscriptions = new Set();

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const handler = TOOL_HANDLERS[request.params.name];
    if (!handler) throw rpcError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    return handler({ server, transport: getTransport(), extra, request });
  });

  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, async (request) =>
    getPrompt(request.params.name, request.params.arguments)
  );

  server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: RESOURCES }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: [TEMPLATE] }));
  server.setRequestHandler(ReadResourceRequestSchema, async (request) => readResource(request.params.uri));
  server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    subscriptions.add(request.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscriptions.delete(request.params.uri);
    return {};
  });

  server.setRequestHandler(CompleteRequestSchema, async (request) => {
    const { name, value = '' } = request.params.argument;
    const values = (COMPLETIONS[name] ?? []).filter((v) => v.startsWith(value));
    return { completion: { values, total: values.length, hasMore: false } };
  });

  return server;
}

// In-memory EventStore (one per session) enabling SSE resumability.
function createEventStore() {
  const events = new Map(); // eventId -> { streamId, message }, insertion-ordered
  let seq = 0;
  return {
    async storeEvent(streamId, message) {
      const eventId = `${streamId}:${++seq}`;
      events.set(eventId, { streamId, message });
      return eventId;
    },
    async getStreamIdForEventId(eventId) {
      return events.get(eventId)?.streamId;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const last = events.get(lastEventId);
      if (!last) throw new Error(`Unknown event id: ${lastEventId}`);
      let after = false;
      for (const [eventId, { streamId, message }] of events) {
        if (eventId === lastEventId) after = true;
        // Skip priming events (stored as `{}`); they carry no message.
        else if (after && streamId === last.streamId && message?.jsonrpc) await send(eventId, message);
      }
      return last.streamId;
    }
  };
}

// ------------------------------------------------------------- HTTP layer

const sessions = new Map(); // sessionId -> transport

function sendJsonRpcError(res, status, code, message) {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

async function readJsonBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw Object.assign(new Error('Parse error: invalid JSON'), { status: 400, code: -32700 });
  }
}

async function newSession() {
  let transport;
  const server = createServer(() => transport);
  transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    eventStore: createEventStore(),
    retryInterval: SSE_RETRY_MS,
    onsessioninitialized: (sid) => sessions.set(sid, transport)
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
  };
  await server.connect(transport);
  return transport;
}

async function handleMcp(req, res) {
  const sid = req.headers['mcp-session-id'];
  const existing = typeof sid === 'string' ? sessions.get(sid) : undefined;

  if (req.method === 'POST') {
    const body = await readJsonBody(req);
    if (existing) return existing.handleRequest(req, res, body);
    if (sid) return sendJsonRpcError(res, 404, -32001, 'Session not found');
    const isInit = Array.isArray(body) ? body.some(isInitializeRequest) : isInitializeRequest(body);
    if (!isInit) return sendJsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
    const transport = await newSession();
    return transport.handleRequest(req, res, body);
  }
  if (req.method === 'GET' || req.method === 'DELETE') {
    if (existing) return existing.handleRequest(req, res);
    if (sid) return sendJsonRpcError(res, 404, -32001, 'Session not found');
    return sendJsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
  }
  res.setHeader('Allow', 'GET, POST, DELETE');
  return sendJsonRpcError(res, 405, -32000, 'Method not allowed');
}

const httpServer = http.createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path !== '/mcp') {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    return res.end('not found; the MCP endpoint is /mcp\n');
  }
  handleMcp(req, res).catch((err) => {
    log('request failed:', err?.message ?? err);
    sendJsonRpcError(res, err?.status ?? 500, err?.code ?? -32603, err?.message ?? 'Internal error');
  });
});

httpServer.listen(PORT, HOST, () => {
  console.log(`listening on port ${httpServer.address().port}`);
});

let shuttingDown = false;
async function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`${signal}: shutting down`);
  const forced = setTimeout(() => process.exit(0), 2000);
  forced.unref();
  await Promise.allSettled([...sessions.values()].map((t) => t.close()));
  httpServer.close(() => process.exit(0));
  httpServer.closeAllConnections();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
