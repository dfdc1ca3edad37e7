// Canvas's situation in a real browser: a page served from another origin calls the API with an
// `Authorization` header. Chromium sends the preflight and enforces the answer: the call
// succeeds from an origin in ORCHEO_CORS_ALLOWED_ORIGINS and is blocked from any other.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const TOKEN = `cors-${randomBytes(12).toString('hex')}`;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

let api;
let allowedPage;
let otherPage;
let browser;
let server;
let dir;
const pages = [];

async function freePort() {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => done(port));
    });
  });
}

/** A page server: one empty page, the stand-in for Canvas's origin. */
async function pageServer() {
  const s = createHttpServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>canvas</title><main>canvas</main></html>');
  });
  await new Promise((done) => s.listen(0, '127.0.0.1', done));
  pages.push(s);
  return `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (s.address()).port}`;
}

before(async () => {
  const binary = process.env.ORCHEO_SERVER_BIN;
  if (!binary) throw new Error('ORCHEO_SERVER_BIN must name the orcheo-trace-server binary');
  dir = mkdtempSync(join(tmpdir(), 'orcheo-cors-'));
  allowedPage = await pageServer();
  otherPage = await pageServer();
  const tokens = join(dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify([{
    name: 'canvas', sha256: createHash('sha256').update(TOKEN).digest('hex'), tenant: 'default', scopes: ['traces:read'],
  }]));
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  let output = '';
  server = spawn(binary, ['serve'], {
    env: {
      ...process.env,
      ORCHEO_HTTP_ADDR: `127.0.0.1:${port}`,
      ORCHEO_DATABASE_URL: `sqlite://${join(dir, 'trace.db')}`,
      ORCHEO_OTLP_GRPC_ADDR: 'off',
      ORCHEO_OTLP_HTTP_ADDR: 'off',
      ORCHEO_AUTH_TOKENS_FILE: tokens,
      ORCHEO_CORS_ALLOWED_ORIGINS: allowedPage,
      ORCHEO_LOG_FORMAT: 'json',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', (d) => { output += d; });
  server.stderr.on('data', (d) => { output += d; });
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${api}/healthz`)).ok) break;
    } catch { /* not up yet */ }
    if (server.exitCode !== null || Date.now() > until) throw new Error(`the server did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close().catch(() => {});
  server?.kill('SIGTERM');
  for (const s of pages) s.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Opens `origin`'s page and, from it, fetches `path` of the API as Canvas's authFetch does. */
async function callFrom(origin, path, token) {
  const page = await browser.newPage();
  try {
    await page.goto(origin);
    return await page.evaluate(async ({ url, token }) => {
      const headers = new Headers();
      if (token) headers.set('Authorization', `Bearer ${token}`);
      try {
        const r = await fetch(url, { headers, cache: 'no-store' });
        return { reached: true, status: r.status, body: await r.json(), requestId: r.headers.get('x-request-id') };
      } catch (e) {
        return { reached: false, error: String(e) };
      }
    }, { url: `${api}${path}`, token });
  } finally {
    await page.close();
  }
}

test('a page of an allowed origin reads the API with its token', async () => {
  const answer = await callFrom(allowedPage, '/api/executions', TOKEN);
  assert.equal(answer.reached, true, answer.error);
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body.executions, []);
  // An exposed header is readable.
  assert.ok(answer.requestId, 'X-Request-Id is exposed');
  // Errors are readable too: a bad token is a 401 the page can see and act on.
  const refused = await callFrom(allowedPage, '/api/executions', 'not-a-token');
  assert.equal(refused.reached, true, refused.error);
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, 'unauthenticated');
});

test('a page of another origin is blocked by the browser', async () => {
  const answer = await callFrom(otherPage, '/api/executions', TOKEN);
  assert.equal(answer.reached, false, JSON.stringify(answer));
  assert.match(answer.error, /Failed to fetch/);
});
