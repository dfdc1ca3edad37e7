// @ts-check
/**
 * The Trace tab of one execution: header, span tree with search and waterfall, details panel,
 * and live growth while the run is in progress. Pages of a large trace load after the first is
 * on screen.
 */
import { ApiError, exportPath, getBlob, getJson, treePath } from './api.js';
import { pickRunToCompare } from './compare.js';
import { renderDetails } from './details.js';
import { announce, append, h, srOnly } from './dom.js';
import { duration, number, runCost, time, toMillis } from './format.js';
import { lastListUrl } from './list.js';
import { LiveFeed } from './live.js';
import { TraceModel } from './tree-model.js';
import { executionBadge, flagText, spanName, TreeView } from './tree-view.js';

/** Live updates come in bursts: reload at most this often. */
const RELOAD_EVERY_MS = 400;

/**
 * A run still running has not sent its root span yet (it ends last): the placeholder that stands
 * for it is the run, not an anomaly. It is marked `awaited`, and the `missing_root` finding is
 * dropped from the list and the flags. A run that has ended without its root keeps both.
 * @param {any} response
 * @param {TraceModel} model
 */
export function awaitRoot(response, model) {
  if (!response.execution || response.execution.status !== 'running' || model.root < 0) return;
  const root = model.nodes[model.root].span;
  if (!root.synthetic) return;
  root.awaited = true;
  root.flags = (root.flags || []).filter((f) => f !== 'missing_root');
  if (Array.isArray(response.anomalies)) {
    response.anomalies = response.anomalies.filter((/** @type {any} */ a) => a.kind !== 'missing_root');
  }
  if (!root.name && response.execution.workflow_id) root.name = response.execution.workflow_id;
}

/**
 * @param {HTMLElement} main
 * @param {string} executionId
 * @param {{navigate: (url: string) => void}} app
 */
export function showTrace(main, executionId, app) {
  const controller = new AbortController();
  const view = new TraceView(main, executionId, app, controller.signal);
  view.load(true);
  return () => {
    controller.abort();
    view.dispose();
  };
}

