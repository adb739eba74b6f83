// A scripted model endpoint for the real-host tests (tests/real_hosts.rs).
//
//   node scripted-model.mjs SCRIPT.json TRANSCRIPT.json
//
// Listens on 127.0.0.1 (a free port, printed as "listening PORT" on stdout) and
// speaks just enough of three model APIs for an agent host to run its whole
// loop against it: Anthropic Messages (Claude Code), OpenAI Responses (Codex)
// and the Gemini API (Gemini CLI), streaming or not.
//
// It plays SCRIPT.steps in order: each reply is the next tool call, chosen by
// how many tool results the conversation already holds, so a retried request
// gets the same answer. Before each call it checks the result of the previous
// one against that step's `expect` ({error: bool, contains: [...]}); a result
// it did not expect ends the run with a final text starting "SCRIPT FAILED" and
// a failure in the transcript. After the last step it answers SCRIPT.final.
// Requests that offer no peer_* tool (titles, summaries, quota probes) get a
// short text. TRANSCRIPT.json is rewritten after every request.
//
// A step may wait for something the host adds to the conversation (a hook's
// words): with `gate: TEXT` it is played only once TEXT appears in the
// request; until then the model ends its turn with the text `idle` (counted in
// `idled`), and where TEXT was seen is kept in `gates`. `turns` counts the
// requests that offered the peer tools.

import http from 'node:http';
import fs from 'node:fs';

const [scriptPath, transcriptPath] = process.argv.slice(2);
const script = JSON.parse(fs.readFileSync(scriptPath, 'utf8'));
const transcript = { requests: 0, offered: null, results: [], failures: [], finished: false, side: 0, turns: 0, idled: 0, gates: {} };
const save = () => fs.writeFileSync(transcriptPath, JSON.stringify(transcript, null, 1));

// ---- the script -------------------------------------------------------------

/** What to answer, given the tool results so far ({text, isError} each) and
 * the request as JSON text. */
function next(results, raw) {
  transcript.turns++;
  const n = results.length;
  if (n > 0) {
    const step = script.steps[n - 1];
    const got = results[n - 1];
    const problem = check(step, got);
    transcript.results[n - 1] = { tool: step.tool, args: step.args, text: got.text, isError: got.isError, problem };
    if (problem) {
      if (!transcript.failures.includes(problem)) transcript.failures.push(problem);
      return { text: `SCRIPT FAILED: ${problem}` };
    }
  }
  if (n < script.steps.length) {
    const step = script.steps[n];
    if (step.gate) {
      const at = raw.indexOf(step.gate);
      if (at < 0) {
        transcript.idled++;
        return { text: step.idle ?? 'IDLE' };
      }
      transcript.gates[n] ??= raw.slice(Math.max(0, at - 600), at + 300);
    }
    return { call: step };
  }
  transcript.finished = true;
  return { text: script.final };
}

function check(step, got) {
  const want = step.expect ?? {};
  const wantError = want.error === true;
  // Hosts that do not pass isError on (Codex) still show the daemon's or
  // their own words ("requires approval" is Codex refusing the call).
  const looksError =
    got.isError === true ||
    /requires approval|haven't granted/i.test(got.text) ||
    (got.isError === undefined && /\berror\b/i.test(got.text) && !/"error"\s*:\s*null/.test(got.text));
  if (wantError !== looksError) {
    return `${step.tool} ${JSON.stringify(step.args)}: ${wantError ? 'expected an error' : 'unexpected error'}: ${got.text.slice(0, 400)}`;
  }
  const flat = got.text.replace(/\\"/g, '"').replace(/\s+/g, '');
  for (const c of want.contains ?? []) {
    if (!flat.includes(c.replace(/\s+/g, ''))) return `${step.tool}: result lacks ${JSON.stringify(c)}: ${got.text.slice(0, 400)}`;
  }
  return null;
}

/** The host's name for a script tool (hosts prefix MCP tools: mcp__peer__peer_send). */
function hostName(names, tool) {
  return names.find((n) => n === tool || n.endsWith(`__${tool}`) || n.endsWith(`_${tool}`) || n.endsWith(`.${tool}`)) ?? tool;
}

function offer(tools) {
  const peer = tools.filter((t) => /peer_/.test(t.name));
  if (peer.length && transcript.offered === null) transcript.offered = peer;
  return peer.length > 0;
}

const textOf = (content) => {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c) => (typeof c === 'string' ? c : c.text ?? JSON.stringify(c))).join('');
  return content == null ? '' : JSON.stringify(content);
};

let ids = 0;
const id = (p) => `${p}_${++ids}`;

// ---- Anthropic Messages (Claude Code) ---------------------------------------

