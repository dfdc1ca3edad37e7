// @ts-check
/**
 * Two runs side by side (`/compare?a=…&b=…`): both runs' totals and deltas, the merged node
 * tree with added / removed / changed badges (words, not colour alone), a "changed only"
 * filter, arrow-key navigation, and the prompt and response diff of a selected LLM node; and
 * the picker the trace view's "Compare…" button opens, of other runs of the same workflow.
 */
import { ApiError, getJson } from './api.js';
import { announce, append, h, srOnly } from './dom.js';
import { duration, money, number, runCost, time } from './format.js';
import { executionBadge } from './tree-view.js';

/** @param {string} a @param {string} b */
export function comparePath(a, b) {
  return `/api/executions/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`;
}

/** @param {string} a @param {string} b */
export function comparePage(a, b) {
  return `/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`;
}

/** @param {string} id */
function runPage(id) {
  return `/executions/${encodeURIComponent(id)}`;
}

/** A signed number with its unit: +1.2 s, −40 ms, ±0. @param {number | null | undefined} d @param {(n: number) => string} fmt */
function signed(d, fmt) {
  if (d === null || d === undefined || !Number.isFinite(d)) return '—';
  if (d === 0) return '±0';
  return `${d > 0 ? '+' : '−'}${fmt(Math.abs(d))}`;
}

const dMs = (/** @type {number | null | undefined} */ d) => signed(d, duration);
const dCount = (/** @type {number | null | undefined} */ d) => signed(d, number);
const dUsd = (/** @type {number | null | undefined} */ d) => signed(d, money);

/** The words a node's change is shown with. */
const CHANGE_LABEL = /** @type {Record<string, string>} */ ({
  added: 'added', removed: 'removed', changed: 'changed', same: 'same',
});

/** What a `changes` entry is called. */
const DIFFERENCE_LABEL = /** @type {Record<string, string>} */ ({
  status: 'status', name: 'name', model: 'model', tokens: 'tokens', cost: 'cost', duration: 'duration', content: 'prompt or response',
});

/**
 * Shows the comparison of runs `a` and `b`; returns what ends it.
 * @param {HTMLElement} main
 * @param {string} a
 * @param {string} b
 * @param {{navigate: (url: string) => void}} app
 */
export function showCompare(main, a, b, app) {
  const controller = new AbortController();
  const view = new CompareView(main, a, b, app, controller.signal);
  view.load();
  return () => controller.abort();
}

class CompareView {
  /**
   * @param {HTMLElement} main
   * @param {string} a
   * @param {string} b
   * @param {{navigate: (url: string) => void}} app
   * @param {AbortSignal} signal
   */
  constructor(main, a, b, app, signal) {
    this.main = main;
    this.a = a;
    this.b = b;
    this.app = app;
    this.signal = signal;
    /** @type {any} */
    this.data = null;
    this.selected = -1;
    this.changedOnly = false;
    /** @type {Map<number, {row: HTMLTableRowElement, button: HTMLButtonElement}>} the rows shown, by node index */
    this.shown = new Map();
  }

