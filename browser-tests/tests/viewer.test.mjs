// The Trace tab in Chromium against real servers: the journey the issue names, axe-core on
// every state, screenshots for the user guide, and the timings reported in docs/benchmarks.md.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import {
  axe, newSpanId, newTraceId, nowNanos, SCREENSHOTS, sendSpans, span, start, syntheticRun, TOKEN,
} from './harness.mjs';

let env;
let page;
/** The demo's runs by workflow id. */
const runs = {};
const timings = {};
const pageErrors = [];

before(async () => {
  env = await start();
  const list = await (await fetch(`${env.base}/api/executions`)).json();
  for (const e of list.executions) runs[e.workflow_id] = e;
  page = await env.browser.newPage({ viewport: { width: 1400, height: 860 }, acceptDownloads: true });
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

afterEach(() => {
  const errors = pageErrors.splice(0);
  assert.deepEqual(errors, [], 'the page raised no errors');
});

after(async () => {
  if (process.env.ORCHEO_BENCH_OUT) writeFileSync(process.env.ORCHEO_BENCH_OUT, JSON.stringify(timings, null, 2));
  if (Object.keys(timings).length) console.log('timings:', JSON.stringify(timings));
  await env?.stop();
});

const shot = (name) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
const tree = () => page.locator('[role="tree"]');
const row = (name) => page.locator('[role="treeitem"]', { has: page.locator('.span-name', { hasText: name }) });
async function openTrace(base, execution, query = '') {
  await page.goto(`${base}/executions/${encodeURIComponent(execution)}${query}`);
  await page.locator('[role="tree"][aria-busy="false"]').waitFor();
}

test('the executions list shows the demo runs newest first with status and token badges', async () => {
  await page.goto(env.base);
  const rows = page.locator('table.executions tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 3);
  const workflows = await page.locator('table.executions tbody td:nth-child(2)').allTextContents();
  assert.deepEqual(workflows, ['wf_research_agent', 'wf_invoice_extraction', 'wf_support_reply']);
  const invoice = rows.nth(1);
  assert.match(await invoice.innerText(), /error/);
  assert.match(await invoice.innerText(), /5\.1k → 2\.0k/);
  await axe(page, 'executions list');
  await shot('executions');

  // Cursor paging, two at a time: every execution once, then no more pages.
  await page.goto(`${env.base}/?limit=2`);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  assert.equal(await rows.count(), 2);
  await page.click('text=Load more');
  await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length === 3);
  assert.ok(await page.locator('button', { hasText: 'Load more' }).isHidden());
  const ids = await page.locator('table.executions tbody th > a:first-child').allTextContents();
  assert.equal(new Set(ids).size, 3);

  await page.goto(env.base);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  await page.selectOption('#filter-status', 'error');
  await page.click('text=Apply filters');
  await page.waitForURL(/status=error/);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  await assert.doesNotReject(async () => {
    await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length === 1);
  });
  assert.match(await rows.first().innerText(), /wf_invoice_extraction/);

  await page.fill('#find-execution', runs.wf_support_reply.id);
  await page.click('text=Open');
  await page.waitForURL(new RegExp(`/executions/${runs.wf_support_reply.id}$`));
  await tree().waitFor();
});

/** The ids the executions list shows, in order. */
const listedIds = () => page.locator('table.executions tbody th > a:first-child').allTextContents();
async function openList(query = '') {
  await page.goto(`${env.base}/${query}`);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
}

test('the Errors filter tells a failed run from a finished run whose step failed', async () => {
  // A run that finished although one of its nodes failed: the root is OK, a node is ERROR.
  const trace = newTraceId();
  const execution = `recovered-${newSpanId()}`;
  const rootId = newSpanId();
  const t0 = nowNanos() - 5_000_000_000n;
  await sendSpans(env.otlp, [
    span({ trace, parent: rootId, name: 'Try Primary', execution, start: t0, end: t0 + 10_000_000n, error: true }),
    span({ trace, parent: rootId, name: 'Use Fallback', execution, start: t0 + 20_000_000n, end: t0 + 30_000_000n }),
    span({ trace, id: rootId, name: 'workflow.execution', execution, start: t0, end: t0 + 40_000_000n,
      attributes: { 'orcheo.workflow.id': 'wf_recovering' } }),
  ]);
  const invoice = runs.wf_invoice_extraction.id;
  const choose = async (label) => {
    await page.selectOption('#filter-errors', { label });
    await page.click('text=Apply filters');
    await page.locator('table.executions[aria-busy="false"]').waitFor();
  };
  await openList();
  assert.deepEqual(
    await page.locator('#filter-errors option').allTextContents(),
    ['any', 'run failed', 'a step failed (run may have finished)', 'no errors']);
  await choose('a step failed (run may have finished)');
  await page.waitForURL(/has_failing_span=true/);
  await page.waitForFunction((n) => document.querySelectorAll('table.executions tbody tr').length === n, 2);
  assert.deepEqual((await listedIds()).sort(), [execution, invoice].sort());
  const recovered = page.locator('table.executions tbody tr', { hasText: execution });
  assert.match(await recovered.innerText(), /completed/);
  assert.equal(await recovered.locator('.error-count').innerText(), '1');
  await axe(page, 'executions with a failed step');

  await choose('run failed');
  await page.waitForURL(/has_error=true/);
  await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length === 1);
  assert.deepEqual(await listedIds(), [invoice]);
  // The invoice run's root fails with its node's failure: one error, in the list and the header.
  assert.equal(await page.locator('table.executions tbody .error-count').innerText(), '1');

  await choose('no errors');
  await page.waitForURL(/has_error=false&has_failing_span=false/);
  const clean = await listedIds();
  assert.ok(clean.length >= 2, 'the demo runs that did not fail');
  assert.ok(!clean.includes(execution) && !clean.includes(invoice));
  assert.equal(await page.locator('#filter-errors').inputValue(), 'none');

  await openTrace(env.base, invoice);
  assert.match(await page.locator('.trace-header').innerText(), /Errors\s*1\b/);
});

