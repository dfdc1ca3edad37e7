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
  const ids = await page.locator('table.executions tbody th').allTextContents();
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

test('a prompt drawer shows the redaction marker, and the artifact downloads', async () => {
  await openTrace(env.base, runs.wf_support_reply.id);
  await row('Draft Reply').click();
  const drawer = page.locator('details.drawer', { hasText: 'Message 2 (user)' });
  await drawer.locator('summary').click();
  assert.equal(await drawer.locator('.marker.redacted').innerText(), 'redacted');
  const content = await drawer.locator('pre').innerText();
  assert.match(content, /\[REDACTED\]/);
  assert.doesNotMatch(content, /ada\.lovelace@example\.com/);
  await axe(page, 'prompt drawer');
  await shot('prompt');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('button[aria-label="Download reply.txt"]')]);
  assert.equal(download.suggestedFilename(), 'reply.txt');
  const path = await download.path();
  assert.match(readFileSync(path, 'utf8'), /^Dear Ada,/);
  await page.click('button[aria-label="Preview reply.txt"]');
  assert.match(await page.locator('.preview pre').innerText(), /Acme Outdoor Support/);
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
  await page.keyboard.press('Enter');
  await page.locator('#details-title', { hasText: 'Search Reviews: Trailmaster GTX' }).waitFor();
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
  // Search keeps ancestors of matches and is reached by keyboard too.
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'span-search');
  await page.keyboard.type('cascade');
  await page.waitForFunction(() => document.querySelectorAll('[role="treeitem"]').length === 3);
  assert.match(await page.locator('.toolbar [role="status"]').innerText(), /2 matches/);
  await page.keyboard.press('Enter');
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
  assert.match(await top.innerText(), /root span not received yet/);
  assert.equal(await page.getByText('(missing span)').count(), 0);
  assert.match(await page.locator('.anomaly-panel summary').innerText(), /1 anomaly in this trace/);
  assert.doesNotMatch(await page.locator('.anomaly-panel').innerText(), /root span the trace lacks/);
  await row('Fetch Inputs').click();
  await page.locator('#details-title', { hasText: 'Fetch Inputs' }).waitFor();
  await axe(page, 'live');

  // What the user opened or focused survives the updates: the anomalies list, the Refresh button.
  await page.click('.anomaly-panel summary');
  await page.focus('.header-actions button');
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
