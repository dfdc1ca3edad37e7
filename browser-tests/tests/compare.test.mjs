// Comparing two runs in Chromium against a real server: the picker the trace's "Compare…" button
// opens, used with the keyboard alone; the badges, deltas, "changed only" and the prompt diff of
// the compare view; axe-core on each state; the user guide's screenshot; and the phone width.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { axe, newSpanId, newTraceId, nowNanos, SCREENSHOTS, sendSpans, span, start } from './harness.mjs';

let env;
let page;
const pageErrors = [];
/** The runs sent: `a` and `b` differ, `c` is an older run of the same workflow. */
let runs;

/**
 * A run of workflow `workflow` started `ago` seconds back: a classifier, an LLM draft with a
 * prompt and a response, and the steps `extra` names.
 */
function run(workflow, ago, { classifyMs, tokens, prompt, reply, extra }) {
  const trace = newTraceId();
  const execution = `cmp-${newSpanId()}`;
  const t0 = nowNanos() - BigInt(ago) * 1_000_000_000n;
  const ms = (n) => BigInt(n) * 1_000_000n;
  const root = newSpanId();
  const messages = (role, text) => JSON.stringify([{ role, parts: [{ type: 'text', content: text }] }]);
  const spans = [
    span({ trace, id: root, name: 'workflow.execution', execution, start: t0, end: t0 + ms(4000),
      attributes: { 'orcheo.workflow.id': workflow } }),
    span({ trace, parent: root, name: 'Classify Ticket', execution, start: t0 + ms(10), end: t0 + ms(10 + classifyMs),
      attributes: { 'orcheo.node.kind': 'tool', 'orcheo.node.id': 'classify' } }),
    span({ trace, parent: root, name: 'Draft Reply', execution, start: t0 + ms(1500), end: t0 + ms(2500),
      attributes: { 'orcheo.node.kind': 'llm', 'orcheo.node.id': 'draft', 'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': tokens[0], 'gen_ai.usage.output_tokens': tokens[1],
        'gen_ai.input.messages': messages('user', prompt), 'gen_ai.output.messages': messages('assistant', reply) } }),
  ];
  extra.forEach((step, i) => {
    spans.push(span({ trace, parent: root, name: step.name, execution, start: t0 + ms(3000 + i * 100), end: t0 + ms(3050 + i * 100),
      error: step.error, attributes: { 'orcheo.node.kind': 'tool' } }));
  });
  return { execution, spans };
}