test('the executions list shows new and running runs by itself, keeping loaded rows and focus', async () => {
  // Two a page, then "Load more": the rows it brought stay when new runs arrive.
  await openList('?limit=2');
  await page.click('text=Load more');
  await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length === 4);
  const before = await listedIds();
  await page.focus('#filter-workflow');
  // A short window, the list scrolled: the row being read stays where it is when a run arrives.
  await page.setViewportSize({ width: 1400, height: 340 });
  const wrap = page.locator('.table-wrap');
  await wrap.evaluate((w) => { w.scrollTop = 60; });
  const reading = () => wrap.evaluate((w) => {
    const box = w.getBoundingClientRect();
    const at = document.elementFromPoint(box.left + 40, box.top + 60);
    return { id: at?.closest('tr')?.querySelector('th')?.textContent, top: Math.round(at?.closest('tr')?.getBoundingClientRect().top ?? -1) };
  });
  const read = await reading();
  assert.ok(read.id && before.includes(read.id), JSON.stringify(read));

  const trace = newTraceId();
  const execution = `arriving-${newSpanId()}`;
  const rootId = newSpanId();
  const t0 = nowNanos();
  // A node ends first; the run's root span arrives when the run ends.
  await sendSpans(env.otlp, [span({ trace, parent: rootId, name: 'Fetch', execution, start: t0, end: t0 + 5_000_000n,
    attributes: { 'orcheo.workflow.id': 'wf_arriving' } })]);
  const arrived = page.locator('table.executions tbody tr', { hasText: execution });
  await arrived.waitFor({ timeout: 15_000 });
  assert.deepEqual(await listedIds(), [execution, ...before], 'the new run on top, every loaded row kept');
  assert.deepEqual(await reading(), read, 'the scroll position follows the row being read');
  await page.setViewportSize({ width: 1400, height: 860 });
  assert.match(await arrived.getAttribute('class') || '', /\barrived\b/);
  assert.match(await arrived.innerText(), /running/);
  await page.locator('#announcer', { hasText: '1 new execution' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'filter-workflow', 'the focus stays');
  // Its duration counts up while it runs.
  const duration = arrived.locator('td.running-for');
  const first = await duration.innerText();
  assert.match(first, /^running \d+ s$/);
  await page.waitForFunction((text) => document.querySelector('table.executions tbody tr td.running-for')?.textContent !== text, first);
  await axe(page, 'executions with a new running run');
  await shot('executions-live');

  await sendSpans(env.otlp, [span({ trace, id: rootId, name: 'workflow.execution', execution, start: t0, end: t0 + 9_000_000n,
    attributes: { 'orcheo.workflow.id': 'wf_arriving' } })]);
  await arrived.locator('.badge-completed').waitFor({ timeout: 15_000 });
  assert.equal(await arrived.locator('.badge-live').count(), 0);
  assert.doesNotMatch(await arrived.locator('td:nth-child(5)').innerText(), /running|—/);
  assert.equal((await listedIds()).length, before.length + 1);

  // A hidden tab does not poll; it reads the list again as soon as it is shown.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const requests = [];
  const count = (r) => { if (r.url().includes('/api/executions?')) requests.push(r.url()); };
  page.on('request', count);
  await new Promise((r) => setTimeout(r, 6000));
  assert.equal(requests.length, 0, 'no refresh while hidden');
  await Promise.all([
    page.waitForRequest((r) => r.url().includes('/api/executions?'), { timeout: 2000 }),
    page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'visible', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }),
  ]);
  page.off('request', count);
});

test('the breadcrumb leads back to the list as it was left', async () => {
  await openList('?status=error');
  await page.click(`text=${runs.wf_invoice_extraction.id}`);
  await page.locator('[role="tree"][aria-busy="false"]').waitFor();
  const crumb = page.locator('nav.crumbs a', { hasText: 'Executions' });
  assert.equal(await crumb.getAttribute('href'), '/?status=error');
  await crumb.click();
  await page.waitForURL(/\/\?status=error$/);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  assert.equal(await page.locator('#filter-status').inputValue(), 'error');
  assert.deepEqual(await listedIds(), [runs.wf_invoice_extraction.id]);
});

test('the Workflow field suggests ids as the user types and filters by prefix', async () => {
  await openList();
  await page.fill('#filter-workflow', 'wf_inv');
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#workflow-suggestions option')].map((o) => o.getAttribute('value')).join() === 'wf_invoice_extraction');
  await axe(page, 'workflow suggestions');
  await page.click('text=Apply filters');
  await page.waitForURL(/workflow_prefix=wf_inv/);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length === 1);
  const link = page.locator('table.executions tbody td:nth-child(2) a');
  assert.equal(await link.innerText(), 'wf_invoice_extraction');
  // The row's link is the exact workflow, and the field keeps it exact.
  assert.equal(await link.getAttribute('href'), '/?workflow_id=wf_invoice_extraction');
  await page.fill('#filter-workflow', 'wf_');
  await page.click('text=Apply filters');
  await page.waitForURL(/workflow_prefix=wf_$/);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length >= 3);
  await page.fill('#filter-workflow', 'WF_');
  await page.click('text=Apply filters');
  await page.locator('.empty', { hasText: 'No execution matches these filters.' }).waitFor();
});

test('a search finds runs by what their model answered, says where, and leads to that span', async () => {
  await openList();
  await page.fill('#filter-q', 'carrier delay');
  await page.click('text=Apply filters');
  await page.waitForURL(/q=carrier\+delay/);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length === 1);
  assert.deepEqual(await listedIds(), [runs.wf_support_reply.id]);
  const found = page.locator('table.executions tbody ul.matches li').first();
  assert.match(await found.innerText(), /response/);
  assert.deepEqual(
    (await found.locator('mark').allTextContents()).map((m) => m.toLowerCase()).sort(), ['carrier', 'delay']);
  assert.equal(await page.locator('#filter-q').inputValue(), 'carrier delay');
  await axe(page, 'search results');
  await shot('search-executions');

  // The match leads to the span it was found in, selected.
  const spanName = await found.locator('a').innerText();
  await found.locator('a').click();
  await page.waitForURL(/\/executions\/[^?]+\?span=[0-9a-f]{16}$/);
  await page.locator('[role="tree"][aria-busy="false"]').waitFor();
  await page.waitForFunction((name) =>
    document.querySelector('[role="treeitem"][aria-selected="true"] .span-name')?.textContent === name, spanName);

  // Words a run's error says, and nothing for words no run has.
  await openList('?q=prompt+too+long');
  await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length === 1);
  assert.deepEqual(await listedIds(), [runs.wf_invoice_extraction.id]);
  await openList('?q=zebra+unicorn+nowhere');
  await page.locator('.empty', { hasText: 'No execution matches this search and these filters.' }).waitFor();
});

test('"More filters" bound tokens, duration and start, and keep what was set', async () => {
  const all = (await (await fetch(`${env.base}/api/executions?limit=500`)).json()).executions
    .filter((e) => e.status !== 'running');
  const total = (e) => (e.token_usage ? e.token_usage.input + e.token_usage.output : 0);
  // A bound between the demo runs' token totals: the runs above it, and only those.
  const totals = [...new Set(all.map(total))].sort((a, b) => a - b);
  const bound = totals[totals.length - 1];
  const expected = all.filter((e) => total(e) >= bound).map((e) => e.id).sort();
  await openList();
  await page.click('.more-filters summary');
  await page.fill('#filter-min-tokens', String(bound));
  await page.click('text=Apply filters');
  await page.waitForURL(new RegExp(`min_tokens=${bound}`));
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  await page.waitForFunction((n) => document.querySelectorAll('table.executions tbody tr').length === n, expected.length);
  assert.deepEqual((await listedIds()).sort(), expected);
  // The filters stay open and say how many are set.
  assert.equal(await page.locator('.more-filters').getAttribute('open'), '');
  assert.match(await page.locator('.more-filters summary').innerText(), /1 set/);
  assert.equal(await page.locator('#filter-min-tokens').inputValue(), String(bound));
  await axe(page, 'more filters');

  // Durations are typed in seconds: a minute and more leaves none of the demo's quick runs.
  await page.fill('#filter-min-tokens', '');
  await page.fill('#filter-min-duration-ms', '3600');
  await page.click('text=Apply filters');
  await page.waitForURL(/min_duration_ms=3600000/);
  await page.locator('.empty', { hasText: 'No execution matches these filters.' }).waitFor();

  // "Last hour" keeps every run just made; a start bound in the future keeps none.
  await page.fill('#filter-min-duration-ms', '');
  await page.selectOption('#filter-since', '1h');
  await page.click('text=Apply filters');
  await page.waitForURL(/since=1h/);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('table.executions tbody tr').length >= 3);
  const later = new Date(Date.now() + 3_600_000).toISOString();
  await openList(`?started_after=${encodeURIComponent(later)}`);
  await page.locator('.empty', { hasText: 'No execution matches these filters.' }).waitFor();
  assert.notEqual(await page.locator('#filter-started-after').inputValue(), '');
});

