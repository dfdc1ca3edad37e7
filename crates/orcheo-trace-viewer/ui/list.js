// @ts-check
/**
 * The executions list: newest first, filtered, found by id, a page at a time. While the tab is
 * visible the first page is read again every few seconds and merged in by execution id, so new
 * and running runs show without a click.
 */
import { ApiError, exportResultsPath, getBlob, getJson } from './api.js';
import { announce, h, srOnly } from './dom.js';
import { compact, duration, number, runCost, time, toMillis } from './format.js';
import { executionBadge } from './tree-view.js';

/** Executions a page, unless the address says `?limit=` (1..=500). */
const PAGE = 50;
/** How often the first page is read again while the tab is visible. */
const POLL_MS = 4000;
/** How long a newly arrived row stays marked. */
const ARRIVED_MS = 6000;
/** Workflow ids suggested as the user types. */
const SUGGESTIONS = 10;
/** The query keys the list passes on to the API as they are. */
const FILTERS = ['q', 'workflow_id', 'workflow_prefix', 'status', 'has_error', 'has_failing_span',
  'started_after', 'started_before', 'min_duration_ms', 'max_duration_ms', 'min_tokens', 'max_tokens',
  'min_cost', 'max_cost', 'model', 'error_type'];
/**
 * The "Started" choices: a window back from now, kept in the address as `since` and turned into
 * `started_after` at each read, so that a list left open keeps showing the last day, not the day
 * it was opened on.
 * @type {[string, string, number][]}
 */
const SINCE_CHOICES = [
  ['', 'any time', 0],
  ['1h', 'last hour', 3_600_000],
  ['24h', 'last 24 hours', 86_400_000],
  ['7d', 'last 7 days', 7 * 86_400_000],
  ['30d', 'last 30 days', 30 * 86_400_000],
];
/**
 * The filters behind "More filters": the query key, its label, the input's type and how a typed
 * value becomes the API's (durations are typed in seconds, the API takes milliseconds).
 * @type {{key: string, label: string, type: string, step?: string, toApi?: (v: string) => string, fromApi?: (v: string) => string}[]}
 */
const MORE = [
  { key: 'started_after', label: 'Started after', type: 'datetime-local', toApi: localToIso, fromApi: isoToLocal },
  { key: 'started_before', label: 'Started before', type: 'datetime-local', toApi: localToIso, fromApi: isoToLocal },
  { key: 'min_duration_ms', label: 'Duration at least (s)', type: 'number', step: 'any', toApi: secondsToMs, fromApi: msToSeconds },
  { key: 'max_duration_ms', label: 'Duration at most (s)', type: 'number', step: 'any', toApi: secondsToMs, fromApi: msToSeconds },
  { key: 'min_tokens', label: 'Tokens at least', type: 'number', step: '1' },
  { key: 'max_tokens', label: 'Tokens at most', type: 'number', step: '1' },
  { key: 'min_cost', label: 'Cost at least (USD)', type: 'number', step: 'any' },
  { key: 'max_cost', label: 'Cost at most (USD)', type: 'number', step: 'any' },
  { key: 'model', label: 'Model', type: 'text' },
  { key: 'error_type', label: 'Error type or code', type: 'text' },
];

/** A `datetime-local` value (the user's clock) as RFC 3339 UTC; '' when it is not a time. @param {string} v */
function localToIso(v) {
  const t = new Date(v);
  return Number.isNaN(t.getTime()) ? '' : t.toISOString();
}

