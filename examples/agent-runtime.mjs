// A minimal agent runtime for the schedule service (README: "Dispatch to an agent runtime").
// It receives each fire's webhook, verifies the signature, "runs" the task by appending an
// assistant reply to the session's state, and reports the run `succeeded`. No framework.
//
//   DISPATCH_SECRET=whsec_… RUNTIME_TOKEN=… node examples/agent-runtime.mjs
//
// HOST (default 127.0.0.1) and PORT (default 4000) are where it listens; SERVICE_URL (default
// http://127.0.0.1:3000) is the schedule service it reports back to.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const { DISPATCH_SECRET, RUNTIME_TOKEN, HOST = '127.0.0.1', PORT = '4000', SERVICE_URL = 'http://127.0.0.1:3000' } = process.env;
if (!DISPATCH_SECRET || !RUNTIME_TOKEN) throw new Error('DISPATCH_SECRET and RUNTIME_TOKEN are required');
const webhook = new Webhook(DISPATCH_SECRET);
/** Delivery is at least once: a run already seen (same webhook-id) is acknowledged, not run again. */
const seen = new Set();
const SEEN_MAX = 10_000;

async function report(method, path, body) {
  const res = await fetch(`${SERVICE_URL}/runtime${path}`, {
    method,
    headers: { authorization: `Bearer ${RUNTIME_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
}

/** The "agent": answers the scheduled task with a reply appended to the session's context. */
async function run({ run, session }) {
  await report('POST', `/runs/${run.id}/status`, { status: 'running' });
  const prompt = session.state.context.at(-1)?.content[0]?.text ?? '';
  const now = new Date().toISOString();
  const text = `Done: ${prompt.replace(/<\/?scheduled-task>/g, '').trim()}`;
  // What a model call would report; here a rough count (four characters a token), and no price.
  const usage = { input_tokens: Math.ceil(prompt.length / 4), output_tokens: Math.ceil(text.length / 4) };
  const reply = {
    name: 'assistant',
    content: [{ type: 'text', text, id: randomUUID() }],
    id: randomUUID(),
    metadata: {},
    created_at: now,
    finished_at: now,
    usage,
  };
  await report('PUT', `/sessions/${session.id}/state`, { ...session.state, context: [...session.state.context, reply] });
  await report('POST', `/runs/${run.id}/status`, { status: 'succeeded', usage });
}

createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let event;
    try {
      event = webhook.verify(Buffer.concat(chunks).toString('utf8'), req.headers);
    } catch {
      res.writeHead(401).end(); // not signed by the service: a 4xx, so it is not retried
      return;
    }
    res.writeHead(202).end(); // accepted: the run is `dispatched`, and runs in the background
    if (event.type !== 'schedule.fired' || seen.has(req.headers['webhook-id'])) return;
    seen.add(req.headers['webhook-id']);
    if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
    const runId = event.data.run.id;
    run(event.data).then(
      () => console.log(`run ${runId} succeeded`),
      (error) => {
        console.error(`run ${runId} failed: ${error.message}`);
        report('POST', `/runs/${runId}/status`, { status: 'failed', error: error.message }).catch(() => undefined);
      },
    );
  });
}).listen(Number(PORT), HOST, function () {
  console.log(`agent runtime listening on http://${HOST}:${this.address().port}/`);
});