test('opening an execution shows its tree, waterfall, header and dashboard links', async () => {
  await page.goto(env.base);
  await page.click(`text=${runs.wf_support_reply.id}`);
  await page.locator('[role="tree"][aria-busy="false"]').waitFor();
  assert.equal(await page.locator('[role="treeitem"]').count(), 5);
  assert.equal(await row('Draft Reply').getAttribute('aria-level'), '2');
  assert.match(await page.locator('.trace-header').innerText(), /1,744/);
  const link = page.locator('.header-actions a', { hasText: 'Open in jaeger' });
  assert.equal(await link.getAttribute('href'), `http://127.0.0.1:16686/trace/${runs.wf_support_reply.trace_id}`);
  assert.equal(await page.locator('.token-chart li').count(), 2);
  await axe(page, 'trace');
  await shot('trace');
});

test('selecting the failing node shows its error, hint and stack trace', async () => {
  await openTrace(env.base, runs.wf_invoice_extraction.id);
  await row('Extract Line Items').click();
  const error = page.locator('.error-box');
  await error.waitFor();
  const text = await error.innerText();
  assert.match(text, /ContextLengthExceeded/);
  assert.match(text, /CONTEXT_LENGTH/);
  assert.match(text, /Hint: split the document/);
  await error.locator('summary', { hasText: 'Stack trace' }).click();
  assert.match(await error.locator('pre').innerText(), /anthropic\.BadRequestError/);
  assert.match(page.url(), /\?span=[0-9a-f]{16}$/);
  await axe(page, 'error');
  await shot('error');
});

test('the conversation keeps the redaction marker, and the artifact downloads', async () => {
  await openTrace(env.base, runs.wf_support_reply.id);
  await row('Draft Reply').click();
  // The LLM span opens on its conversation: the redacted user message keeps its marker.
  const bubble = page.locator('.bubble', { hasText: 'Message 2' });
  await bubble.waitFor();
  assert.equal(await bubble.locator('.role').textContent(), 'User');
  assert.equal(await bubble.locator('.marker.redacted').innerText(), 'redacted');
  const content = await bubble.locator('.bubble-body').innerText();
  assert.match(content, /\[REDACTED\]/);
  assert.doesNotMatch(content, /ada\.lovelace@example\.com/);
  assert.deepEqual(await page.locator('.bubble .role').allTextContents(), ['System', 'User', 'Assistant']);
  // The events the conversation shows are named, not repeated as attribute tables.
  const events = page.locator('section[aria-label="Events"]');
  const shown = events.locator('li', { hasText: 'shown in the conversation' });
  assert.deepEqual(await shown.locator('strong').allTextContents(), ['message', 'message', 'response']);
  assert.equal(await shown.locator('table').count(), 0);
  await axe(page, 'conversation, redacted message');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('button[aria-label="Download reply.txt"]')]);
  assert.equal(download.suggestedFilename(), 'reply.txt');
  const path = await download.path();
  assert.match(readFileSync(path, 'utf8'), /^Dear Ada,/);
  await page.click('button[aria-label="Preview reply.txt"]');
  assert.match(await page.locator('.preview pre').innerText(), /Acme Outdoor Support/);
});

/** A finished LLM run of our own, sent over OTLP once: a conversation with tool calls, status evidence, an artifact never stored. */
let assistantRun = null;
async function sendAssistantRun() {
  if (assistantRun) return assistantRun;
  const trace = newTraceId();
  const execution = `assistant-${newSpanId()}`;
  const t0 = nowNanos() - 30_000_000_000n;
  const root = newSpanId();
  const longDocument = Array.from({ length: 40 }, (_, i) => `line ${i + 1} of the itinerary the traveller pasted`).join('\n');
  const input = [
    { role: 'system', parts: [{ type: 'text', content: 'You are a travel assistant. Answer in **Markdown**.' }] },
    { role: 'user', parts: [{ type: 'text', content: 'What is the weather in Paris? <img src=x onerror="window.__injected=1">' }] },
    { role: 'assistant', parts: [{ type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: { city: 'Paris', unit: 'C' } }] },
    { role: 'tool', parts: [{ type: 'tool_call_response', id: 'call_1', response: { temperature: 18, sky: 'cloudy' } }] },
    { role: 'user', parts: [{ type: 'text', content: longDocument }] },
  ];
  const answer = '## Paris today\n\n- **18 °C**, cloudy\n- take an *umbrella*\n\n```json\n{"temperature": 18}\n```\n\n' +
    'See [the forecast](https://example.com/paris) or call `get_weather` again.';
  const output = [{ role: 'assistant', parts: [{ type: 'text', content: answer }] }];
  const at = (s) => t0 + BigInt(s) * 1_000_000_000n;
  const unset = (s) => ({ ...s, status: { code: 0 } });
  const spans = [
    span({ trace, id: root, name: 'workflow.execution', execution, start: at(0), end: at(10), attributes: { 'orcheo.workflow.id': 'wf_trip_planner' } }),
    span({ trace, parent: root, name: 'Plan Trip', execution, start: at(1), end: at(3), attributes: {
      'orcheo.node.kind': 'llm', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 900, 'gen_ai.usage.output_tokens': 120,
      'gen_ai.input.messages': JSON.stringify(input), 'gen_ai.output.messages': JSON.stringify(output) } }),
    unset(span({ trace, parent: root, name: 'Fetch Weather', execution, start: at(3), end: at(4), attributes: { 'orcheo.node.kind': 'tool', 'orcheo.node.status': 'completed' } })),
    unset(span({ trace, parent: root, name: 'Cache Lookup', execution, start: at(4), end: at(5), attributes: { 'orcheo.node.kind': 'tool', 'orcheo.node.status': 'skipped' } })),
    unset(span({ trace, parent: root, name: 'Unlabelled Step', execution, start: at(5), end: at(6) })),
    { ...span({ trace, parent: root, name: 'Render Chart', execution, start: at(6), end: at(7), attributes: { 'orcheo.node.kind': 'tool', 'orcheo.artifact.ids': 'chart_never_stored' } }),
      events: [{ name: 'artifact', timeUnixNano: String(at(7)), attributes: [
        { key: 'artifact.id', value: { stringValue: 'chart_never_stored' } },
        { key: 'artifact.name', value: { stringValue: 'chart.png' } },
        { key: 'artifact.content_type', value: { stringValue: 'image/png' } },
        { key: 'artifact.size', value: { intValue: '52100' } },
        { key: 'artifact.url', value: { stringValue: 's3://trip-artifacts/chart.png' } },
      ] }] },
    span({ trace, parent: root, name: 'Book Hotel', execution, start: at(7), end: at(8), attributes: {
      'openinference.span.kind': 'LLM', 'llm.model_name': 'gpt-4o',
      'llm.input_messages.0.message.role': 'user', 'llm.input_messages.0.message.content': 'Book me a hotel near the Louvre.',
      'llm.output_messages.0.message.role': 'assistant',
      'llm.output_messages.0.message.tool_calls.0.tool_call.id': 'call_9',
      'llm.output_messages.0.message.tool_calls.0.tool_call.function.name': 'book_hotel',
      'llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments': '{"near": "Louvre", "nights": 2}' } }),
  ];
  await sendSpans(env.otlp, spans);
  assistantRun = { execution, answer, longDocument };
  return assistantRun;
}