class TraceView {
  /**
   * @param {HTMLElement} main
   * @param {string} executionId
   * @param {{navigate: (url: string) => void}} app
   * @param {AbortSignal} signal
   */
  constructor(main, executionId, app, signal) {
    this.main = main;
    this.executionId = executionId;
    this.app = app;
    this.signal = signal;
    /** @type {LiveFeed | null} */
    this.live = null;
    /** @type {TraceModel | null} */
    this.model = null;
    /** Whether the trace's page (header, tree, details) is on screen. */
    this.mounted = false;
    this.disposed = false;
    /** What the details panel shows, to redraw it only when that changes. */
    this.detailsKey = '';
    /** A `?span=` of the address not found yet: it may be on a later page. */
    this.wantedSpan = new URLSearchParams(location.search).get('span');
    this.lastQuery = '';
    this.anomaliesKey = '';
    this.dashboardsKey = '';
    this.loading = false;
    this.reloadAgain = false;
    this.reloadTimer = 0;
    this.lastReload = 0;
    this.tree = new TreeView({ label: `Spans of execution ${executionId}`, onSelect: (i) => this.onSelect(i) });
    // The header's controls are made once and kept, so a reload never takes focus from them.
    this.headerInfo = h('div', { class: 'header-info' });
    this.dashboardLinks = h('span', { class: 'dashboard-links' });
    const refresh = h('button', { type: 'button', text: 'Refresh' });
    refresh.addEventListener('click', () => { this.load(false); announce('Refreshing the trace'); });
    this.exportStatus = h('span', { class: 'muted export-status', role: 'status' });
    const exporter = (/** @type {'json' | 'csv'} */ format) => {
      const button = h('button', { type: 'button', text: `Export ${format.toUpperCase()}`,
        title: format === 'csv' ? 'A row per span: ids, names, times, status, error, model, tokens' : 'The execution and its whole span tree' });
      button.addEventListener('click', () => this.download(format, button));
      return button;
    };
    const compare = h('button', { type: 'button', text: 'Compare…', 'aria-haspopup': 'dialog',
      title: 'Compare this run with another run of its workflow' });
    compare.addEventListener('click', () => {
      if (this.execution) pickRunToCompare(this.execution, compare, this.app);
    });
    this.header = h('header', { class: 'trace-header' }, this.headerInfo,
      h('div', { class: 'header-actions' }, this.dashboardLinks, compare, exporter('json'), exporter('csv'), refresh, this.exportStatus));
    this.liveBadge = h('span', { class: 'badge badge-live', hidden: true },
      h('span', { class: 'pulse', 'aria-hidden': 'true' }), 'Live');
    this.banner = h('div', { class: 'banners' });
    this.reloadError = h('div', { class: 'banner refresh-failed', role: 'alert', hidden: true });
    this.search = h('input', { type: 'search', id: 'span-search', placeholder: 'text, error, prompt, attribute…', spellcheck: 'false',
      'aria-keyshortcuts': '/', 'aria-describedby': 'search-help' });
    this.searchCount = h('span', { class: 'muted search-count', role: 'status', 'aria-live': 'polite' });
    /** Which match the search is on (an index into the matches in tree order). */
    this.matchAt = -1;
    this.prevMatch = h('button', { type: 'button', class: 'small', 'aria-label': 'Previous match', title: 'Previous match (Shift+Enter)', text: '↑', disabled: true });
    this.nextMatch = h('button', { type: 'button', class: 'small', 'aria-label': 'Next match', title: 'Next match (Enter)', text: '↓', disabled: true });
    this.prevMatch.addEventListener('click', () => this.stepMatch(-1));
    this.nextMatch.addEventListener('click', () => this.stepMatch(1));
    /** The failing spans where the failures started, in tree order; which one was shown last. */
    /** @type {number[]} */
    this.failures = [];
    this.failureAt = -1;
    this.failureCount = h('span', { class: 'failure-count', role: 'status' });
    this.prevFailure = h('button', { type: 'button', class: 'small', text: '↑ Previous failure', 'aria-keyshortcuts': 'Shift+E' });
    this.nextFailure = h('button', { type: 'button', class: 'small', text: '↓ Next failure', 'aria-keyshortcuts': 'E' });
    this.prevFailure.addEventListener('click', () => this.stepFailure(-1));
    this.nextFailure.addEventListener('click', () => this.stepFailure(1));
    this.errorsOnly = h('input', { type: 'checkbox', id: 'errors-only' });
    this.errorsOnly.addEventListener('change', () => {
      this.lastQuery = null;
      this.applySearch();
      announce(this.errorsOnly.checked ? 'Showing failing spans only' : 'Showing all spans');
    });
    this.failureBar = h('div', { class: 'failure-bar', hidden: true, role: 'group', 'aria-label': 'Failures' },
      this.failureCount, this.prevFailure, this.nextFailure,
      h('span', { class: 'check' }, this.errorsOnly, h('label', { for: 'errors-only', text: 'Errors only' })));
    this.details = h('aside', { class: 'details', 'aria-labelledby': 'details-heading' },
      h('h2', { id: 'details-heading', class: 'sr-only', text: 'Span details' }));
    this.anomalies = h('div', { class: 'anomalies' });
    let searchTimer = 0;
    this.search.addEventListener('input', () => {
      window.clearTimeout(searchTimer);
      searchTimer = window.setTimeout(() => this.applySearch(), 120);
    });
    this.search.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        // Enter steps through the matches (Shift+Enter back), showing each one's details.
        e.preventDefault();
        window.clearTimeout(searchTimer);
        this.applySearch();
        this.stepMatch(e.shiftKey ? -1 : 1);
      } else if (e.key === 'Escape' && this.search.value) {
        e.preventDefault();
        this.search.value = '';
        this.applySearch();
      } else if (e.key === 'ArrowDown') {
        e.preventDefault();
        this.tree.element.focus();
      }
    });
    const toolbar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Span tree' },
      h('div', { class: 'search' },
        h('label', { for: 'span-search', text: 'Search spans' }), this.search, this.prevMatch, this.nextMatch, this.searchCount,
        h('span', { id: 'search-help', class: 'sr-only', text: 'Searches names, errors, prompts, responses, messages, attributes and events. Enter goes to the next match, Shift+Enter to the previous one.' })),
      h('div', { class: 'tree-actions' },
        h('button', { type: 'button', class: 'small', onclick: () => this.tree.setAll(true), text: 'Expand all' }),
        h('button', { type: 'button', class: 'small', onclick: () => this.tree.setAll(false), text: 'Collapse all' })),
      this.failureBar);
    this.empty = h('p', { class: 'empty', hidden: true, text: 'No spans yet. They appear here as the run records them.' });
    this.treePane = h('section', { class: 'tree-pane', 'aria-label': 'Span tree' },
      toolbar, this.anomalies, this.empty, this.tree.header, this.tree.element);
    this.body = h('div', { class: 'trace-body' }, this.treePane, this.details);
    this.runStarted = NaN;
    this.elapsedTimer = 0;
    this.elapsed = h('dd');
    /** The page's own keys: `/` to search, `e` / `E` to step through failures. @param {KeyboardEvent} e */
    this.onPageKey = (e) => {
      if (!this.mounted || e.altKey || e.ctrlKey || e.metaKey || e.defaultPrevented) return;
      const target = /** @type {HTMLElement} */ (e.target);
      if (target.closest('input, textarea, select, [contenteditable="true"]')) return;
      if (e.key === '/') {
        e.preventDefault();
        this.search.focus();
        this.search.select();
      } else if (e.key === 'e' || e.key === 'E') {
        e.preventDefault();
        this.stepFailure(e.shiftKey ? -1 : 1);
      }
    };
    document.addEventListener('keydown', this.onPageKey);
    this.skeleton();
  }

  crumbs() {
    return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: lastListUrl(), 'data-nav': true, text: 'Executions' }), ' / ', this.executionId);
  }

  skeleton() {
    this.mounted = false;
    this.main.replaceChildren(
      this.crumbs(),
      h('div', { class: 'skeleton', role: 'status', 'aria-busy': 'true', 'aria-label': 'Loading the trace' },
        Array.from({ length: 8 }, (_, i) => h('div', { class: `skeleton-row w${i % 4}` }))));
  }

  /**
   * Loads the trace, every page of it. The first page goes on screen at once when the page is
   * not shown yet; a reload keeps the tree on screen until the new one is whole.
   * @param {boolean} first whether this is the navigation's own load (timed by the page's marks)
   */
  async load(first) {
    if (this.loading) {
      this.reloadAgain = true;
      return;
    }
    this.loading = true;
    this.lastReload = performance.now();
    try {
      const path = treePath(this.executionId);
      const response = await getJson(path, this.signal);
      const model = new TraceModel();
      model.addPage(response.root, response.subtrees);
      let shown = false;
      const showNow = () => {
        this.show(response, model);
        if (first) performance.mark('orcheo:tree-interactive');
        shown = true;
      };
      if (!this.mounted || !response.page_info.has_next_page) showNow();
      let info = response.page_info;
      while (info && info.has_next_page && info.cursor) {
        const next = await getJson(`${path}&cursor=${encodeURIComponent(info.cursor)}`, this.signal);
        model.addPage(next.root, next.subtrees);
        info = next.page_info;
        if (shown) this.tree.setModel(model, this.searchFilter(model));
      }
      if (!shown) showNow();
      else if (response.page_info.has_next_page) this.afterAllPages(response);
      this.tree.element.dataset.spans = String(model.size);
      this.reloadError.hidden = true;
      if (first) performance.mark('orcheo:trace-loaded');
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') return;
      if (!this.mounted) this.failed(e);
      else this.reloadFailed(e);
    } finally {
      this.loading = false;
      if (this.reloadAgain && !this.disposed) {
        this.reloadAgain = false;
        this.scheduleReload();
      }
    }
  }

  /**
   * Puts a loaded trace on screen (mounting the page the first time).
   * @param {any} response
   * @param {TraceModel} model
   */
  show(response, model) {
    this.model = model;
    const execution = response.execution;
    awaitRoot(response, model);
    this.updateFailures(execution);
    this.renderHeader(execution, response);
    this.renderBanners(response);
    this.renderAnomalies(response.anomalies || []);
    const mounting = !this.mounted;
    if (mounting) {
      this.main.replaceChildren(this.crumbs(), this.header, this.banner, this.reloadError, this.body);
      this.mounted = true;
    }
    this.empty.hidden = model.root >= 0;
    this.tree.setModel(model, this.searchFilter(model));
    this.updateSearchCount();
    if (mounting) {
      const wanted = model.find(this.wantedSpan);
      if (wanted >= 0) this.wantedSpan = null;
      // A failed run opens on the span where its failure started; a link to a span wins.
      const opening = wanted < 0 && !this.wantedSpan && execution.status === 'error' && this.failures.length ? this.failures[0] : -1;
      const index = wanted >= 0 ? wanted : opening >= 0 ? opening : model.root;
      if (index >= 0) {
        this.tree.reveal(index);
        this.tree.select(index);
      }
      if (opening >= 0) {
        this.failureAt = 0;
        announce(`Opened on the failing span ${spanName(model.nodes[opening].span)}`);
      }
    } else {
      this.refreshDetails();
    }
    if (execution.status === 'running' && !this.live) this.startLive();
    if (execution.status !== 'running' && this.live) this.stopLive();
    this.liveBadge.hidden = execution.status !== 'running';
  }

  /** Once a paged trace is whole: what depends on every span (deep link, search, anomalies, totals). @param {any} response */
  afterAllPages(response) {
    const model = /** @type {TraceModel} */ (this.model);
    awaitRoot(response, model);
    this.renderAnomalies(response.anomalies || []);
    this.updateSearchCount();
    this.updateFailures(response.execution);
    const wanted = model.find(this.wantedSpan);
    if (wanted >= 0) {
      this.wantedSpan = null;
      this.tree.reveal(wanted);
      this.tree.select(wanted);
    } else {
      this.refreshDetails();
    }
  }

  /**
   * Downloads the execution's export (fetched with the token, as the artifacts are).
   * @param {'json' | 'csv'} format
   * @param {HTMLButtonElement} button
   */
  async download(format, button) {
    button.disabled = true;
    this.exportStatus.textContent = 'Preparing the export…';
    try {
      const blob = await getBlob(exportPath(this.executionId, format));
      const url = URL.createObjectURL(blob);
      const name = `${this.executionId}.trace.${format}`;
      const a = h('a', { href: url, download: name, class: 'sr-only' });
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
      this.exportStatus.textContent = '';
      announce(`Downloading ${name}`);
    } catch (e) {
      this.exportStatus.textContent = `The export failed: ${e instanceof ApiError ? e.message : String(e)}`;
    } finally {
      button.disabled = false;
    }
  }

  /** @param {any} execution @param {any} response */
  renderHeader(execution, response) {
    /** The run shown, as its trace last said (the compare picker lists its workflow's runs). */
    this.execution = execution;
    const tokens = execution.token_usage;
    const running = execution.status === 'running';
    this.runStarted = running ? toMillis(execution.started_at) : NaN;
    this.elapsed = h('dd', { class: 'elapsed' }, running ? elapsedText(this.runStarted) : duration(execution.duration_ms));
    window.clearInterval(this.elapsedTimer);
    if (running && Number.isFinite(this.runStarted)) {
      this.elapsedTimer = window.setInterval(() => { this.elapsed.textContent = elapsedText(this.runStarted); }, 1000);
    }
    const failing = this.failures.length ? this.failures[0] : -1;
    const showFailure = h('button', { type: 'button', class: 'small', text: 'Show the failing span' });
    showFailure.addEventListener('click', () => this.stepFailure(0));
    this.headerInfo.replaceChildren();
    append(this.headerInfo, [
      h('div', { class: 'title-line' },
        h('h1', null, workflowOf(execution, this.model), ' ', h('span', { class: 'muted execution-id', text: execution.id })),
        executionBadge(execution.status), this.liveBadge),
      h('dl', { class: 'stats' },
        h('div', { class: 'stat' }, h('dt', { text: running ? 'Running for' : 'Duration' }), this.elapsed),
        stat('Tokens', tokens ? `${number(tokens.total)}` : '—', tokens ? `${number(tokens.input)} in · ${number(tokens.output)} out` : null),
        stat('Cost', runCost(execution.cost).text, runCost(execution.cost).note),
        stat('Spans', number(execution.span_count)),
        stat('Errors', number(execution.error_count)),
        stat('Started', time(execution.started_at)),
        stat('Trigger', execution.trigger || '—')),
      execution.error ? h('p', { class: 'run-error', role: 'note' }, h('strong', { text: 'Run error: ' }), execution.error, ' ',
        failing >= 0 ? showFailure : null) : null]);
    const dashboards = Object.entries(response.dashboards || {});
    const key = JSON.stringify(dashboards);
    if (key !== this.dashboardsKey) {
      this.dashboardsKey = key;
      this.dashboardLinks.replaceChildren(...dashboards.map(([name, url]) =>
        h('a', { class: 'button', href: String(url), target: '_blank', rel: 'noopener noreferrer', text: `Open in ${name}` })));
    }
  }

  /** @param {any} response */
  renderBanners(response) {
    const source = response.source || {};
    const banners = [];
    if (source.degraded) {
      banners.push(h('div', { class: 'banner warning', role: 'status' },
        h('strong', { text: 'The trace store is unavailable. ' }),
        `Showing the span summary this server cached${source.reason ? ` (${source.reason})` : ''}: names, times, status and tokens, without prompts, attributes or events. Refresh to try the store again.`));
    }
    if (source.partial) {
      banners.push(h('div', { class: 'banner info', role: 'status' },
        h('strong', { text: 'Partial trace. ' }), 'The trace store returned part of this trace; spans may be missing.'));
    }
    this.banner.replaceChildren(...banners);
  }

  /** @param {any[]} anomalies */
  renderAnomalies(anomalies) {
    const model = this.model;
    // Rebuilt only when they change, so an open list stays open through live reloads.
    const key = `${JSON.stringify(anomalies)}|${anomalies.filter((a) => model && model.find(a.span_id) >= 0).length}`;
    if (key === this.anomaliesKey) return;
    this.anomaliesKey = key;
    const open = this.anomalies.querySelector('details')?.open ?? false;
    if (!anomalies.length) {
      this.anomalies.replaceChildren();
      return;
    }
    this.anomalies.replaceChildren(h('details', { class: 'anomaly-panel', open },
      h('summary', null, `⚠ ${anomalies.length} ${anomalies.length === 1 ? 'anomaly' : 'anomalies'} in this trace`),
      h('ul', null, anomalies.map((a) => {
        const item = h('li', null, h('strong', { text: flagText(a.kind) }), ` — ${a.detail} `);
        if (a.span_id && model && model.find(a.span_id) >= 0) {
          const go = h('button', { type: 'button', class: 'link', text: 'show span' });
          go.addEventListener('click', () => this.pick(/** @type {TraceModel} */ (this.model).find(a.span_id)));
          item.append(go);
        }
        return item;
      }))));
  }

  /**
   * The tree's filter over `model`: the search's matches, and with "Errors only" the failing
   * spans (both: failing spans that match).
   * @param {TraceModel} model
   */
  searchFilter(model) {
    const found = model.search(this.search.value);
    if (!this.errorsOnly.checked) return found;
    const failing = model.failureFilter();
    if (!found) return failing;
    const matches = new Set([...found.matches].filter((i) => failing.matches.has(i)));
    const keep = new Set();
    for (const m of matches) for (let i = m; i >= 0 && !keep.has(i); i = model.nodes[i].parent) keep.add(i);
    return { matches, keep, where: found.where };
  }

  /** The user changed the search: filter, and go to the first match. */
  applySearch() {
    if (!this.model) return;
    const query = this.search.value.trim();
    const key = `${query}|${this.errorsOnly.checked}`;
    if (key === this.lastQuery) return;
    this.lastQuery = key;
    this.matchAt = -1;
    this.tree.setFilter(this.searchFilter(this.model), this.errorsOnly.checked && !query ? '' : query);
    this.updateSearchCount();
    this.markDetails();
  }

  /** The matches in the order of the tree. */
  matchRows() {
    const filter = this.tree.filter;
    if (!filter || !this.search.value.trim()) return [];
    return [...this.tree.rows].filter((i) => filter.matches.has(i));
  }

  /** Goes to the next (1) or previous (-1) match and shows its details. @param {number} step */
  stepMatch(step) {
    const rows = this.matchRows();
    if (!rows.length) return;
    const current = rows.indexOf(this.tree.selected);
    const from = current >= 0 ? current : this.matchAt;
    this.matchAt = from < 0 ? (step > 0 ? 0 : rows.length - 1) : (from + step + rows.length) % rows.length;
    const index = rows[this.matchAt];
    this.tree.reveal(index);
    this.tree.select(index);
    this.updateSearchCount();
  }

  updateSearchCount() {
    const filter = this.tree.filter;
    const query = this.search.value.trim();
    const total = filter && query ? filter.matches.size : 0;
    const rows = total ? this.matchRows() : [];
    const at = rows.indexOf(this.tree.selected);
    let text = '';
    if (query) text = total ? `${at >= 0 ? `${at + 1} of ` : ''}${total} ${total === 1 ? 'match' : 'matches'}` : 'no match';
    if (this.searchCount.textContent !== text) this.searchCount.textContent = text;
    this.prevMatch.disabled = !total;
    this.nextMatch.disabled = !total;
  }

  /**
   * The failures of the run, where they started; the bar that steps through them shows when
   * there is at least one.
   * @param {any} execution
   */
  updateFailures(execution) {
    const model = this.model;
    if (!model) return;
    this.failures = model.failures();
    const n = this.failures.length;
    this.failureBar.hidden = n === 0 && !this.errorsOnly.checked;
    this.failureCount.textContent = n === 1 ? '1 failing span' : `${number(n)} failing spans`;
    this.prevFailure.disabled = n < 2;
    this.nextFailure.disabled = n === 0;
    if (execution) this.failureBar.dataset.status = execution.status;
  }

  /**
   * Shows the next (1) or previous (-1) failure after the selected span, or the first (0).
   * @param {number} step
   */
  stepFailure(step) {
    const list = this.failures;
    if (!list.length) {
      announce('No span failed in this run');
      return;
    }
    let at;
    if (step === 0) at = 0;
    else {
      const current = list.indexOf(this.tree.selected);
      const from = current >= 0 ? current : this.failureAt;
      at = from < 0 ? (step > 0 ? 0 : list.length - 1) : (from + step + list.length) % list.length;
    }
    this.failureAt = at;
    this.pick(list[at]);
    announce(`Failure ${at + 1} of ${list.length}: ${spanName(/** @type {TraceModel} */ (this.model).nodes[list[at]].span)}`);
  }

  /**
   * Marks the search's text in the details panel and opens the drawers that hold it, so the
   * match is seen where it is.
   */
  markDetails() {
    const root = this.details.querySelector('.details-body');
    if (!root) return;
    for (const old of root.querySelectorAll('mark.hit')) old.replaceWith(...old.childNodes);
    root.normalize();
    const query = this.search.value.trim().toLowerCase();
    if (!query) return;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    /** @type {Text[]} */
    const texts = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = /** @type {Text} */ (n);
      if (text.parentElement?.closest('.sr-only, button, summary > .marker')) continue;
      if (text.data.toLowerCase().includes(query)) texts.push(text);
    }
    let first = null;
    for (const text of texts) {
      let node = text;
      for (;;) {
        const lower = node.data.toLowerCase();
        const at = lower.indexOf(query);
        if (at < 0 || lower.length !== node.data.length) break;
        const hit = node.splitText(at);
        node = hit.splitText(query.length);
        const mark = h('mark', { class: 'hit' });
        hit.replaceWith(mark);
        mark.append(hit);
        first ??= mark;
        for (let d = mark.parentElement?.closest('details'); d; d = d.parentElement?.closest('details')) d.open = true;
      }
    }
    first?.scrollIntoView({ block: 'nearest' });
  }

  /** @param {number} index */
  pick(index) {
    this.tree.reveal(index);
    this.tree.select(index);
    this.tree.element.focus();
  }

  /** @param {number} index */
  onSelect(index) {
    const model = this.model;
    if (!model) return;
    const span = model.nodes[index].span;
    // While a deep-linked span is still loading, the address keeps naming it.
    if (!this.wantedSpan) {
      const url = new URL(location.href);
      if (index === model.root) url.searchParams.delete('span');
      else url.searchParams.set('span', span.span_id);
      history.replaceState(history.state, '', url);
    }
    this.detailsKey = this.keyOfDetails(model, index);
    this.details.replaceChildren(
      h('h2', { id: 'details-heading', class: 'sr-only', text: 'Span details' }),
      renderDetails(model, index, { onPick: (i) => this.pick(i) }));
    this.markDetails();
    this.updateSearchCount();
  }

  /** What the details panel of a span depends on. @param {TraceModel} model @param {number} index */
  keyOfDetails(model, index) {
    const span = JSON.stringify(model.nodes[index].span);
    if (index !== model.root) return span;
    const chart = model.tokenLeaders().map((n) => [n.span.span_id, n.span.self_token_usage]);
    return `${span}|${JSON.stringify(chart)}`;
  }

  /** After a reload: the selected span's panel is redrawn only if what it shows changed. */
  refreshDetails() {
    const model = this.model;
    if (!model) return;
    const index = this.tree.selected >= 0 ? this.tree.selected : model.root;
    if (index < 0 || this.keyOfDetails(model, index) === this.detailsKey) return;
    const open = [...this.details.querySelectorAll('details')].map((d) => d.open);
    const hadFocus = this.details.contains(document.activeElement);
    this.onSelect(index);
    this.details.querySelectorAll('details').forEach((d, i) => { if (open[i]) d.open = true; });
    if (hadFocus) document.getElementById('details-title')?.focus();
  }

  /** The first load failed: the page says why, with Retry. @param {unknown} e */
  failed(e) {
    this.stopLive();
    const error = e instanceof ApiError ? e : new ApiError(0, 'client', String(e));
    const retry = h('button', { type: 'button', text: 'Retry' });
    retry.addEventListener('click', () => { this.skeleton(); this.load(true); });
    let title = 'The trace could not be loaded';
    let text = `${error.message}`;
    if (error.code === 'trace_unavailable') {
      title = 'No trace was recorded for this execution';
      text = 'Tracing was off when it ran, the run was sampled out, or its spans have expired. Runs traced from now on appear here.';
    } else if (error.code === 'not_found') {
      title = 'No such execution';
      text = `There is no execution ${this.executionId}, or your token may not see it.`;
    } else if (error.status === 401) {
      title = 'This server needs an access token';
      text = 'Enter a token above and choose “Use token”.';
    } else if (error.status === 403) {
      title = 'Your token may not read traces';
    } else if (error.status === 503) {
      title = 'The trace store is unavailable';
      text = `${error.message}${error.retryAfter ? ` Try again in ${error.retryAfter} s.` : ''}`;
    }
    this.main.replaceChildren(
      this.crumbs(),
      h('div', { class: `state-panel${error.code === 'trace_unavailable' ? ' info' : ' failure'}`, role: 'alert' },
        h('h1', { text: title }), h('p', { text }),
        error.requestId ? h('p', { class: 'muted', text: `Request id ${error.requestId}` }) : null,
        error.code === 'not_found' ? null : retry));
    if (error.status === 401) document.getElementById('token-input')?.focus();
  }

  /** A reload failed: the tree stays, and a banner says the refresh failed. @param {unknown} e */
  reloadFailed(e) {
    if (e instanceof ApiError && e.status === 0) return; // offline for a moment: the next update retries
    const message = e instanceof ApiError ? e.message : String(e);
    const retry = h('button', { type: 'button', class: 'small', text: 'Retry' });
    retry.addEventListener('click', () => this.load(false));
    this.reloadError.replaceChildren(h('strong', { text: 'Refreshing the trace failed. ' }), `${message} `, retry);
    this.reloadError.hidden = false;
  }

  startLive() {
    this.live = new LiveFeed(this.executionId, {
      onSpans: (spans) => {
        announce(`${spans.length} new ${spans.length === 1 ? 'span' : 'spans'}`);
        this.scheduleReload();
      },
      onComplete: () => {
        this.live = null;
        this.scheduleReload();
        announce('The run is complete');
      },
      onState: (state) => {
        this.liveBadge.classList.toggle('reconnecting', state === 'reconnecting');
        this.liveBadge.title = state === 'reconnecting' ? 'reconnecting to the live feed' : 'receiving spans as they end';
      },
    });
  }

  stopLive() {
    this.live?.stop();
    this.live = null;
    this.liveBadge.hidden = true;
  }

  scheduleReload() {
    if (this.reloadTimer || this.disposed) return;
    const wait = Math.max(0, RELOAD_EVERY_MS - (performance.now() - this.lastReload));
    this.reloadTimer = window.setTimeout(() => {
      this.reloadTimer = 0;
      this.load(false);
    }, wait);
  }

  dispose() {
    this.disposed = true;
    window.clearTimeout(this.reloadTimer);
    window.clearInterval(this.elapsedTimer);
    document.removeEventListener('keydown', this.onPageKey);
    this.live?.stop();
  }
}

/**
 * What the header calls a run: its workflow, else the workflow a span of it names (a run still
 * running has not sent its root span, which names it), else "Workflow run".
 * @param {any} execution
 * @param {TraceModel | null} model
 */
function workflowOf(execution, model) {
  if (execution.workflow_id) return execution.workflow_id;
  for (const node of model ? model.nodes : []) {
    const id = node.span.attributes && node.span.attributes['orcheo.workflow.id'];
    if (typeof id === 'string' && id) return id;
  }
  return 'Workflow run';
}

/** How long a run has been running, to the second. @param {number} started ms since the epoch */
function elapsedText(started) {
  if (!Number.isFinite(started)) return 'running';
  const ms = Math.max(0, Date.now() - started);
  return duration(Math.floor(ms / 1000) * 1000);
}

/** @param {string} label @param {string} value @param {string | null} [title] */
function stat(label, value, title = null) {
  return h('div', { class: 'stat' }, h('dt', { text: label }), h('dd', { title }, value, title ? srOnly(` (${title})`) : null));
}