  crumbs() {
    return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: '/', 'data-nav': true, text: 'Executions' }), ' / ',
      h('a', { href: runPage(this.a), 'data-nav': true, text: this.a }), ' / compare');
  }

  async load() {
    this.main.replaceChildren(this.crumbs(),
      h('div', { class: 'skeleton', role: 'status', 'aria-busy': 'true', 'aria-label': 'Loading the comparison' },
        Array.from({ length: 6 }, (_, i) => h('div', { class: `skeleton-row w${i % 4}` }))));
    try {
      this.data = await getJson(comparePath(this.a, this.b), this.signal);
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') return;
      this.failed(e);
      return;
    }
    if (this.signal.aborted) return;
    this.render();
  }

  /** @param {unknown} e */
  failed(e) {
    const error = e instanceof ApiError ? e : new ApiError(0, 'client', String(e));
    let title = 'The runs could not be compared';
    let text = error.message;
    if (error.code === 'not_found') {
      title = 'No such execution';
      text = `${error.message}, or your token may not see it.`;
    } else if (error.status === 401) {
      title = 'This server needs an access token';
      text = 'Enter a token above and choose “Use token”.';
    }
    const retry = h('button', { type: 'button', text: 'Retry' });
    retry.addEventListener('click', () => this.load());
    this.main.replaceChildren(this.crumbs(),
      h('div', { class: 'state-panel failure', role: 'alert' }, h('h1', { text: title }), h('p', { text }),
        error.requestId ? h('p', { class: 'muted', text: `Request id ${error.requestId}` }) : null,
        error.code === 'not_found' || error.status === 400 ? null : retry));
  }

  render() {
    const d = this.data;
    const toggle = h('input', { type: 'checkbox', id: 'changed-only' });
    toggle.checked = this.changedOnly;
    toggle.addEventListener('change', () => {
      this.changedOnly = toggle.checked;
      this.renderRows();
      this.renderDetails();
      announce(this.changedOnly ? `Showing ${this.visible().length} nodes that differ` : `Showing all ${d.nodes.length} nodes`);
    });
    const c = d.counts;
    this.rows = h('tbody');
    this.details = h('section', { class: 'compare-details', 'aria-labelledby': 'compare-details-title' });
    this.main.replaceChildren(
      this.crumbs(),
      h('header', { class: 'trace-header compare-header' },
        h('div', { class: 'header-info' },
          h('h1', null, 'Compare runs', d.a.workflow_id ? h('span', { class: 'muted', text: ` · ${d.a.workflow_id}` }) : null),
          this.totalsTable()),
        h('div', { class: 'header-actions' },
          h('a', { class: 'button', href: runPage(d.a.id), 'data-nav': true, text: 'Open run A' }),
          h('a', { class: 'button', href: runPage(d.b.id), 'data-nav': true, text: 'Open run B' }),
          h('a', { class: 'button', href: comparePage(d.b.id, d.a.id), 'data-nav': true, text: 'Swap A and B' }))),
      h('div', { class: 'compare-body' },
        h('section', { class: 'compare-nodes', 'aria-labelledby': 'compare-nodes-title' },
          h('div', { class: 'compare-toolbar' },
            h('h2', { id: 'compare-nodes-title', text: 'Nodes' }),
            h('p', { class: 'muted compare-counts', text:
              `${number(c.added)} added · ${number(c.removed)} removed · ${number(c.changed)} changed · ${number(c.same)} same` }),
            h('label', { class: 'check' }, toggle, ' Changed only')),
          h('p', { class: 'muted small-print', id: 'compare-help', text: 'Arrow keys move between nodes; Home and End go to the first and last.' }),
          h('div', { class: 'table-wrap' },
            h('table', { class: 'compare-table', 'aria-describedby': 'compare-help' },
              h('thead', null, h('tr', null,
                h('th', { scope: 'col', text: 'Node' }),
                h('th', { scope: 'col', text: 'Duration' }),
                h('th', { scope: 'col', text: 'Tokens' }),
                h('th', { scope: 'col', text: 'Cost' }))),
              this.rows))),
        this.details));
    const first = d.nodes.findIndex((/** @type {any} */ n) => n.change !== 'same');
    this.selected = first >= 0 ? first : 0;
    this.renderRows();
    this.renderDetails();
  }

  /** Both runs' totals and the deltas, as a small table. */
  totalsTable() {
    const d = this.data;
    const run = (/** @type {any} */ info, /** @type {any} */ totals, /** @type {string} */ label) => h('tr', null,
      h('th', { scope: 'row' },
        h('a', { href: runPage(info.id), 'data-nav': true }, h('span', { class: 'run-label', text: label }), ' ', info.id),
        h('span', { class: 'muted run-started', text: ` ${time(info.started_at)}` })),
      h('td', null, executionBadge(info.status)),
      h('td', { text: duration(totals.duration_ms ?? info.duration_ms) }),
      h('td', { title: `${number(totals.input_tokens)} in · ${number(totals.output_tokens)} out` }, number(totals.total_tokens)),
      h('td', { title: runCost(totals.cost).note }, runCost(totals.cost).text),
      h('td', { text: number(totals.error_count) }));
    const delta = d.delta;
    // Scrolls sideways on a narrow screen: reachable by keyboard.
    return h('div', { class: 'table-wrap compare-totals-wrap', tabindex: '0', role: 'region', 'aria-label': 'Both runs' },
      h('table', { class: 'compare-totals' },
        h('caption', { class: 'sr-only', text: 'Both runs and how run B differs from run A' }),
        h('thead', null, h('tr', null,
          h('th', { scope: 'col', text: 'Run' }), h('th', { scope: 'col', text: 'Status' }), h('th', { scope: 'col', text: 'Duration' }),
          h('th', { scope: 'col', text: 'Tokens' }), h('th', { scope: 'col', text: 'Cost' }), h('th', { scope: 'col', text: 'Errors' }))),
        h('tbody', null,
          run(d.a, d.totals_a, 'A'),
          run(d.b, d.totals_b, 'B'),
          h('tr', { class: 'delta-row' },
            h('th', { scope: 'row', text: 'B − A' }),
            h('td', { text: d.a.status === d.b.status ? 'same' : 'differs' }),
            h('td', { text: dMs(delta.duration_ms) }),
            h('td', { text: dCount(delta.total_tokens) }),
            h('td', { title: delta.cost_usd === null ? 'A run has spans whose model is not in the price table' : null },
              delta.cost_usd === null ? 'not comparable' : dUsd(delta.cost_usd)),
            h('td', { text: dCount(delta.error_count) })))));
  }

  /** Indexes of the nodes shown. */
  visible() {
    const nodes = /** @type {any[]} */ (this.data.nodes);
    return nodes.map((_, i) => i).filter((i) => !this.changedOnly || nodes[i].change !== 'same');
  }

  renderRows() {
    const nodes = /** @type {any[]} */ (this.data.nodes);
    const shown = this.visible();
    if (!shown.includes(this.selected) && shown.length) this.selected = shown[0];
    this.shown.clear();
    const rows = shown.map((i) => {
      const n = nodes[i];
      const side = n.b || n.a;
      const selected = i === this.selected;
      const button = h('button', { type: 'button', class: 'link node-button', tabindex: selected ? '0' : '-1',
        'aria-current': selected ? 'true' : null, 'data-index': String(i) },
        h('span', { class: `change-badge change-${n.change}`, text: CHANGE_LABEL[n.change] || n.change }), ' ',
        h('span', { class: 'node-name', text: side.name }),
        n.renamed ? h('span', { class: 'change-badge change-renamed', text: `renamed from ${n.a.name}` }) : null);
      button.addEventListener('click', () => this.select(i, false));
      button.addEventListener('keydown', (e) => this.onKey(e, i));
      const dl = n.delta;
      const row = h('tr', { class: `${selected ? 'selected ' : ''}row-${n.change}` },
        h('td', { class: 'node-cell', style: `--depth: ${Math.min(n.depth, 12)}` }, button),
        h('td', { class: 'num' }, dl ? dMs(dl.duration_ms) : duration(side.duration_ms)),
        h('td', { class: 'num' }, dl ? dCount(sum(dl.input_tokens, dl.output_tokens)) : tokensOf(side)),
        h('td', { class: 'num' }, dl ? (dl.cost_usd === null ? '—' : dUsd(dl.cost_usd)) : side.cost_usd === null ? '—' : money(side.cost_usd)));
      this.shown.set(i, { row, button });
      return row;
    });
    if (!rows.length) {
      rows.push(h('tr', null, h('td', { colspan: '4', class: 'muted', text: 'The runs do not differ.' })));
    }
    this.rows.replaceChildren(...rows);
  }

  /** @param {KeyboardEvent} e @param {number} index */
  onKey(e, index) {
    const shown = this.visible();
    const at = shown.indexOf(index);
    let next = -1;
    if (e.key === 'ArrowDown') next = shown[Math.min(at + 1, shown.length - 1)];
    else if (e.key === 'ArrowUp') next = shown[Math.max(at - 1, 0)];
    else if (e.key === 'Home') next = shown[0];
    else if (e.key === 'End') next = shown[shown.length - 1];
    else return;
    e.preventDefault();
    if (next !== undefined && next >= 0) this.select(next, true);
  }

  /** @param {number} index @param {boolean} focus */
  select(index, focus) {
    // Only the two rows change: a long comparison is not drawn again on every key.
    const mark = (/** @type {number} */ i, /** @type {boolean} */ on) => {
      const shown = this.shown.get(i);
      if (!shown) return;
      shown.row.classList.toggle('selected', on);
      shown.button.tabIndex = on ? 0 : -1;
      if (on) shown.button.setAttribute('aria-current', 'true');
      else shown.button.removeAttribute('aria-current');
    };
    mark(this.selected, false);
    this.selected = index;
    mark(index, true);
    this.renderDetails();
    if (focus) this.shown.get(index)?.button.focus();
  }

  renderDetails() {
    const n = this.data.nodes[this.selected];
    if (!n) {
      this.details.replaceChildren();
      return;
    }
    const side = n.b || n.a;
    const cell = (/** @type {any} */ s, /** @type {(s: any) => string} */ f) => (s ? f(s) : '—');
    const row = (/** @type {string} */ label, /** @type {(s: any) => string} */ f, /** @type {string} */ delta) => h('tr', null,
      h('th', { scope: 'row', text: label }), h('td', { text: cell(n.a, f) }), h('td', { text: cell(n.b, f) }), h('td', { text: delta }));
    const dl = n.delta || {};
    const why = n.change === 'changed' && n.changes.length ? `Differs in ${n.changes.map((/** @type {string} */ c) => DIFFERENCE_LABEL[c] || c).join(', ')}.` : null;
    this.details.replaceChildren();
    append(this.details, [
      h('h2', { id: 'compare-details-title' },
        h('span', { class: `change-badge change-${n.change}`, text: CHANGE_LABEL[n.change] || n.change }), ' ', side.name),
      n.renamed ? h('p', { text: `Renamed: “${n.a.name}” in run A, “${n.b.name}” in run B (the same node id ${n.node_id}).` }) : null,
      n.change === 'added' ? h('p', { class: 'muted', text: 'Only in run B.' }) : null,
      n.change === 'removed' ? h('p', { class: 'muted', text: 'Only in run A.' }) : null,
      why ? h('p', { text: why }) : null,
      h('div', null,
        h('table', { class: 'compare-sides' },
          h('thead', null, h('tr', null, h('td', null, srOnly('Field')), h('th', { scope: 'col', text: 'Run A' }),
            h('th', { scope: 'col', text: 'Run B' }), h('th', { scope: 'col', text: 'B − A' }))),
          h('tbody', null,
            row('Status', (s) => String(s.status).toLowerCase(), n.a && n.b && n.a.status !== n.b.status ? 'differs' : ''),
            row('Duration', (s) => duration(s.duration_ms), dMs(dl.duration_ms)),
            row('Input tokens', (s) => number(s.input_tokens), dCount(dl.input_tokens)),
            row('Output tokens', (s) => number(s.output_tokens), dCount(dl.output_tokens)),
            row('Cost', (s) => (s.cost_usd === null ? (s.unpriced ? 'not priced' : '—') : money(s.cost_usd)),
              n.a && n.b && dl.cost_usd === null && (n.a.unpriced || n.b.unpriced) ? 'not comparable' : dUsd(dl.cost_usd)),
            row('Model', (s) => s.model || '—', n.changes.includes('model') ? 'differs' : ''),
            row('Span', (s) => s.span_id, '')))),
      h('p', { class: 'compare-links' },
        n.a ? h('a', { href: `${runPage(this.data.a.id)}?span=${n.a.span_id}`, 'data-nav': true, text: 'This node in run A' }) : null,
        n.a && n.b ? ' · ' : null,
        n.b ? h('a', { href: `${runPage(this.data.b.id)}?span=${n.b.span_id}`, 'data-nav': true, text: 'This node in run B' }) : null),
      this.diffSection(n)]);
  }

  /** @param {any} n */
  diffSection(n) {
    const llm = (n.a && n.a.kind === 'llm') || (n.b && n.b.kind === 'llm');
    if (!llm || !n.a || !n.b) return null;
    if (!this.data.content_included) {
      return h('p', { class: 'muted', text: 'Prompt and response diffs need a token with the traces:read_content scope.' });
    }
    if (!n.diff) {
      return this.data.diffs_omitted
        ? h('p', { class: 'muted', text: `This node's diff was left out: the comparison diffs at most 8 MiB of text in 2 s, and ${this.data.diffs_omitted} LLM nodes were past that.` })
        : null;
    }
    return h('div', { class: 'diffs' },
      diffBlock('Prompt', n.diff.prompt), diffBlock('Response', n.diff.response));
  }
}