test('an LLM span opens on its conversation: roles, markdown, tool calls, raw text and "show all"', async () => {
  const run = await sendAssistantRun();
  await openTrace(env.base, run.execution);
  await row('Plan Trip').click();
  const drawer = page.locator('details.conversation-drawer');
  await drawer.waitFor();
  assert.equal(await drawer.getAttribute('open'), '', 'open by default for an LLM span');
  assert.deepEqual(await page.locator('.bubble .role').allTextContents(), ['System', 'User', 'Assistant', 'Tool', 'User', 'Assistant']);
  assert.equal(await page.locator('.bubble-system .bubble-body').innerText(), 'You are a travel assistant. Answer in Markdown.');
  // Markup in a message is text, never HTML.
  const question = page.locator('.bubble-user').first();
  assert.match(await question.innerText(), /<img src=x onerror=/);
  assert.equal(await question.locator('img').count(), 0);
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).__injected), undefined);
  // The tool call with its name and arguments, and its result.
  const call = page.locator('.bubble-assistant .tool-call');
  assert.equal(await call.locator('code').first().innerText(), 'get_weather');
  assert.deepEqual(JSON.parse(await call.locator('pre').innerText()), { city: 'Paris', unit: 'C' });
  const result = page.locator('.bubble-tool .tool-result');
  assert.match(await result.innerText(), /Tool result/);
  assert.match(await result.innerText(), /for call_1/);
  assert.deepEqual(JSON.parse(await result.locator('pre').innerText()), { temperature: 18, sky: 'cloudy' });
  // The answer in Markdown: heading, list, emphasis, code block, a link with its address.
  const answer = page.locator('.bubble-assistant').last();
  assert.equal(await answer.locator('.md-heading').innerText(), 'Paris today');
  assert.equal(await answer.locator('li strong').innerText(), '18 °C');
  assert.equal(await answer.locator('li em').innerText(), 'umbrella');
  assert.equal(await answer.locator('pre.md-code').innerText(), '{"temperature": 18}');
  const link = answer.locator('a', { hasText: 'the forecast' });
  assert.equal(await link.getAttribute('href'), 'https://example.com/paris');
  assert.match(await link.getAttribute('rel'), /noopener/);
  assert.match(await answer.innerText(), /the forecast \(https:\/\/example\.com\/paris\)/);
  assert.equal(await answer.locator('p code').innerText(), 'get_weather');
  // A long message is cut until asked for.
  const long = page.locator('.bubble', { hasText: 'Message 5' });
  const showAll = long.locator('button', { hasText: /^Show all \([\d,]+ characters\)$/ });
  assert.equal(await showAll.innerText(), `Show all (${run.longDocument.length.toLocaleString('en-US')} characters)`);
  assert.doesNotMatch(await long.locator('.bubble-body').innerText(), /line 40 of/);
  await axe(page, 'conversation');
  // The details panel scrolled to the conversation (the page itself stays put).
  await page.locator('section[aria-label="Conversation"]').evaluate((e) => {
    const panel = /** @type {HTMLElement} */ (e.closest('.details'));
    panel.scrollTop += e.getBoundingClientRect().top - panel.getBoundingClientRect().top - 8;
  });
  await shot('conversation');
  await showAll.click();
  assert.match(await long.locator('.bubble-body').innerText(), /line 40 of/);
  assert.equal(await long.locator('button', { hasText: /^Show all/ }).count(), 0);
  // Raw: the exact text, for every bubble; and back.
  await page.click('.conversation-bar button:text-is("Raw")');
  assert.equal(await page.locator('.conversation-bar button', { hasText: 'Raw' }).getAttribute('aria-pressed'), 'true');
  assert.equal(await answer.locator('pre.content').textContent(), run.answer);
  assert.equal(await answer.locator('.md').count(), 0);
  await axe(page, 'conversation raw');
  await page.click('.conversation-bar button:text-is("Rendered")');
  assert.equal(await answer.locator('.md-heading').count(), 1);
  // The copy button copies the exact text.
  assert.ok(await answer.locator('button[aria-label^="Copy"]').isVisible());
});

test('OpenInference tool calls show in the conversation with their arguments', async () => {
  const run = await sendAssistantRun();
  await openTrace(env.base, run.execution);
  await row('Book Hotel').click();
  const call = page.locator('.bubble-assistant .tool-call');
  await call.waitFor();
  assert.deepEqual(await page.locator('.bubble .role').allTextContents(), ['User', 'Assistant']);
  assert.equal(await call.locator('code').innerText(), 'book_hotel');
  assert.match(await call.innerText(), /call_9/);
  assert.deepEqual(JSON.parse(await call.locator('pre').innerText()), { near: 'Louvre', nights: 2 });
  assert.equal(await page.locator('.bubble-assistant .marker.withheld').count(), 0);
  await axe(page, 'tool call from OpenInference');
});

test('a status comes from all the evidence and says where from', async () => {
  const run = await sendAssistantRun();
  await openTrace(env.base, run.execution);
  const status = () => page.locator('.facts dd').nth(1).innerText();
  await row('Fetch Weather').click();
  await page.locator('#details-title', { hasText: 'Fetch Weather' }).waitFor();
  assert.equal(await status(), 'completed — from orcheo.node.status “completed”');
  assert.equal(await row('Fetch Weather').locator('.status').textContent(), '✓ completed');
  await row('Cache Lookup').click();
  await page.locator('#details-title', { hasText: 'Cache Lookup' }).waitFor();
  assert.equal(await status(), 'skipped — from orcheo.node.status “skipped”; span status unset');
  assert.match(await row('Cache Lookup').locator('.status').getAttribute('class'), /status-skipped/);
  await row('Unlabelled Step').click();
  await page.locator('#details-title', { hasText: 'Unlabelled Step' }).waitFor();
  assert.equal(await status(), 'status unset — from span status unset and no orcheo.node.status');
  await axe(page, 'status evidence');
});

test('an artifact the server never stored says so and offers no download', async () => {
  const run = await sendAssistantRun();
  await openTrace(env.base, run.execution);
  await row('Render Chart').click();
  const item = page.locator('.artifact');
  await item.waitFor();
  const text = await item.innerText();
  assert.match(text, /chart\.png/);
  assert.match(text, /chart_never_stored/);
  assert.match(text, /image\/png · 50\.9 KiB/);
  assert.match(text, /The file was not stored on this server\./);
  assert.match(text, /s3:\/\/trip-artifacts\/chart\.png/);
  assert.equal(await item.locator('button').count(), 0, 'no Download, no Preview');
  await axe(page, 'artifact not stored');
});

test('"Tokens by node" says how many it shows and shows all on request; keys wrap at separators', async () => {
  const run = syntheticRun(21, 20);
  await sendSpans(env.otlp, run.spans);
  await openTrace(env.base, run.execution);
  const chart = page.locator('section[aria-label="Tokens by node"]');
  await chart.waitFor();
  assert.equal(await chart.locator('.token-chart li').count(), 12);
  assert.equal(await chart.locator('.chart-note').innerText(), 'Top 12 of 20 nodes with tokens, most first.');
  await chart.locator('button', { hasText: 'Show all 20' }).click();
  assert.equal(await chart.locator('.token-chart li').count(), 20);
  assert.equal(await chart.locator('.chart-note').innerText(), 'All 20 nodes with tokens, most first.');
  assert.equal(await chart.locator('button[aria-expanded="true"]').innerText(), 'Show the top 12');
  await axe(page, 'token chart, all nodes');
  // An attribute key may wrap after its dots and underscores, nowhere else.
  const key = page.locator('table.attributes th', { hasText: 'orcheo.workflow.id' });
  assert.equal(await key.locator('wbr').count(), 2);
  await chart.locator('button', { hasText: 'Show the top 12' }).click();
  assert.equal(await chart.locator('.token-chart li').count(), 12);
});