function anthropic(body, res) {
  const tools = (body.tools ?? []).map((t) => ({ name: t.name, description: t.description, schema: t.input_schema }));
  let reply;
  if (!offer(tools)) {
    transcript.side++;
    reply = { text: 'ok' };
  } else {
    const results = [];
    for (const m of body.messages ?? []) {
      if (!Array.isArray(m.content)) continue;
      for (const c of m.content) {
        if (c.type === 'tool_result') results.push({ text: textOf(c.content), isError: c.is_error === true });
      }
    }
    reply = next(results, JSON.stringify(body));
  }
  const names = tools.map((t) => t.name);
  const block = reply.call
    ? { type: 'tool_use', id: id('toolu'), name: hostName(names, reply.call.tool), input: reply.call.args }
    : { type: 'text', text: reply.text };
  const stop = reply.call ? 'tool_use' : 'end_turn';
  const usage = { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const message = { id: id('msg'), type: 'message', role: 'assistant', model: body.model, content: [block], stop_reason: stop, stop_sequence: null, usage };
  if (!body.stream) return json(res, message);
  sse(res, [
    ['message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: reply.call ? { ...block, input: {} } : { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: reply.call ? { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } : { type: 'text_delta', text: block.text } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 5 } }],
    ['message_stop', { type: 'message_stop' }],
  ]);
}

// ---- OpenAI Responses (Codex) -----------------------------------------------

function flattenTools(tools) {
  const out = [];
  for (const t of tools ?? []) {
    if (Array.isArray(t.tools)) out.push(...flattenTools(t.tools).map((x) => ({ ...x, namespace: t.name })));
    else if (t.name) out.push({ name: t.name, description: t.description, schema: t.parameters, namespace: undefined });
  }
  return out;
}

function responses(body, res) {
  const tools = flattenTools(body.tools);
  let reply;
  if (!offer(tools)) {
    transcript.side++;
    reply = { text: 'ok' };
  } else {
    const results = [];
    for (const item of body.input ?? []) {
      if (item.type === 'function_call_output' || item.type === 'custom_tool_call_output') {
        const out = item.output;
        const text = typeof out === 'string' ? out : out?.content !== undefined ? textOf(out.content) : textOf(out);
        const isError = typeof out === 'object' && out !== null && out.success === false ? true : undefined;
        results.push({ text, isError });
      }
    }
    reply = next(results, JSON.stringify(body));
  }
  const respId = id('resp');
  let item;
  if (reply.call) {
    const t = tools.find((x) => x.name === hostName(tools.map((x) => x.name), reply.call.tool));
    item = { type: 'function_call', id: id('fc'), call_id: id('call'), name: t?.name ?? reply.call.tool, arguments: JSON.stringify(reply.call.args), status: 'completed' };
    if (t?.namespace) item.namespace = t.namespace;
  } else {
    item = { type: 'message', id: id('m'), role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: reply.text, annotations: [] }] };
  }
  const usage = { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 };
  const response = { id: respId, object: 'response', status: 'completed', model: body.model, output: [item], usage };
  if (!body.stream) return json(res, response);
  const events = [['response.created', { type: 'response.created', response: { ...response, status: 'in_progress', output: [] } }]];
  events.push(['response.output_item.added', { type: 'response.output_item.added', output_index: 0, item }]);
  if (!reply.call) events.push(['response.output_text.delta', { type: 'response.output_text.delta', item_id: item.id, output_index: 0, content_index: 0, delta: reply.text }]);
  events.push(['response.output_item.done', { type: 'response.output_item.done', output_index: 0, item }]);
  events.push(['response.completed', { type: 'response.completed', response }]);
  sse(res, events);
}

// ---- Gemini API (Gemini CLI) ------------------------------------------------

function gemini(body, res, streaming) {
  const tools = [];
  for (const t of body.tools ?? []) {
    for (const f of t.functionDeclarations ?? []) tools.push({ name: f.name, description: f.description, schema: f.parametersJsonSchema ?? f.parameters });
  }
  let reply;
  if (!offer(tools)) {
    transcript.side++;
    reply = { text: 'ok' };
  } else {
    const results = [];
    for (const c of body.contents ?? []) {
      for (const p of c.parts ?? []) {
        if (p.functionResponse) {
          const r = p.functionResponse.response ?? {};
          const text = typeof r.output === 'string' ? r.output : typeof r.error === 'string' ? r.error : JSON.stringify(r);
          results.push({ text, isError: r.error !== undefined ? true : undefined });
        }
      }
    }
    reply = next(results, JSON.stringify(body));
  }
  const part = reply.call
    ? { functionCall: { name: hostName(tools.map((t) => t.name), reply.call.tool), args: reply.call.args } }
    : { text: reply.text };
  const chunk = {
    candidates: [{ content: { role: 'model', parts: [part] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 },
    modelVersion: body.model ?? 'scripted',
  };
  if (!streaming) return json(res, chunk);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
}

// ---- HTTP -------------------------------------------------------------------

function json(res, value) {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function sse(res, events) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [event, data] of events) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    transcript.requests++;
    let body = {};
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch {
      body = {};
    }
    const url = req.url ?? '';
    try {
      if (req.method === 'POST' && /\/messages\/count_tokens/.test(url)) json(res, { input_tokens: 10 });
      else if (req.method === 'POST' && /\/messages(\?|$)/.test(url)) anthropic(body, res);
      else if (req.method === 'POST' && /\/responses(\?|$)/.test(url)) responses(body, res);
      else if (req.method === 'POST' && /:streamGenerateContent/.test(url)) gemini(body, res, true);
      else if (req.method === 'POST' && /:generateContent/.test(url)) gemini(body, res, false);
      else if (req.method === 'POST' && /:countTokens/.test(url)) json(res, { totalTokens: 10 });
      else if (/\/models(\?|$)/.test(url)) json(res, { object: 'list', data: [], models: [] });
      else {
        transcript.unhandled = [...(transcript.unhandled ?? []), `${req.method} ${url}`];
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"not scripted"}}');
      }
    } finally {
      save();
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  save();
  process.stdout.write(`listening ${server.address().port}\n`);
});
// The test ends the run by closing stdin (or killing the process).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
