// @ts-check
/** The executions list: newest first, filtered, found by id, a page at a time. */
import { ApiError, getJson } from './api.js';
import { h } from './dom.js';
import { compact, duration, number, time } from './format.js';
import { executionBadge } from './trace-view.js';

/** Executions a page, unless the address says `?limit=` (1..=500). */
const PAGE = 50;

/**
 * @param {HTMLElement} main
 * @param {{navigate: (url: string) => void}} app
 */
export function showList(main, app) {
  const controller = new AbortController();
  const params = new URLSearchParams(location.search);
  const workflow = h('input', { id: 'filter-workflow', name: 'workflow_id', value: params.get('workflow_id') || '', placeholder: 'wf_support_reply', spellcheck: 'false' });
  const status = h('select', { id: 'filter-status', name: 'status' },
    ['', 'running', 'completed', 'error', 'cancelled'].map((s) =>
      h('option', { value: s, selected: params.get('status') === s, text: s || 'any' })));
  const errors = h('select', { id: 'filter-errors', name: 'has_error' },
    [['', 'any'], ['true', 'with errors'], ['false', 'without errors']].map(([v, t]) =>
      h('option', { value: v, selected: params.get('has_error') === v, text: t })));
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter executions' },
    h('div', { class: 'field' }, h('label', { for: 'filter-workflow', text: 'Workflow' }), workflow),
    h('div', { class: 'field' }, h('label', { for: 'filter-status', text: 'Status' }), status),
    h('div', { class: 'field' }, h('label', { for: 'filter-errors', text: 'Errors' }), errors),
    h('button', { type: 'submit', text: 'Apply filters' }));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    if (workflow.value.trim()) next.set('workflow_id', workflow.value.trim());
    if (status.value) next.set('status', status.value);
    if (errors.value) next.set('has_error', errors.value);
    const limit = params.get('limit');
    if (limit) next.set('limit', limit);
    const query = next.toString();
    app.navigate(query ? `/?${query}` : '/');
  });
  const findInput = h('input', { id: 'find-execution', placeholder: 'execution id', spellcheck: 'false', required: true });
  const find = h('form', { class: 'find', 'aria-label': 'Open an execution by id' },
    h('label', { for: 'find-execution', text: 'Execution id' }), findInput, h('button', { type: 'submit', text: 'Open' }));
  find.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = findInput.value.trim();
    if (id) app.navigate(`/executions/${encodeURIComponent(id)}`);
  });

  const rows = h('tbody');
  const table = h('table', { class: 'executions', 'aria-busy': 'true' },
    h('caption', { class: 'sr-only', text: 'Executions, newest first' }),
    h('thead', null, h('tr', null, ['Execution', 'Workflow', 'Status', 'Started', 'Duration', 'Tokens in → out', 'Spans', 'Errors']
      .map((c) => h('th', { scope: 'col', text: c })))),
    rows);
  const more = h('button', { type: 'button', hidden: true, text: 'Load more' });
  const state = h('div', { class: 'list-state', role: 'status' });
  const refresh = h('button', { type: 'button', text: 'Refresh' });
  refresh.addEventListener('click', () => { rows.replaceChildren(); load(null); });
  main.replaceChildren(
    h('div', { class: 'list-head' }, h('h1', { text: 'Executions' }), refresh),
    h('div', { class: 'list-controls' }, filters, find),
    state, h('div', { class: 'table-wrap' }, table), more);

  /** Loads started; an answer to an older one (before a refresh) is dropped. */
  let generation = 0;

  /** @param {string | null} cursor */
  async function load(cursor) {
    const mine = ++generation;
    const query = new URLSearchParams();
    for (const key of ['workflow_id', 'status', 'has_error']) {
      const v = params.get(key);
      if (v) query.set(key, v);
    }
    const limit = Number(params.get('limit'));
    query.set('limit', String(Number.isInteger(limit) && limit >= 1 && limit <= 500 ? limit : PAGE));
    if (cursor) query.set('cursor', cursor);
    // Disabled rather than hidden while loading, so it keeps the focus.
    more.disabled = true;
    state.replaceChildren(h('span', { class: 'muted', text: 'Loading…' }));
    try {
      const page = await getJson(`/api/executions?${query}`, controller.signal);
      if (mine !== generation) return;
      state.replaceChildren();
      table.setAttribute('aria-busy', 'false');
      for (const e of page.executions) rows.append(row(e));
      if (!rows.childElementCount) {
        state.replaceChildren(h('p', { class: 'empty', text: params.toString()
          ? 'No execution matches these filters.'
          : 'No executions yet. Point an executor’s OTLP exporter at this server, or run the demo.' }));
      }
      more.hidden = !page.page_info.has_next_page;
      more.disabled = false;
      more.onclick = () => load(page.page_info.cursor);
    } catch (e) {
      if ((e instanceof DOMException && e.name === 'AbortError') || mine !== generation) return;
      more.disabled = false;
      const error = e instanceof ApiError ? e : new ApiError(0, 'client', String(e));
      const retry = h('button', { type: 'button', text: 'Retry' });
      retry.addEventListener('click', () => load(cursor));
      state.replaceChildren(h('div', { class: 'state-panel failure', role: 'alert' },
        h('p', null, h('strong', { text: error.status === 401 ? 'This server needs an access token. ' : 'The executions could not be loaded. ' }),
          error.status === 401 ? 'Enter a token above and choose “Use token”.' : error.message),
        retry));
      if (error.status === 401) document.getElementById('token-input')?.focus();
    }
  }

  /** @param {any} e */
  function row(e) {
    const link = h('a', { href: `/executions/${encodeURIComponent(e.id)}`, 'data-nav': true, text: e.id });
    const tokens = e.token_usage;
    return h('tr', { class: e.status === 'error' ? 'error' : null },
      h('th', { scope: 'row' }, link),
      h('td', null, e.workflow_id ? h('a', { href: `/?workflow_id=${encodeURIComponent(e.workflow_id)}`, 'data-nav': true, text: e.workflow_id, 'aria-label': `Only ${e.workflow_id}` }) : '—'),
      h('td', null, executionBadge(e.status), e.status === 'running' ? h('span', { class: 'badge badge-live' }, h('span', { class: 'pulse', 'aria-hidden': 'true' }), 'Live') : null),
      h('td', null, time(e.started_at)),
      h('td', { class: 'num' }, duration(e.duration_ms)),
      h('td', { class: 'num', title: tokens ? `${number(tokens.input)} input, ${number(tokens.output)} output tokens` : null },
        tokens ? `${compact(tokens.input)} → ${compact(tokens.output)}` : '—'),
      h('td', { class: 'num' }, number(e.span_count)),
      h('td', { class: 'num' }, e.error_count ? h('span', { class: 'error-count', text: number(e.error_count) }) : number(e.error_count)));
  }

  load(null);
  return () => controller.abort();
}