test('the tree is operable by keyboard alone', async () => {
  await page.goto(`${env.base}/executions/${encodeURIComponent(runs.wf_research_agent.id)}`);
  await page.locator('[role="tree"][aria-busy="false"]').waitFor();
  // Tab from the top of the page until the tree has focus.
  await page.locator('body').focus();
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement?.getAttribute('role') === 'tree')) break;
  }
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'tree');
  const active = () => page.evaluate(() => {
    const id = document.activeElement?.getAttribute('aria-activedescendant');
    return id ? document.getElementById(id)?.querySelector('.span-name')?.textContent : null;
  });
  await page.keyboard.press('Home');
  assert.equal(await active(), 'workflow.execution');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.equal(await active(), 'Search Reviews: Trailmaster GTX');
  // The selection follows the focus once the keys rest: no Enter needed.
  await page.locator('#details-title', { hasText: 'Search Reviews: Trailmaster GTX' }).waitFor();
  assert.equal(await row('Search Reviews: Trailmaster GTX').getAttribute('aria-selected'), 'true');
  // Held down, the arrow keys move the focus without drawing every span on the way.
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowUp');
  assert.equal(await row('Search Reviews: Trailmaster GTX').getAttribute('aria-selected'), 'true');
  await page.keyboard.press('End');
  assert.equal(await active(), 'Write Recommendation');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await active(), 'workflow.execution');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await row('workflow.execution').getAttribute('aria-expanded'), 'false');
  assert.equal(await page.locator('[role="treeitem"]').count(), 1);
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.locator('[role="treeitem"]').count(), 9);
  // `/` jumps to the search, which keeps ancestors of matches; Enter steps through them.
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'span-search');
  await page.keyboard.type('cascade');
  await page.waitForFunction(() => document.querySelectorAll('[role="treeitem"]').length === 3);
  assert.match(await page.locator('.search-count').innerText(), /^2 matches$/);
  await page.keyboard.press('Enter');
  await page.locator('.search-count', { hasText: '1 of 2 matches' }).waitFor();
  const first = await page.locator('#details-title').innerText();
  await page.keyboard.press('Enter');
  await page.locator('.search-count', { hasText: '2 of 2 matches' }).waitFor();
  assert.notEqual(await page.locator('#details-title').innerText(), first);
  await page.keyboard.press('Shift+Enter');
  await page.locator('.search-count', { hasText: '1 of 2 matches' }).waitFor();
  assert.equal(await page.locator('#details-title').innerText(), first);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'span-search', 'the search keeps the focus while stepping');
  // The match is marked in the tree and in the details.
  assert.ok(await page.locator('[role="treeitem"] .span-name mark').count() >= 1 || await page.locator('.found-in').count() >= 1);
  assert.ok(await page.locator('.details mark.hit').count() >= 1);
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'tree');
  await axe(page, 'search');
  await shot('search');
});

test('a running execution is live: the tree grows in place and completes', async () => {
  const trace = newTraceId();
  const execution = `live-${newSpanId()}`;
  const rootId = newSpanId();
  const t0 = nowNanos();
  const ms = (n) => t0 + BigInt(n) * 1_000_000n;
  // The run's root span arrives when the run ends; a stray span names a parent that never will.
  await sendSpans(env.otlp, [
    span({ trace, parent: rootId, name: 'Fetch Inputs', execution, start: ms(0), end: ms(40), attributes: { 'orcheo.workflow.id': 'wf_live' } }),
    span({ trace, parent: newSpanId(), name: 'Stray', execution, start: ms(50), end: ms(55) }),
  ]);
  await openTrace(env.base, execution);
  await page.locator('.badge-live:not([hidden])').waitFor();
  // Running, not broken: the root stands as the workflow's run, and only the stray is an anomaly.
  const top = page.locator('[role="treeitem"][aria-level="1"]');
  assert.equal(await top.locator('.span-name').innerText(), 'wf_live');
  assert.match(await top.innerText(), /running/);
  assert.match(await top.locator('.duration').innerText(), /so far$/);
  assert.match(await page.locator('.trace-header h1').innerText(), /^wf_live/);
  assert.match(await page.locator('.trace-header .stats').innerText(), /Running for\s*\d/);
  assert.equal(await page.getByText('(missing span)').count(), 0);
  assert.match(await page.locator('.anomaly-panel summary').innerText(), /1 anomaly in this trace/);
  assert.doesNotMatch(await page.locator('.anomaly-panel').innerText(), /root span the trace lacks/);
  await row('Fetch Inputs').click();
  await page.locator('#details-title', { hasText: 'Fetch Inputs' }).waitFor();
  await axe(page, 'live');

  // What the user opened or focused survives the updates: the anomalies list, the Refresh button.
  await page.click('.anomaly-panel summary');
  await page.locator('.header-actions button', { hasText: 'Refresh' }).focus();
  // A node that reports more time than its span lasted (as Orcheo's Python tracing writes it).
  await sendSpans(env.otlp, [span({ trace, parent: rootId, name: 'Call Model', execution, start: ms(119), end: ms(120),
    attributes: { 'gen_ai.usage.input_tokens': 300, 'gen_ai.usage.output_tokens': 40, 'orcheo.node.latency_ms': 70 } })]);
  await row('Call Model').waitFor();
  assert.ok(await page.locator('details.anomaly-panel').evaluate((d) => d.open), 'the anomalies list stays open');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Refresh');
  await shot('live');
  assert.equal(await row('Fetch Inputs').getAttribute('aria-selected'), 'true', 'the selection survives an update');
  const reported = row('Call Model').locator('.bar.reported');
  assert.equal(await reported.count(), 1, 'the reported duration is drawn as such');
  assert.match(await row('Call Model').locator('.duration').innerText(), /70(\.0)? ?ms ≈/);
  await row('Call Model').click();
  await page.locator('#details-title', { hasText: 'Call Model' }).waitFor();
  assert.match(await page.locator('.details-body .facts').first().innerText(), /reported[\s\S]*its span lasted/);
  await row('Fetch Inputs').click();

  await sendSpans(env.otlp, [span({ trace, id: rootId, name: 'workflow.execution', execution, start: ms(0), end: ms(130),
    attributes: { 'orcheo.workflow.id': 'wf_live', 'orcheo.execution.run_name': 'Nightly digest', 'orcheo.execution.recursion_limit': 25 } })]);
  await page.locator('.title-line .badge-completed').waitFor();
  assert.ok(await page.locator('.badge-live').isHidden());
  assert.equal(await page.locator('[role="treeitem"]').count(), 4);
  assert.equal(await row('Fetch Inputs').getAttribute('aria-selected'), 'true');
  await page.locator('#details-title', { hasText: 'Fetch Inputs' }).waitFor();
  // The run span's own facts, as Orcheo's Python tracing writes them.
  await row('workflow.execution').click();
  const run = page.locator('section[aria-label="Run"]');
  await run.waitFor();
  assert.match(await run.innerText(), /Run name\s*Nightly digest[\s\S]*Recursion limit\s*25/);
  await axe(page, 'run details');
  await row('Fetch Inputs').click();
});

