// The agent runtime of the dispatch bench, in its own process: it answers every webhook 200
// `{"status":"succeeded"}` at once (a runtime that ran the task synchronously) and keeps, for
// each, when it arrived and the run's scheduled_for, read from the body without parsing it all.
// GET /stats?from=&to= (epoch ms) answers what arrived; the first line on stdout is its port.
import { createServer } from 'node:http';

const arrivedAt: number[] = [];
const scheduledFor: number[] = [];
const seen = new Set<string>();
let duplicates = 0;
const SCHEDULED_FOR = /"scheduled_for":"([^"]+)"/;
const ANSWER = '{"status":"succeeded"}';

function percentile(sorted: number[], q: number): number | null {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const server = createServer((req, res) => {
  if (req.method === 'GET') {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const from = Number(url.searchParams.get('from') ?? 0);
    const to = Number(url.searchParams.get('to') ?? Number.MAX_SAFE_INTEGER);
    let arrived = 0;
    const lags: number[] = [];
    for (let i = 0; i < arrivedAt.length; i++) {
      if (arrivedAt[i] >= from && arrivedAt[i] < to) arrived++;
      if (scheduledFor[i] >= from && scheduledFor[i] < to) lags.push(arrivedAt[i] - scheduledFor[i]);
    }
    lags.sort((a, b) => a - b);
    const stats = {
      total: arrivedAt.length,
      distinct: seen.size,
      duplicates,
      lastArrivedAt: arrivedAt.length > 0 ? Math.max(...arrivedAt.slice(-1000)) : null,
      arrived,
      scheduled: lags.length,
      lagP50: percentile(lags, 0.5),
      lagP99: percentile(lags, 0.99),
      lagMax: lags.length > 0 ? lags[lags.length - 1] : null,
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const now = Date.now();
    const id = String(req.headers['webhook-id'] ?? '');
    if (seen.has(id)) duplicates++;
    else seen.add(id);
    const match = SCHEDULED_FOR.exec(Buffer.concat(chunks).toString('utf8'));
    arrivedAt.push(now);
    scheduledFor.push(match ? Date.parse(match[1]) : NaN);
    res.writeHead(200, { 'content-type': 'application/json' }).end(ANSWER);
  });
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
