// The servers and the browser the Trace tab is tested against, all on loopback:
// - the demo server (embedded defaults, the demo's three runs, OTLP/HTTP for the tests' own spans);
// - a second server on the same database whose trace store (Tempo) is down and which requires
//   a token: the degraded banner and the token field;
// - a third, on a database of its own, whose trace store is up and holds no trace, and which
//   has no span summaries to fall back on: "no trace was recorded".
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const SCREENSHOTS = resolve(process.env.ORCHEO_SCREENSHOT_DIR || '../docs/images');
export const TOKEN = `browser-${randomBytes(12).toString('hex')}`;

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

async function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => done(port));
    });
  });
}

async function waitFor(what, check, seconds = 60) {
  const until = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < until) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
}

/** Starts both servers and the browser; `stop()` ends them. */
export async function start() {
  const binary = process.env.ORCHEO_SERVER_BIN;
  if (!binary) throw new Error('ORCHEO_SERVER_BIN must name the orcheo-trace-server binary');
  const dir = mkdtempSync(join(tmpdir(), 'orcheo-browser-'));
  const children = [];
  const common = {
    ...process.env,
    ORCHEO_DATABASE_URL: `sqlite://${join(dir, 'trace.db')}`,
    ORCHEO_ARTIFACT_DIR: join(dir, 'artifacts'),
    ORCHEO_LOG_FORMAT: 'json',
    RUST_LOG: 'warn',
  };
  const launch = (args, env, name) => {
    const child = spawn(binary, args, { env: { ...common, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.on('exit', (code) => {
      if (code !== null && code !== 0) process.stderr.write(`${name} exited with ${code}:\n${output}\n`);
    });
    children.push(child);
    return child;
  };

  const [http, grpc, otlpHttp, degradedHttp, deadTempo] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  launch(['demo'], {
    ORCHEO_HTTP_ADDR: `127.0.0.1:${http}`,
    ORCHEO_OTLP_GRPC_ADDR: `127.0.0.1:${grpc}`,
    ORCHEO_OTLP_HTTP_ADDR: `127.0.0.1:${otlpHttp}`,
    ORCHEO_DASHBOARD_URLS: 'jaeger=http://127.0.0.1:16686/trace/{trace_id}',
  }, 'demo server');
  const base = `http://127.0.0.1:${http}`;
  await waitFor('the demo runs', async () => {
    const r = await fetch(`${base}/api/executions`);
    return r.ok && (await r.json()).executions.length >= 3;
  });

  const tokens = join(dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify([{
    name: 'browser-tests',
    sha256: createHash('sha256').update(TOKEN).digest('hex'),
    tenant: 'default',
    scopes: ['traces:read', 'traces:read_content'],
  }]));
  launch(['serve'], {
    ORCHEO_HTTP_ADDR: `127.0.0.1:${degradedHttp}`,
    ORCHEO_OTLP_GRPC_ADDR: 'off',
    ORCHEO_OTLP_HTTP_ADDR: 'off',
    ORCHEO_TRACE_BACKEND: 'tempo',
    ORCHEO_TRACE_BACKEND_URL: `http://127.0.0.1:${deadTempo}`,
    ORCHEO_TRACE_BACKEND_TIMEOUT_MS: '1000',
    ORCHEO_AUTH_TOKENS_FILE: tokens,
  }, 'degraded server');
  const degraded = `http://127.0.0.1:${degradedHttp}`;
  await waitFor('the degraded server', async () => (await fetch(`${degraded}/healthz`)).ok);

  // A trace store that is up but has no trace at all: every trace is "not found".
  const emptyTempo = createHttpServer((req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('trace not found');
  });
  await new Promise((done) => emptyTempo.listen(0, '127.0.0.1', done));
  const emptyPort = /** @type {import('node:net').AddressInfo} */ (emptyTempo.address()).port;
  // Its own database, with one execution (and its spans in the local store, which this server
  // does not read) but no span summaries to fall back on.
  const seed = process.env.ORCHEO_SEED_BIN;
  if (!seed) throw new Error('ORCHEO_SEED_BIN must name the seed_trace example');
  const noTracesDb = `sqlite://${join(dir, 'no-traces.db')}`;
  const seeded = spawnSync(seed, [noTracesDb, 'exec_without_trace', '10'], { encoding: 'utf8' });
  if (seeded.status !== 0) throw new Error(`seed_trace failed: ${seeded.stderr}`);
  const noTracesHttp = await freePort();
  launch(['serve'], {
    ORCHEO_DATABASE_URL: noTracesDb,
    ORCHEO_HTTP_ADDR: `127.0.0.1:${noTracesHttp}`,
    ORCHEO_OTLP_GRPC_ADDR: 'off',
    ORCHEO_OTLP_HTTP_ADDR: 'off',
    ORCHEO_TRACE_BACKEND: 'tempo',
    ORCHEO_TRACE_BACKEND_URL: `http://127.0.0.1:${emptyPort}`,
  }, 'server over an empty trace store');
  const noTraces = `http://127.0.0.1:${noTracesHttp}`;
  await waitFor('the server over an empty trace store', async () => (await fetch(`${noTraces}/healthz`)).ok);

  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    base,
    degraded,
    noTraces,
    otlp: `http://127.0.0.1:${otlpHttp}/v1/traces`,
    browser,
    dir,
    async stop() {
      await browser.close().catch(() => {});
      for (const child of children) child.kill('SIGTERM');
      emptyTempo.close();
      await new Promise((r) => setTimeout(r, 300));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs axe-core on the page; fails on any serious or critical violation. */
export async function axe(page, state) {
  const source = readFileSync(new URL('../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
  // The page's content security policy forbids inline scripts; playwright's evaluation is not
  // subject to it, so axe is installed through evaluate.
  await page.evaluate(source);
  const result = await page.evaluate(async () => {
    // @ts-ignore axe is a global once installed
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) throw new Error(`axe (${state}): ${JSON.stringify(bad, null, 2)}`);
  return result;
}

const hex = (bytes) => randomBytes(bytes).toString('hex');
export const newTraceId = () => hex(16);
export const newSpanId = () => hex(8);

/**
 * An OTLP/JSON span of execution `execution`.
 * @param {{trace: string, id?: string, parent?: string | null, name: string, execution: string,
 *   start: bigint, end: bigint, error?: boolean, attributes?: Record<string, string | number>}} s
 */
export function span(s) {
  const attributes = [{ key: 'orcheo.execution.id', value: { stringValue: s.execution } }];
  for (const [key, value] of Object.entries(s.attributes || {})) {
    attributes.push({ key, value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value } });
  }
  return {
    traceId: s.trace,
    spanId: s.id || newSpanId(),
    parentSpanId: s.parent || '',
    name: s.name,
    kind: 1,
    startTimeUnixNano: String(s.start),
    endTimeUnixNano: String(s.end),
    attributes,
    status: { code: s.error ? 2 : 1, message: s.error ? 'failed' : '' },
  };
}

/** Sends spans to the receiver over OTLP/HTTP JSON, in requests of at most `batch` spans. */
export async function sendSpans(url, spans, batch = 2000) {
  for (let i = 0; i < spans.length; i += batch) {
    const body = {
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'browser-tests' } }] },
        scopeSpans: [{ scope: { name: 'browser-tests' }, spans: spans.slice(i, i + batch) }],
      }],
    };
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`OTLP export failed: ${r.status} ${await r.text()}`);
  }
}