/** @param {number | null} a @param {number | null} b */
function sum(a, b) {
  return a === null && b === null ? null : (a || 0) + (b || 0);
}

/** @param {any} side */
function tokensOf(side) {
  const total = sum(side.input_tokens, side.output_tokens);
  return total === null ? '—' : number(total);
}

/**
 * A text diff: what only run A has is `<del>`, what only run B has is `<ins>`.
 * @param {string} label
 * @param {{parts: {op: string, text: string}[], truncated: boolean, timed_out: boolean}} diff
 */
function diffBlock(label, diff) {
  const parts = diff.parts || [];
  const changed = parts.some((p) => p.op !== 'equal');
  const pre = h('pre', { class: 'content diff', tabindex: '0', role: 'region', 'aria-label': `${label} diff, run A to run B` },
    parts.map((p) => {
      if (p.op === 'insert') return h('ins', null, srOnly('[added: '), p.text, srOnly(']'));
      if (p.op === 'delete') return h('del', null, srOnly('[removed: '), p.text, srOnly(']'));
      return p.text;
    }));
  return h('section', { class: 'diff-section' },
    h('h3', null, label, ' ', h('span', { class: 'muted', text: parts.length === 0 ? '(none in either run)' : changed ? '(differs)' : '(the same)' })),
    parts.length ? pre : null,
    diff.truncated ? h('p', { class: 'muted', text: 'Only the first 64 KiB of each side were compared.' }) : null,
    diff.timed_out ? h('p', { class: 'muted', text: 'The diff took too long and is coarser than it could be.' }) : null);
}