test('search finds error messages, codes, prompts and attribute values, and says where', async () => {
  await openTrace(env.base, runs.wf_invoice_extraction.id);
  const search = async (text) => {
    await page.fill('#span-search', text);
    await page.press('#span-search', 'Enter');
  };
  // An error message, with the field it was found in.
  await search('212,480 tokens');
  await page.locator('.search-count', { hasText: /1 match/ }).waitFor();
  assert.match(await page.locator('#details-title').innerText(), /Extract Line Items/);
  assert.match(await row('Extract Line Items').locator('.found-in').innerText(), /error message/);
  assert.match(await page.locator('.error-box mark.hit').first().innerText(), /212,480 tokens/i);
  // An error code.
  await search('CONTEXT_LENGTH');
  await page.locator('.search-count', { hasText: /match/ }).waitFor();
  assert.equal(await page.locator('[role="treeitem"].match').count(), 1);
  // Prompt text and an attribute value, in another run.
  await openTrace(env.base, runs.wf_support_reply.id);
  await search('acme outdoor');
  await page.locator('.search-count', { hasText: /of/ }).waitFor();
  assert.match(await page.locator('#details-title').innerText(), /Draft Reply/);
  // A closed drawer holding the match is opened, and the match marked in it.
  const hit = page.locator('.details mark.hit').first();
  await hit.waitFor();
  assert.ok(await hit.isVisible());
  await search('gpt-4o-2024-08-06');
  await page.locator('.search-count', { hasText: /of/ }).waitFor();
  await search('no such text anywhere');
  await page.locator('.search-count', { hasText: 'no match' }).waitFor();
  assert.equal(await page.locator('[role="treeitem"]').count(), 0);
  await axe(page, 'search without a match');
  await page.press('#span-search', 'Escape');
  await page.waitForFunction(() => document.querySelectorAll('[role="treeitem"]').length === 5);
});

test('a failed run opens on its failing span, and failures are one key apart', async () => {
  await openTrace(env.base, runs.wf_invoice_extraction.id);
  // Opened where the failure started, not on the root that only inherits it.
  await page.locator('#details-title', { hasText: 'Extract Line Items' }).waitFor();
  assert.equal(await row('Extract Line Items').getAttribute('aria-selected'), 'true');
  assert.match(await page.locator('.failure-count').innerText(), /^1 failing span$/);
  // The header's run error leads to it.
  await row('workflow.execution').click();
  await page.locator('#details-title', { hasText: 'workflow.execution' }).waitFor();
  await page.click('.run-error button');
  await page.locator('#details-title', { hasText: 'Extract Line Items' }).waitFor();
  // `e` from anywhere outside a field steps to the next failure.
  await row('Fetch Invoice PDF').click();
  await page.locator('#details-title', { hasText: 'Fetch Invoice PDF' }).waitFor();
  await page.keyboard.press('e');
  await page.locator('#details-title', { hasText: 'Extract Line Items' }).waitFor();
  // Errors only: the failing spans and what leads to them.
  await page.check('#errors-only');
  await page.waitForFunction(() => document.querySelectorAll('[role="treeitem"]').length === 2);
  assert.equal(await row('Fetch Invoice PDF').count(), 0);
  await axe(page, 'errors only');
  await shot('failures');
  await page.uncheck('#errors-only');
  await page.waitForFunction(() => document.querySelectorAll('[role="treeitem"]').length === 3);
  // A run without failures shows no failure controls; a link to a span still wins.
  await openTrace(env.base, runs.wf_support_reply.id);
  assert.ok(await page.locator('.failure-bar').isHidden());
});

test('several failures in one run are stepped through in tree order', async () => {
  const trace = newTraceId();
  const execution = `failures-${newSpanId()}`;
  const root = newSpanId();
  const t0 = nowNanos() - 10_000_000_000n;
  const ms = (n) => t0 + BigInt(n) * 1_000_000n;
  const branch = newSpanId();
  await sendSpans(env.otlp, [
    span({ trace, id: root, name: 'workflow.execution', execution, start: ms(0), end: ms(100), error: true, attributes: { 'orcheo.workflow.id': 'wf_failures' } }),
    span({ trace, parent: root, name: 'Step A', execution, start: ms(1), end: ms(10) }),
    span({ trace, id: branch, parent: root, name: 'Branch', execution, start: ms(11), end: ms(60), error: true }),
    span({ trace, parent: branch, name: 'Failing B', execution, start: ms(12), end: ms(20), error: true }),
    span({ trace, parent: root, name: 'Failing C', execution, start: ms(61), end: ms(90), error: true }),
  ]);
  await openTrace(env.base, execution);
  await page.locator('#details-title', { hasText: 'Failing B' }).waitFor();
  assert.match(await page.locator('.failure-count').innerText(), /^2 failing spans$/);
  await page.click('text=Next failure');
  await page.locator('#details-title', { hasText: 'Failing C' }).waitFor();
  await page.click('text=Next failure');
  await page.locator('#details-title', { hasText: 'Failing B' }).waitFor();
  await page.click('text=Previous failure');
  await page.locator('#details-title', { hasText: 'Failing C' }).waitFor();
  await page.keyboard.press('Shift+E');
  await page.locator('#details-title', { hasText: 'Failing B' }).waitFor();
});

test('a trace exports as CSV and JSON for an audit', async () => {
  await openTrace(env.base, runs.wf_invoice_extraction.id);
  const id = runs.wf_invoice_extraction.id;
  const [csv] = await Promise.all([page.waitForEvent('download'), page.click('text=Export CSV')]);
  assert.equal(csv.suggestedFilename(), `${id}.trace.csv`);
  const lines = readFileSync(await csv.path(), 'utf8').trim().split('\r\n');
  assert.match(lines[0], /^execution_id,trace_id,span_id,parent_span_id,/);
  assert.equal(lines.length, 4, 'a header and a row per span');
  assert.ok(lines.some((l) => l.includes('Extract Line Items') && l.includes('CONTEXT_LENGTH')));
  const [json] = await Promise.all([page.waitForEvent('download'), page.click('text=Export JSON')]);
  assert.equal(json.suggestedFilename(), `${id}.trace.json`);
  const doc = JSON.parse(readFileSync(await json.path(), 'utf8'));
  assert.equal(doc.execution.id, id);
  assert.equal(doc.root.children.length, 2);
  await axe(page, 'export');
});

test('the list exports its results as JSON and CSV, the filters applied', async () => {
  await page.goto(`${env.base}/?status=error`);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  const [json] = await Promise.all([page.waitForEvent('download'), page.click('text=Export results (JSON)')]);
  assert.equal(json.suggestedFilename(), 'executions.first-1000.trace.json');
  const doc = JSON.parse(readFileSync(await json.path(), 'utf8'));
  assert.equal(doc.format, 'orcheo-trace-export-set');
  assert.equal(doc.filters.status, 'error');
  const exported = doc.executions.map((e) => e.execution);
  assert.ok(exported.some((e) => e.id === runs.wf_invoice_extraction.id));
  assert.ok(exported.every((e) => e.status === 'error'), 'only the filtered runs');
  assert.equal(doc.truncated, false);
  assert.ok(Array.isArray(doc.unavailable));
  // By keyboard, without the filter: a row per span of every run, one header.
  await page.goto(env.base);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  const csvButton = page.locator('button', { hasText: 'Export results (CSV)' });
  await csvButton.focus();
  const [csv] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
  assert.equal(csv.suggestedFilename(), 'executions.first-1000.trace.csv');
  const lines = readFileSync(await csv.path(), 'utf8').trim().split('\r\n');
  assert.match(lines[0], /^execution_id,trace_id,span_id,parent_span_id,/);
  assert.equal(lines.filter((l) => l.startsWith('execution_id,')).length, 1, 'one header');
  const ids = new Set(lines.slice(1).map((l) => l.split(',')[0]));
  for (const run of Object.values(runs)) assert.ok(ids.has(run.id), `${run.id} has rows`);
  await axe(page, 'export results');
});