export const nowNanos = () => BigInt(Date.now()) * 1_000_000n;

/**
 * A finished run of `count` spans: a root, `fanout` nodes under it, the rest spread under
 * those, each with tokens; returned with its execution id.
 */
export function syntheticRun(count, fanout = 100) {
  const trace = newTraceId();
  const execution = `bench-${count}-${hex(4)}`;
  const t0 = nowNanos() - 60_000_000_000n;
  const rootId = newSpanId();
  const spans = [span({ trace, id: rootId, name: 'workflow.execution', execution, start: t0, end: t0 + 30_000_000_000n,
    attributes: { 'orcheo.workflow.id': 'wf_bench' } })];
  const nodes = [];
  const first = Math.min(fanout, count - 1);
  for (let i = 0; i < first; i++) {
    const id = newSpanId();
    nodes.push(id);
    const start = t0 + BigInt(i) * 290_000_000n;
    spans.push(span({ trace, id, parent: rootId, name: `node ${i}`, execution, start, end: start + 280_000_000n,
      attributes: { 'orcheo.node.kind': 'llm', 'gen_ai.usage.input_tokens': 100 + i, 'gen_ai.usage.output_tokens': 20 } }));
  }
  for (let i = spans.length; i < count; i++) {
    const parentIndex = i % nodes.length;
    const start = t0 + BigInt(parentIndex) * 290_000_000n + BigInt(i % 50) * 5_000_000n;
    spans.push(span({ trace, parent: nodes[parentIndex], name: `tool call ${i}`, execution, start, end: start + 4_000_000n,
      attributes: { 'orcheo.node.kind': 'tool' } }));
  }
  return { execution, spans };
}