/** RFC 3339 as a `datetime-local` value on the user's clock. @param {string} v */
function isoToLocal(v) {
  const t = new Date(v);
  if (Number.isNaN(t.getTime())) return '';
  const local = new Date(t.getTime() - t.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

/** @param {string} v */
function secondsToMs(v) {
  const s = Number(v);
  return Number.isFinite(s) && s >= 0 ? String(Math.round(s * 1000)) : '';
}

/** @param {string} v */
function msToSeconds(v) {
  const ms = Number(v);
  return Number.isFinite(ms) ? String(ms / 1000) : '';
}

/** How each match names the part of a span it was found in. */
const FIELD_NAMES = /** @type {Record<string, string>} */ ({
  name: 'name', node_id: 'node id', error_message: 'error', error_type: 'error type', error_code: 'error code',
  attributes: 'attribute', prompt: 'prompt', response: 'response', message: 'message', content_attributes: 'content attribute',
});
const LIST_URL_KEY = 'orcheo-trace.list-url';
/** Executions an export of the results holds at most: the server's default, in the file's name. */
const EXPORT_MAX = 1000;

/**
 * The "Errors" choices and the filters each stands for: a run can fail, or finish although a
 * step of it failed (the row's red error count).
 * @type {[string, string, Record<string, string>][]}
 */
const ERROR_CHOICES = [
  ['', 'any', {}],
  ['run', 'run failed', { has_error: 'true' }],
  ['step', 'a step failed (run may have finished)', { has_failing_span: 'true' }],
  ['none', 'no errors', { has_error: 'false', has_failing_span: 'false' }],
];

/** The "Errors" choice an address stands for. @param {URLSearchParams} params */
function errorChoice(params) {
  if (params.get('has_failing_span') === 'true') return 'step';
  if (params.get('has_error') === 'true') return 'run';
  if (params.get('has_error') === 'false' || params.get('has_failing_span') === 'false') return 'none';
  return '';
}

/** The list's address as the user last left it (`/` when never shown), for the breadcrumb. */
export function lastListUrl() {
  try {
    return sessionStorage.getItem(LIST_URL_KEY) || '/';
  } catch {
    return '/';
  }
}

function rememberListUrl() {
  try {
    sessionStorage.setItem(LIST_URL_KEY, location.pathname + location.search);
  } catch {
    // Storage refused (private mode): the breadcrumb leads to the unfiltered list.
  }
}

/**
 * `text` with each case-insensitive occurrence of the search's words marked.
 * @param {string} text
 * @param {string} query
 * @returns {(string | HTMLElement)[]}
 */
function marked(text, query) {
  // The words as the server reads them: letters and digits, anything else a separator.
  const words = query.split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 0).slice(0, 8);
  if (!words.length) return [text];
  const lower = text.toLowerCase();
  /** @type {(string | HTMLElement)[]} */
  const out = [];
  let at = 0;
  while (at < text.length) {
    let best = -1;
    let length = 0;
    for (const w of words) {
      const i = lower.indexOf(w.toLowerCase(), at);
      if (i >= 0 && (best < 0 || i < best)) { best = i; length = w.length; }
    }
    if (best < 0) break;
    if (best > at) out.push(text.slice(at, best));
    out.push(h('mark', { text: text.slice(best, best + length) }));
    at = best + length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/** "12 s", "3 min 05 s", "1 h 02 min": a running run's age. @param {number} ms */
function elapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/**
 * @param {HTMLElement} main
 * @param {{navigate: (url: string) => void}} app
 */
export function showList(main, app) {
  const controller = new AbortController();
  const params = new URLSearchParams(location.search);
  rememberListUrl();
  const suggestions = h('datalist', { id: 'workflow-suggestions' });
  const workflow = h('input', {
    id: 'filter-workflow', name: 'workflow_prefix', list: 'workflow-suggestions', autocomplete: 'off',
    value: params.get('workflow_prefix') || params.get('workflow_id') || '', placeholder: 'wf_support', spellcheck: 'false',
    'aria-describedby': 'filter-workflow-hint',
  });
  const status = h('select', { id: 'filter-status', name: 'status' },
    ['', 'running', 'completed', 'error', 'cancelled'].map((s) =>
      h('option', { value: s, selected: params.get('status') === s, text: s || 'any' })));
  const q = h('input', {
    id: 'filter-q', name: 'q', type: 'search', value: params.get('q') || '', spellcheck: 'false', maxlength: 256,
    placeholder: 'error, node, prompt text…', 'aria-describedby': 'filter-q-hint',
  });
  const since = h('select', { id: 'filter-since', name: 'since' },
    SINCE_CHOICES.map(([v, t]) => h('option', { value: v, selected: (params.get('since') || '') === v, text: t })));
  const moreInputs = MORE.map((f) => h('input', {
    id: `filter-${f.key.replaceAll('_', '-')}`, name: f.key, type: f.type, step: f.step || null, min: f.type === 'number' ? '0' : null,
    value: params.get(f.key) ? (f.fromApi ? f.fromApi(params.get(f.key) || '') : params.get(f.key)) : '', spellcheck: 'false',
  }));
  const moreSet = MORE.filter((f) => params.get(f.key)).length;
  const more = h('details', { class: 'more-filters', open: moreSet > 0 },
    h('summary', { text: moreSet ? `More filters (${moreSet} set)` : 'More filters' }),
    h('div', { class: 'more-grid' }, MORE.map((f, i) =>
      h('div', { class: 'field' }, h('label', { for: moreInputs[i].id, text: f.label }), moreInputs[i]))));
  const chosen = errorChoice(params);
  const errors = h('select', { id: 'filter-errors', name: 'errors' },
    ERROR_CHOICES.map(([v, t]) => h('option', { value: v, selected: chosen === v, text: t })));
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search executions' },
    h('div', { class: 'field field-q' }, h('label', { for: 'filter-q', text: 'Text' }), q,
      h('span', { id: 'filter-q-hint', class: 'sr-only', text: 'Words or a phrase in span names, node ids, errors, attribute values, and prompts and responses when your token may read them' })),
    h('div', { class: 'field' }, h('label', { for: 'filter-workflow', text: 'Workflow' }), workflow,
      h('span', { id: 'filter-workflow-hint', class: 'sr-only', text: 'Workflow ids that start with this text' }), suggestions),
    h('div', { class: 'field' }, h('label', { for: 'filter-status', text: 'Status' }), status),
    h('div', { class: 'field' }, h('label', { for: 'filter-errors', text: 'Errors' }), errors),
    h('div', { class: 'field' }, h('label', { for: 'filter-since', text: 'Started' }), since),
    h('button', { type: 'submit', text: 'Apply filters' }),
    more);
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    const text = q.value.trim();
    if (text) next.set('q', text);
    const typed = workflow.value.trim();
    // An exact id (from a row's workflow link) stays exact until the user changes it.
    if (typed && typed === params.get('workflow_id')) next.set('workflow_id', typed);
    else if (typed) next.set('workflow_prefix', typed);
    if (status.value) next.set('status', status.value);
    const choice = ERROR_CHOICES.find(([v]) => v === errors.value);
    for (const [key, value] of Object.entries(choice ? choice[2] : {})) next.set(key, value);
    if (since.value) next.set('since', since.value);
    MORE.forEach((f, i) => {
      const v = moreInputs[i].value.trim();
      const value = v && f.toApi ? f.toApi(v) : v;
      if (value) next.set(f.key, value);
    });
    const limit = params.get('limit');
    if (limit) next.set('limit', limit);
    const query = next.toString();
    app.navigate(query ? `/?${query}` : '/');
  });

  /** Suggestions for what is typed so far; an answer to older typing is dropped. */
  let suggesting = 0;
  /** @type {number | undefined} */
  let suggestTimer;
  workflow.addEventListener('focus', () => { if (!suggestions.childElementCount) suggest(); });
  workflow.addEventListener('input', () => {
    window.clearTimeout(suggestTimer);
    suggestTimer = window.setTimeout(suggest, 150);
  });
  async function suggest() {
    const mine = ++suggesting;
    const query = new URLSearchParams({ prefix: workflow.value.trim(), limit: String(SUGGESTIONS) });
    try {
      const answer = await getJson(`/api/workflows?${query}`, controller.signal);
      if (mine !== suggesting) return;
      suggestions.replaceChildren(...answer.workflows.map((/** @type {any} */ w) =>
        h('option', { value: w.workflow_id, label: `${w.workflow_id} · ${number(w.execution_count)} runs` })));
    } catch {
      // Suggestions are a help, not the filter: without them the field still filters.
    }
  }

  const findInput = h('input', { id: 'find-execution', placeholder: 'execution id', spellcheck: 'false', required: true });
  const find = h('form', { class: 'find', 'aria-label': 'Open an execution by id' },
    h('label', { for: 'find-execution', text: 'Execution id' }), findInput, h('button', { type: 'submit', text: 'Open' }));
  find.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = findInput.value.trim();
    if (id) app.navigate(`/executions/${encodeURIComponent(id)}`);
  });

  const rows = h('tbody', { role: 'rowgroup' });
  // The roles are the elements' own, said outright: on a phone the rows are laid out as cards,
  // and a table whose display is changed must not lose its meaning to a screen reader.
  const table = h('table', { class: 'executions', role: 'table', 'aria-busy': 'true' },
    h('caption', { class: 'sr-only', text: 'Executions, newest first' }),
    h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, ['Execution', 'Workflow', 'Status', 'Started', 'Duration', 'Tokens in → out', 'Cost', 'Spans', 'Errors']
      .map((c) => h('th', { scope: 'col', role: 'columnheader', text: c })))),
    rows);
  const loadMore = h('button', { type: 'button', hidden: true, text: 'Load more' });
  const state = h('div', { class: 'list-state', role: 'status' });
  const refresh = h('button', { type: 'button', text: 'Refresh' });
  refresh.addEventListener('click', () => { rows.replaceChildren(); load(null); });
  const wrap = h('div', { class: 'table-wrap' }, table);
  const exportStatus = h('span', { class: 'muted export-status', role: 'status' });
  const exporter = (/** @type {'json' | 'csv'} */ format) => {
    const button = h('button', { type: 'button', text: `Export results (${format.toUpperCase()})`,
      title: format === 'csv'
        ? `A row per span of every execution these filters match (the newest ${number(EXPORT_MAX)})`
        : `Every execution these filters match (the newest ${number(EXPORT_MAX)}), each with its whole span tree` });
    button.addEventListener('click', () => exportResults(format, button));
    return button;
  };
  main.replaceChildren(
    h('div', { class: 'list-head' }, h('h1', { text: 'Executions' }), refresh,
      h('div', { class: 'list-export', role: 'group', 'aria-label': 'Export the results' }, exporter('json'), exporter('csv'), exportStatus)),
    h('div', { class: 'list-controls' }, filters, find),
    state, wrap, loadMore);

  /** The API query of the list's filters. */
  function filterQuery() {
    const query = new URLSearchParams();
    for (const key of FILTERS) {
      const v = params.get(key);
      if (v) query.set(key, v);
    }
    const recent = SINCE_CHOICES.find(([v]) => v && v === params.get('since'));
    if (recent && !query.has('started_after')) query.set('started_after', new Date(Date.now() - recent[2]).toISOString());
    const limit = Number(params.get('limit'));
    query.set('limit', String(Number.isInteger(limit) && limit >= 1 && limit <= 500 ? limit : PAGE));
    return query;
  }

  /** The list's filters without paging: what an export of the results is asked for. */
  function exportFilters() {
    const query = filterQuery();
    query.delete('limit');
    return query;
  }

  /**
   * Downloads the export of the current filters' results; the token travels as a header, so
   * the file is fetched and saved from memory.
   * @param {'json' | 'csv'} format
   * @param {HTMLButtonElement} button
   */
  async function exportResults(format, button) {
    button.disabled = true;
    exportStatus.textContent = 'Preparing the export…';
    try {
      const blob = await getBlob(exportResultsPath(exportFilters(), format));
      const url = URL.createObjectURL(blob);
      const name = `executions.first-${EXPORT_MAX}.trace.${format}`;
      const a = h('a', { href: url, download: name, class: 'sr-only' });
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
      exportStatus.textContent = '';
      announce(`Downloading ${name}`);
    } catch (e) {
      exportStatus.textContent = `The export failed: ${e instanceof ApiError ? e.message : String(e)}`;
    } finally {
      button.disabled = false;
    }
  }

  /** Row of each execution on screen, by id. @type {Map<string, HTMLTableRowElement>} */
  const shown = new Map();
  /** Loads started; an answer to an older one (before a refresh) is dropped. */
  let generation = 0;

  /** @param {string | null} cursor */
  async function load(cursor) {
    const mine = ++generation;
    if (!cursor) shown.clear();
    const query = filterQuery();
    if (cursor) query.set('cursor', cursor);
    // Disabled rather than hidden while loading, so it keeps the focus.
    loadMore.disabled = true;
    state.replaceChildren(h('span', { class: 'muted', text: 'Loading…' }));
    try {
      const page = await getJson(`/api/executions?${query}`, controller.signal);
      if (mine !== generation) return;
      state.replaceChildren();
      table.setAttribute('aria-busy', 'false');
      for (const e of page.executions) {
        // A run the refresh already put on screen (its start moved back when its root came).
        if (shown.has(e.id)) continue;
        const tr = row(e);
        shown.set(e.id, tr);
        rows.append(tr);
      }
      showEmpty();
      loadMore.hidden = !page.page_info.has_next_page;
      loadMore.disabled = false;
      loadMore.onclick = () => load(page.page_info.cursor);
      schedule();
    } catch (e) {
      if ((e instanceof DOMException && e.name === 'AbortError') || mine !== generation) return;
      loadMore.disabled = false;
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

  function showEmpty() {
    if (rows.childElementCount) {
      if (state.querySelector('.empty')) state.replaceChildren();
      return;
    }
    state.replaceChildren(h('p', { class: 'empty', text: params.toString()
      ? (params.get('q') ? 'No execution matches this search and these filters.' : 'No execution matches these filters.')
      : 'No executions yet. Point an executor’s OTLP exporter at this server, or run the demo.' }));
  }

  /** @type {number | undefined} */
  let pollTimer;
  let polling = false;
  function schedule() {
    window.clearTimeout(pollTimer);
    pollTimer = undefined;
    if (document.visibilityState === 'visible' && !controller.signal.aborted) {
      pollTimer = window.setTimeout(poll, POLL_MS);
    }
  }

  /** Reads the first page again and merges it in; a failure waits for the next turn. */
  async function poll() {
    pollTimer = undefined;
    if (polling) return;
    polling = true;
    const mine = generation;
    try {
      const page = await getJson(`/api/executions?${filterQuery()}`, controller.signal);
      // A refresh or a new page started meanwhile: its answer is the newer word.
      if (mine === generation) merge(page.executions, page.page_info.has_next_page);
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') return;
    } finally {
      polling = false;
    }
    schedule();
  }

  /**
   * Puts the first page's executions on screen: changed rows in place, new ones where they
   * belong, and drops those the first page would hold but no longer does (a filter they left).
   * Rows that "Load more" brought stay; the focus and the scroll position stay.
   * @param {any[]} executions
   * @param {boolean} hasMore
   */
  function merge(executions, hasMore) {
    const active = document.activeElement;
    // The first row in view, by id: it may be replaced by its update.
    const anchor = [...rows.children].find((r) => r instanceof HTMLElement && r.offsetTop + r.offsetHeight > wrap.scrollTop);
    const anchorId = anchor instanceof HTMLElement ? anchor.dataset.id : undefined;
    const anchorTop = anchor instanceof HTMLElement ? anchor.offsetTop : 0;
    const fresh = new Set(executions.map((e) => e.id));
    const oldest = executions.length ? toMillis(executions[executions.length - 1].started_at) : NaN;
    for (const [id, tr] of shown) {
      if (fresh.has(id) || tr.contains(active)) continue;
      // Within the first page's span of time (or anywhere, when it is the only page).
      if (!hasMore || toMillis(tr.dataset.started) >= oldest) {
        tr.remove();
        shown.delete(id);
      }
    }
    /** @type {HTMLTableRowElement | null} */
    let previous = null;
    let arrived = 0;
    for (const e of executions) {
      const old = shown.get(e.id);
      if (old) {
        if (old.dataset.signature !== signature(e)) {
          const focused = old.contains(active) ? [...old.querySelectorAll('a, button')].indexOf(/** @type {Element} */ (active)) : -1;
          const tr = row(e);
          if (old.classList.contains('arrived')) mark(tr);
          old.replaceWith(tr);
          shown.set(e.id, tr);
          const target = focused >= 0 ? tr.querySelectorAll('a, button')[focused] : null;
          if (target instanceof HTMLElement) target.focus({ preventScroll: true });
          previous = tr;
        } else {
          previous = old;
        }
        continue;
      }
      const tr = row(e);
      mark(tr);
      shown.set(e.id, tr);
      if (previous) previous.after(tr);
      else rows.prepend(tr);
      previous = tr;
      arrived++;
    }
    // Rows added above what the user was reading push it down; the view follows it.
    const followed = anchorId === undefined ? undefined : shown.get(anchorId);
    if (followed && wrap.scrollTop > 0) wrap.scrollTop += followed.offsetTop - anchorTop;
    if (arrived) announce(arrived === 1 ? '1 new execution' : `${arrived} new executions`);
    showEmpty();
  }

  /** Marks a newly arrived row for a moment. @param {HTMLElement} tr */
  function mark(tr) {
    tr.classList.add('arrived');
    window.setTimeout(() => tr.classList.remove('arrived'), ARRIVED_MS);
  }

  /** What a row shows, but for a running run's ticking duration. @param {any} e */
  function signature(e) {
    return JSON.stringify([e.status, e.workflow_id, e.started_at, e.finished_at, e.token_usage, e.cost, e.span_count, e.error_count,
      e.status === 'running' ? null : e.duration_ms, e.matches]);
  }

  /** @param {any} e */
  function row(e) {
    const link = h('a', { href: `/executions/${encodeURIComponent(e.id)}`, 'data-nav': true, text: e.id });
    const tokens = e.token_usage;
    const cost = runCost(e.cost);
    const running = e.status === 'running';
    const tr = h('tr', { class: e.status === 'error' ? 'error' : null, role: 'row', 'data-id': e.id, 'data-started': e.started_at },
      h('th', { scope: 'row', role: 'rowheader' }, link, matches(e)),
      h('td', { role: 'cell', 'data-label': 'Workflow' }, e.workflow_id ? h('a', { href: `/?workflow_id=${encodeURIComponent(e.workflow_id)}`, 'data-nav': true, text: e.workflow_id, 'aria-label': `Only ${e.workflow_id}` }) : '—'),
      h('td', { role: 'cell', 'data-label': 'Status' }, executionBadge(e.status), running ? h('span', { class: 'badge badge-live' }, h('span', { class: 'pulse', 'aria-hidden': 'true' }), 'Live') : null),
      h('td', { role: 'cell', 'data-label': 'Started' }, time(e.started_at)),
      running && Number.isFinite(e.duration_ms)
        ? h('td', { class: 'num running-for', role: 'cell', 'data-label': 'Duration', 'data-base-ms': e.duration_ms, 'data-since': performance.now(), text: `running ${elapsed(e.duration_ms)}` })
        : h('td', { class: 'num', role: 'cell', 'data-label': 'Duration' }, duration(e.duration_ms)),
      h('td', { class: 'num', role: 'cell', 'data-label': 'Tokens', title: tokens ? `${number(tokens.input)} input, ${number(tokens.output)} output tokens` : null },
        tokens ? `${compact(tokens.input)} → ${compact(tokens.output)}` : '—'),
      h('td', { class: 'num', role: 'cell', 'data-label': 'Cost', title: cost.note }, cost.text, cost.note ? srOnly(` (${cost.note})`) : null),
      h('td', { class: 'num', role: 'cell', 'data-label': 'Spans' }, number(e.span_count)),
      h('td', { class: 'num', role: 'cell', 'data-label': 'Errors' }, e.error_count ? h('span', { class: 'error-count', text: number(e.error_count) }) : number(e.error_count)));
    tr.dataset.signature = signature(e);
    return tr;
  }

  /**
   * Where the search text was found in a run: each matching span, the part of it, and the words
   * around the hit, linked to that span.
   * @param {any} e
   */
  function matches(e) {
    if (!Array.isArray(e.matches) || !e.matches.length) return null;
    const wanted = params.get('q') || '';
    return h('ul', { class: 'matches', 'aria-label': `Where “${wanted}” was found` }, e.matches.map((/** @type {any} */ m) =>
      h('li', null,
        h('a', { href: `/executions/${encodeURIComponent(e.id)}?span=${encodeURIComponent(m.span_id)}`, 'data-nav': true, text: m.span_name || m.span_id }),
        h('span', { class: 'match-field', text: ` · ${FIELD_NAMES[m.field] || m.field}: ` }),
        h('span', { class: 'snippet' }, marked(m.snippet || '', wanted)))));
  }

  /** A running run's duration counts up from what the server said, by this page's clock. */
  const ticker = window.setInterval(() => {
    const now = performance.now();
    for (const cell of rows.querySelectorAll('td.running-for')) {
      if (!(cell instanceof HTMLElement)) continue;
      const text = `running ${elapsed(Number(cell.dataset.baseMs) + now - Number(cell.dataset.since))}`;
      if (cell.textContent !== text) cell.textContent = text;
    }
  }, 1000);

  const onVisibility = () => {
    if (document.visibilityState !== 'visible') {
      window.clearTimeout(pollTimer);
      pollTimer = undefined;
    } else if (pollTimer === undefined && !polling && table.getAttribute('aria-busy') === 'false') {
      poll();
    }
  };
  document.addEventListener('visibilitychange', onVisibility);

  load(null);
  return () => {
    controller.abort();
    window.clearTimeout(pollTimer);
    window.clearTimeout(suggestTimer);
    window.clearInterval(ticker);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}