/**
 * Opens the picker of other runs of `execution`'s workflow; choosing one goes to the comparison.
 * @param {any} execution the run shown (run A)
 * @param {HTMLElement} opener focused again when the picker closes
 * @param {{navigate: (url: string) => void}} app
 */
export async function pickRunToCompare(execution, opener, app) {
  const list = h('ul', { class: 'run-picker-list', 'aria-labelledby': 'run-picker-title' });
  const status = h('p', { class: 'muted', role: 'status', text: 'Loading other runs…' });
  const close = h('button', { type: 'button', class: 'small', text: 'Cancel' });
  const dialog = h('dialog', { class: 'run-picker', 'aria-labelledby': 'run-picker-title' },
    h('h2', { id: 'run-picker-title', text: 'Compare with another run' }),
    h('p', { class: 'muted', text: execution.workflow_id ? `Runs of ${execution.workflow_id}, newest first. Arrow keys move, Enter chooses, Escape cancels.` : 'Arrow keys move, Enter chooses, Escape cancels.' }),
    status, list, h('div', { class: 'picker-actions' }, close));
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    dialog.remove();
    opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  const query = execution.workflow_id ? `workflow_id=${encodeURIComponent(execution.workflow_id)}&limit=50` : 'limit=50';
  let runs;
  try {
    runs = (await getJson(`/api/executions?${query}`)).executions.filter((/** @type {any} */ r) => r.id !== execution.id);
  } catch (e) {
    status.textContent = `The runs could not be listed: ${e instanceof ApiError ? e.message : String(e)}`;
    close.focus();
    return;
  }
  if (!dialog.open) return;
  status.textContent = runs.length ? `${runs.length} other ${runs.length === 1 ? 'run' : 'runs'}` : 'This workflow has no other run.';
  /** @type {HTMLButtonElement[]} */
  const buttons = runs.map((/** @type {any} */ r) => {
    const button = h('button', { type: 'button', class: 'run-choice', 'data-execution': r.id },
      executionBadge(r.status), ' ', h('span', { class: 'run-id', text: r.id }), ' ',
      h('span', { class: 'muted', text: `${time(r.started_at)} · ${duration(r.duration_ms)}${r.token_usage ? ` · ${number(r.token_usage.total)} tokens` : ''}` }));
    button.addEventListener('click', () => {
      dialog.close();
      app.navigate(comparePage(execution.id, r.id));
    });
    return button;
  });
  buttons.forEach((button, i) => {
    button.addEventListener('keydown', (e) => {
      let next = -1;
      if (e.key === 'ArrowDown') next = Math.min(i + 1, buttons.length - 1);
      else if (e.key === 'ArrowUp') next = Math.max(i - 1, 0);
      else if (e.key === 'Home') next = 0;
      else if (e.key === 'End') next = buttons.length - 1;
      else return;
      e.preventDefault();
      buttons[next].focus();
    });
  });
  list.replaceChildren(...buttons.map((b) => h('li', null, b)));
  (buttons[0] || close).focus();
}