test('cost shows per span, per run and in the list, and an unpriced model says so', async () => {
  // The demo's models are in the price table.
  await openTrace(env.base, runs.wf_support_reply.id);
  assert.match(await page.locator('.trace-header .stats').innerText(), /Cost\s*\$0\.\d{4}/);
  assert.match(await row('Draft Reply').locator('.col-tokens').innerText(), /· \$0\.\d{4}/);
  await row('Draft Reply').click();
  await page.locator('#details-title', { hasText: 'Draft Reply' }).waitFor();
  assert.match(await page.locator('section[aria-label="Token usage"]').innerText(), /Cost\s*\$0\.\d{4} — priced as gpt-4o/);
  // A run whose one model has a price and whose other has none: the priced part, marked.
  const trace = newTraceId();
  const execution = `priced-${newSpanId()}`;
  const root = newSpanId();
  const t0 = nowNanos() - 10_000_000_000n;
  const llm = (name, model, start) => span({ trace, parent: root, name, execution, start: t0 + start, end: t0 + start + 1_000_000n,
    attributes: { 'orcheo.node.kind': 'llm', 'gen_ai.request.model': model, 'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 100 } });
  await sendSpans(env.otlp, [
    span({ trace, id: root, name: 'workflow.execution', execution, start: t0, end: t0 + 50_000_000n, attributes: { 'orcheo.workflow.id': 'wf_priced' } }),
    llm('Known Model', 'gpt-4o-mini', 1_000_000n),
    llm('House Model', 'acme-house-llm-7', 3_000_000n),
  ]);
  await openTrace(env.base, execution);
  const cost = page.locator('.trace-header .stat', { hasText: 'Cost' });
  assert.match(await cost.innerText(), /\$0\.\d{4}\+/);
  assert.match(await cost.locator('dd').getAttribute('title'), /1 span that could not be priced \(acme-house-llm-7\)/);
  assert.match(await row('House Model').locator('.col-tokens').innerText(), /no price/);
  await row('House Model').click();
  await page.locator('#details-title', { hasText: 'House Model' }).waitFor();
  assert.match(await page.locator('section[aria-label="Token usage"]').innerText(), /Cost\s*not priced — its model is not in the price table/);
  await axe(page, 'cost');
  await page.goto(`${env.base}/?workflow_id=wf_priced`);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  assert.match(await page.locator('table.executions tbody td[data-label="Cost"]').first().innerText(), /^\$0\.\d{4}\+/);
});

test('collapse all folds a flat trace too, and large counts read plainly', async () => {
  const trace = newTraceId();
  const execution = `flat-${newSpanId()}`;
  const root = newSpanId();
  const t0 = nowNanos() - 10_000_000_000n;
  await sendSpans(env.otlp, [
    span({ trace, id: root, name: 'workflow.execution', execution, start: t0, end: t0 + 50_000_000n, attributes: { 'orcheo.workflow.id': 'wf_flat' } }),
    ...[1, 2, 3].map((i) => span({ trace, parent: root, name: `Leaf ${i}`, execution, start: t0 + BigInt(i) * 1_000_000n, end: t0 + BigInt(i + 5) * 1_000_000n })),
  ]);
  await openTrace(env.base, execution);
  assert.equal(await page.locator('[role="treeitem"]').count(), 4);
  await page.click('text=Collapse all');
  await page.waitForFunction(() => document.querySelectorAll('[role="treeitem"]').length === 1);
  await page.click('text=Expand all');
  await page.waitForFunction(() => document.querySelectorAll('[role="treeitem"]').length === 4);
  const compact = await page.evaluate(async () => {
    const { compact } = await import('/ui/format.js');
    return [9998, 9949, 1234, 999, 99_960, 999_960, 12_345_678].map(compact);
  });
  assert.deepEqual(compact, ['10k', '9.9k', '1.2k', '999', '100k', '1.0M', '12M']);
});

test('the page fits a laptop and a phone: no blank scrolling, readable ticks, the tree in view', async () => {
  // A laptop screen: the page itself never scrolls (only the tree and the details do).
  await page.setViewportSize({ width: 1024, height: 700 });
  await openTrace(env.base, runs.wf_support_reply.id);
  await row('Draft Reply').click();
  await page.locator('#details-title', { hasText: 'Draft Reply' }).waitFor();
  const scroll = await page.evaluate(() => document.scrollingElement.scrollHeight - innerHeight);
  assert.ok(scroll <= 0, `the page scrolls ${scroll} px past the window`);
  const ticks = await page.locator('.tick').evaluateAll((els) => els.map((e) => e.getBoundingClientRect()).map((r) => [r.left, r.right]));
  for (let i = 1; i < ticks.length; i++) assert.ok(ticks[i][0] >= ticks[i - 1][1], `tick ${i} overlaps the one before: ${JSON.stringify(ticks)}`);

  // A phone: nothing wider than the screen, the header's parts apart, the tree tall enough to use.
  await page.setViewportSize({ width: 390, height: 844 });
  await openTrace(env.base, runs.wf_invoice_extraction.id);
  const layout = await page.evaluate(() => {
    const box = (sel) => document.querySelector(sel)?.getBoundingClientRect().toJSON();
    return { width: document.scrollingElement.scrollWidth, title: box('.trace-header h1'), actions: box('.header-actions'), tree: box('[role="tree"]') };
  });
  assert.ok(layout.width <= 390, `the page is ${layout.width} px wide`);
  const apart = (a, b) => a.bottom <= b.top || b.bottom <= a.top || a.right <= b.left || b.right <= a.left;
  assert.ok(apart(layout.title, layout.actions), `the title and the header's buttons overlap: ${JSON.stringify(layout)}`);
  assert.ok(layout.tree.height >= 200, `the tree is ${layout.tree.height} px tall`);
  await page.locator('[role="tree"]').scrollIntoViewIfNeeded();
  assert.ok(await row('Extract Line Items').isVisible());
  await row('Fetch Invoice PDF').click();
  await page.locator('#details-title', { hasText: 'Fetch Invoice PDF' }).waitFor();
  await axe(page, 'phone');
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot('trace-phone');
  await page.goto(env.base);
  await page.locator('table.executions[aria-busy="false"]').waitFor();
  assert.ok(await page.evaluate(() => document.scrollingElement.scrollWidth) <= 390);
  // Each run is a card: its status and errors in view without scrolling sideways.
  const card = page.locator('table.executions tbody tr').first();
  for (const part of [card.locator('.badge').first(), card.locator('td[data-label="Errors"]')]) {
    const box = await part.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${JSON.stringify(box)} is off the screen`);
  }
  await axe(page, 'phone list');
  await shot('executions-phone');
  await page.setViewportSize({ width: 1400, height: 860 });
});

test('a run that ended without its root span stays flagged', async () => {
  // The page keeps the missing-root finding unless the execution is running.
  const flagged = await page.evaluate(async () => {
    const { awaitRoot } = await import('/ui/trace-view.js');
    const { TraceModel } = await import('/ui/tree-model.js');
    const root = { span_id: 'a', parent_span_id: null, name: '', kind: 'workflow', synthetic: true, flags: ['missing_root'],
      status: { code: 'UNSET', message: null }, start_time: '2026-01-01T00:00:00Z', end_time: null, children: [] };
    const result = {};
    for (const status of ['completed', 'running']) {
      const model = new TraceModel();
      const response = { execution: { status, workflow_id: 'wf' }, anomalies: [{ kind: 'missing_root', span_id: 'a', detail: '' }] };
      model.addPage(structuredClone(root), []);
      awaitRoot(response, model);
      result[status] = { anomalies: response.anomalies.length, flags: model.nodes[0].span.flags.length, awaited: !!model.nodes[0].span.awaited };
    }
    return result;
  });
  assert.deepEqual(flagged.completed, { anomalies: 1, flags: 1, awaited: false });
  assert.deepEqual(flagged.running, { anomalies: 0, flags: 0, awaited: true });
});

test('with the trace store down the page asks for the token, then shows the degraded banner', async () => {
  await page.goto(`${env.degraded}/executions/${encodeURIComponent(runs.wf_support_reply.id)}`);
  await page.locator('.state-panel', { hasText: 'needs an access token' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'token-input');
  await axe(page, 'token required');
  await page.fill('#token-input', TOKEN);
  await page.click('text=Use token');
  await page.locator('.banner.warning', { hasText: 'trace store is unavailable' }).waitFor({ timeout: 20_000 });
  await page.locator('[role="tree"][aria-busy="false"]').waitFor();
  assert.equal(await page.locator('[role="treeitem"]').count(), 5);
  await axe(page, 'degraded');
  await shot('degraded');
  // The token is kept for the session.
  await page.reload();
  await page.locator('.banner.warning').waitFor({ timeout: 20_000 });
  await page.evaluate(() => sessionStorage.clear());
});

test('an execution whose trace the store does not have is explained', async () => {
  await page.goto(`${env.noTraces}/executions/exec_without_trace`);
  const panel = page.locator('.state-panel', { hasText: 'No trace was recorded' });
  await panel.waitFor();
  assert.match(await panel.innerText(), /sampled out/);
  await axe(page, 'trace unavailable');
});

test('an unknown execution is explained, not a blank page', async () => {
  await page.goto(`${env.base}/executions/no-such-run`);
  await page.locator('.state-panel h1', { hasText: 'No such execution' }).waitFor();
  await axe(page, 'not found');
});

/** Navigation to an interactive tree, read from the page's own performance marks. */
async function timeToTree(execution) {
  await page.goto(`${env.base}/executions/${encodeURIComponent(execution)}`);
  await page.waitForFunction(() => performance.getEntriesByName('orcheo:trace-loaded').length > 0, null, { timeout: 60_000 });
  return page.evaluate(() => ({
    interactive_ms: Math.round(performance.getEntriesByName('orcheo:tree-interactive')[0].startTime),
    loaded_ms: Math.round(performance.getEntriesByName('orcheo:trace-loaded')[0].startTime),
    spans: Number(document.querySelector('[role="tree"]')?.getAttribute('data-spans')),
  }));
}

test('timings: 100- and 10,000-span traces to an interactive tree, and scrolling 10,000 spans', async () => {
  const small = syntheticRun(100, 20);
  const large = syntheticRun(10_000, 100);
  await sendSpans(env.otlp, small.spans);
  await sendSpans(env.otlp, large.spans);
  await timeToTree(small.execution); // warms the browser's module cache, as a user's second visit
  const runsOf = async (execution) => {
    const all = [];
    for (let i = 0; i < 5; i++) all.push(await timeToTree(execution));
    all.sort((a, b) => a.interactive_ms - b.interactive_ms);
    return { median: all[2], all: all.map((a) => a.interactive_ms) };
  };
  const s = await runsOf(small.execution);
  const l = await runsOf(large.execution);
  assert.equal(s.median.spans, 100);
  assert.equal(l.median.spans, 10_000);
  // The run's token chart covers every page, not only the first.
  assert.equal(await page.locator('.token-chart li button').first().innerText(), 'node 99');
  timings.trace_100_spans = s;
  timings.trace_10000_spans = l;

  // Scroll the whole 10,000-span tree a screenful (900 px, 30 new rows) a frame, and record every frame's length.
  const frames = await page.evaluate(async () => {
    const tree = /** @type {HTMLElement} */ (document.querySelector('[role="tree"]'));
    const lengths = [];
    let last = performance.now();
    while (tree.scrollTop + tree.clientHeight < tree.scrollHeight - 1 && lengths.length < 6000) {
      tree.scrollTop += 900;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      lengths.push(now - last);
      last = now;
    }
    const slow = lengths.flatMap((l, i) => (l > 50 ? [i] : []));
    lengths.sort((a, b) => a - b);
    return { frames: lengths.length, over_50_ms: slow.length, slow_frames_at: slow, p50_ms: lengths[Math.floor(lengths.length / 2)], p95_ms: lengths[Math.floor(lengths.length * 0.95)],
      max_ms: lengths[lengths.length - 1], rows_in_dom: document.querySelectorAll('[role="treeitem"]').length };
  });
  timings.scroll_10000_spans = frames;

  // A link to a span on the trace's last page opens on that span once the page has arrived.
  const last = large.spans[large.spans.length - 1];
  await page.goto(`${env.base}/executions/${encodeURIComponent(large.execution)}?span=${last.spanId}`);
  await page.locator('#details-title', { hasText: last.name }).waitFor();
  assert.equal(await row(last.name).getAttribute('aria-selected'), 'true');
  assert.match(page.url(), new RegExp(`span=${last.spanId}$`));
  assert.ok(frames.frames > 250);
  assert.ok(frames.rows_in_dom < 100, 'only the rows in view are in the DOM');
  await shot('large-trace');
});

test('timings: a 200-message LLM span, from selecting it to its conversation on screen', async () => {
  const trace = newTraceId();
  const execution = `chat-200-${newSpanId()}`;
  const t0 = nowNanos() - 20_000_000_000n;
  const root = newSpanId();
  const chat = newSpanId();
  const messages = Array.from({ length: 200 }, (_, i) => ({
    role: i === 0 ? 'system' : i % 2 ? 'user' : 'assistant',
    parts: [{ type: 'text', content: `Turn ${i + 1}: **point ${i}** of the plan, with \`code\` and a list:\n- first item\n- second item\n\n${'Some longer prose. '.repeat(12)}` }],
  }));
  await sendSpans(env.otlp, [
    span({ trace, id: root, name: 'workflow.execution', execution, start: t0, end: t0 + 5_000_000_000n, attributes: { 'orcheo.workflow.id': 'wf_long_chat' } }),
    span({ trace, id: chat, parent: root, name: 'Long Chat', execution, start: t0 + 1_000_000_000n, end: t0 + 4_000_000_000n, attributes: {
      'orcheo.node.kind': 'llm', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.input.messages': JSON.stringify(messages) } }),
  ]);
  await openTrace(env.base, execution);
  const select = (spanId) => page.evaluate(async (id) => {
    const el = /** @type {HTMLElement} */ (document.querySelector(`[role="treeitem"][data-span-id="${id}"]`));
    const start = performance.now();
    el.click();
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    return performance.now() - start;
  }, spanId);
  const all = [];
  for (let i = 0; i < 6; i++) {
    await select(root);
    await page.locator('#details-title', { hasText: 'workflow.execution' }).waitFor();
    const ms = await select(chat);
    if (i > 0) all.push(Math.round(ms * 10) / 10); // the first warms the page's code paths
  }
  all.sort((a, b) => a - b);
  timings.conversation_200_messages = { median_ms: all[2], all_ms: all };

  // Correct, not only fast: the ends are drawn, the middle on demand, every role in words.
  const bubbles = page.locator('.bubble');
  assert.equal(await bubbles.count(), 40);
  assert.equal(await bubbles.first().locator('.role').textContent(), 'System');
  assert.match(await bubbles.last().innerText(), /Turn 200:/);
  const more = page.locator('.conversation-gap button');
  assert.equal(await more.innerText(), 'Show 100 more (160 messages not shown)');
  await more.click();
  assert.equal(await bubbles.count(), 140);
  assert.equal(await more.innerText(), 'Show 60 more (60 messages not shown)');
  await more.click();
  assert.equal(await bubbles.count(), 200);
  assert.equal(await page.locator('.conversation-gap').count(), 0);
  const roles = await page.locator('.bubble .role').allTextContents();
  assert.deepEqual(roles.slice(0, 4), ['System', 'User', 'Assistant', 'User']);
  assert.match(await bubbles.nth(99).innerText(), /Turn 100:/);
  await axe(page, 'a 200-message conversation');
});