before(async () => {
  env = await start();
  const workflow = `wf_support_${newSpanId().slice(0, 6)}`;
  runs = {
    c: run(workflow, 300, { classifyMs: 900, tokens: [800, 100], prompt: 'Reply to Ada.', reply: 'Hello Ada.', extra: [] }),
    a: run(workflow, 120, {
      classifyMs: 1200, tokens: [900, 120],
      prompt: 'Write a short reply to Ada about her order.\nSign as the support team.',
      reply: 'Dear Ada,\nyour order ships today.',
      extra: [{ name: 'Log Ticket' }],
    }),
    b: run(workflow, 60, {
      classifyMs: 300, tokens: [1400, 200],
      prompt: 'Write a warm reply to Ada about her order.\nSign as the support team.',
      reply: 'Dear Ada,\nthank you! Your order ships today.',
      extra: [{ name: 'Send Email', error: true }],
    }),
  };
  for (const r of Object.values(runs)) await sendSpans(env.otlp, r.spans);
  // The runs are listed once the writer has committed them.
  for (let i = 0; i < 100; i++) {
    const list = await (await fetch(`${env.base}/api/executions?workflow_id=${workflow}`)).json();
    if (list.executions.length === 3 && list.executions.every((e) => e.status !== 'running')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  page = await env.browser.newPage({ viewport: { width: 1400, height: 860 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

afterEach(() => {
  const errors = pageErrors.splice(0);
  assert.deepEqual(errors, [], 'the page raised no errors');
});

after(async () => {
  await env?.stop();
});

const nodeRow = (name) => page.locator('.compare-table tbody tr', { has: page.locator('.node-name', { hasText: name }) });
const badge = (name) => nodeRow(name).locator('.change-badge').first();

test('a second run is picked with the keyboard and the comparison shows what changed', async () => {
  await page.goto(`${env.base}/executions/${runs.a.execution}`);
  await page.locator('[role="tree"][aria-busy="false"]').waitFor();
  const compare = page.getByRole('button', { name: 'Compare…' });
  await compare.focus();
  await page.keyboard.press('Enter');
  const picker = page.getByRole('dialog', { name: 'Compare with another run' });
  await picker.waitFor();
  const choices = picker.locator('.run-choice');
  await choices.first().waitFor();
  // The other two runs of the workflow, newest first; the run shown is not offered.
  assert.deepEqual(await choices.evaluateAll((b) => b.map((x) => x.getAttribute('data-execution'))),
    [runs.b.execution, runs.c.execution]);
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-execution')), runs.b.execution);
  await axe(page, 'compare picker');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-execution')), runs.c.execution);
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('Enter');
  await page.locator('.compare-table').waitFor();
  const url = new URL(page.url());
  assert.equal(url.pathname, '/compare');
  assert.equal(url.searchParams.get('a'), runs.a.execution);
  assert.equal(url.searchParams.get('b'), runs.b.execution);

  // Badges in words; the totals say how B differs.
  assert.equal(await badge('Log Ticket').innerText(), 'removed');
  assert.equal(await badge('Send Email').innerText(), 'added');
  assert.equal(await badge('Draft Reply').innerText(), 'changed');
  assert.equal(await badge('Classify Ticket').innerText(), 'changed');
  assert.match(await nodeRow('Classify Ticket').innerText(), /−900 ms/);
  assert.match(await nodeRow('Draft Reply').innerText(), /\+580/);
  const totals = await page.locator('.compare-totals .delta-row').innerText();
  assert.match(totals, /\+580/);
  assert.match(totals, /\+1/, 'one more error');
  await axe(page, 'compare view');

  // The first node that differs is selected; arrow keys move between the nodes.
  const current = () => page.evaluate(() => document.activeElement?.querySelector('.node-name')?.textContent);
  await page.locator('.node-button[aria-current="true"]').focus();
  await page.keyboard.press('Home');
  assert.equal(await current(), 'workflow.execution');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.equal(await current(), 'Draft Reply');
  const details = page.locator('.compare-details');
  assert.match(await details.locator('h2').innerText(), /Draft Reply/);
  assert.doesNotMatch(await details.innerText(), /null|undefined/);
  // The prompt diff: what only A has is deleted, what only B has is inserted.
  const prompt = details.locator('pre.diff').first();
  assert.deepEqual(await prompt.locator('del').allTextContents(), ['[removed: short]']);
  assert.deepEqual(await prompt.locator('ins').allTextContents(), ['[added: warm]']);
  assert.match(await details.locator('pre.diff').nth(1).locator('ins').first().textContent(), /thank you!/);
  await page.screenshot({ path: join(SCREENSHOTS, 'compare.png') });
  await axe(page, 'compare view, prompt diff');

  // "Changed only" hides the nodes that are the same.
  const rows = page.locator('.compare-table tbody tr');
  const all = await rows.count();
  await page.getByLabel('Changed only').check();
  const changed = await rows.count();
  assert.ok(changed < all, `${changed} of ${all}`);
  assert.equal(await page.locator('.compare-table .change-same').count(), 0);
  await axe(page, 'compare view, changed only');
  await page.getByLabel('Changed only').uncheck();

  // Links back to either run.
  await page.getByRole('link', { name: 'Open run B' }).click();
  await page.locator('[role="tree"][aria-busy="false"]').waitFor();
  assert.equal(new URL(page.url()).pathname, `/executions/${runs.b.execution}`);
});

test('the compare view fits a phone', async () => {
  const phone = await env.browser.newPage({ viewport: { width: 390, height: 844 } });
  phone.on('pageerror', (e) => pageErrors.push(e.message));
  try {
    await phone.goto(`${env.base}/compare?a=${runs.a.execution}&b=${runs.b.execution}`);
    await phone.locator('.compare-table').waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
    await phone.locator('.node-button', { hasText: 'Draft Reply' }).click();
    await phone.locator('.compare-details pre.diff').first().waitFor();
    await axe(phone, 'compare view, phone');
  } finally {
    await phone.close();
  }
});

test('an unknown run in a comparison is explained', async () => {
  await page.goto(`${env.base}/compare?a=${runs.a.execution}&b=no-such-run`);
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /No such execution/);
  await axe(page, 'compare, not found');
});
