// @ts-check
/**
 * The Trace tab of one execution: header, span tree with search and waterfall, details panel,
 * and live growth while the run is in progress. Pages of a large trace load after the first is
 * on screen.
 */
import { ApiError, getJson, treePath } from './api.js';
import { renderDetails } from './details.js';
import { announce, append, h, srOnly } from './dom.js';
import { duration, number, time } from './format.js';
import { LiveFeed } from './live.js';
import { TraceModel } from './tree-model.js';
import { flagText, TreeView } from './tree-view.js';

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

/** @param {string} status */
export function executionBadge(status) {
  const symbol = { completed: '✓', error: '✕', running: '◔', cancelled: '⊘' }[status] || '?';
  return h('span', { class: `badge badge-${status}` }, h('span', { 'aria-hidden': 'true', text: `${symbol} ` }), status);
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
    this.header = h('header', { class: 'trace-header' }, this.headerInfo,
      h('div', { class: 'header-actions' }, this.dashboardLinks, refresh));
    this.liveBadge = h('span', { class: 'badge badge-live', hidden: true },
      h('span', { class: 'pulse', 'aria-hidden': 'true' }), 'Live');
    this.banner = h('div', { class: 'banners' });
    this.reloadError = h('div', { class: 'banner refresh-failed', role: 'alert', hidden: true });
    this.search = h('input', { type: 'search', id: 'span-search', placeholder: 'name, kind, model, span id', spellcheck: 'false' });
    this.searchCount = h('span', { class: 'muted', role: 'status', 'aria-live': 'polite' });
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
        e.preventDefault();
        this.tree.element.focus();
      }
    });
    const toolbar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Span tree' },
      h('label', { for: 'span-search', text: 'Search spans' }), this.search, this.searchCount,
      h('button', { type: 'button', onclick: () => this.tree.setAll(true), text: 'Expand all' }),
      h('button', { type: 'button', onclick: () => this.tree.setAll(false), text: 'Collapse all' }));
    this.empty = h('p', { class: 'empty', hidden: true, text: 'No spans yet. They appear here as the run records them.' });
    this.treePane = h('section', { class: 'tree-pane', 'aria-label': 'Span tree' },
      toolbar, this.anomalies, this.empty, this.tree.header, this.tree.element);
    this.body = h('div', { class: 'trace-body' }, this.treePane, this.details);
    this.skeleton();
  }

  crumbs() {
    return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: '/', 'data-nav': true, text: 'Executions' }), ' / ', this.executionId);
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
      const index = wanted >= 0 ? wanted : model.root;
      if (index >= 0) {
        this.tree.reveal(index);
        this.tree.select(index);
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
    const wanted = model.find(this.wantedSpan);
    if (wanted >= 0) {
      this.wantedSpan = null;
      this.tree.reveal(wanted);
      this.tree.select(wanted);
    } else {
      this.refreshDetails();
    }
  }

  /** @param {any} execution @param {any} response */
  renderHeader(execution, response) {
    const tokens = execution.token_usage;
    this.headerInfo.replaceChildren();
    append(this.headerInfo, [
      h('div', { class: 'title-line' },
        h('h1', null, execution.workflow_id || 'Execution', ' ', h('span', { class: 'muted', text: execution.id })),
        executionBadge(execution.status), this.liveBadge),
      h('dl', { class: 'stats' },
        stat('Duration', duration(execution.duration_ms)),
        stat('Tokens', tokens ? `${number(tokens.total)}` : '—', tokens ? `${number(tokens.input)} in · ${number(tokens.output)} out` : null),
        stat('Spans', number(execution.span_count)),
        stat('Errors', number(execution.error_count)),
        stat('Started', time(execution.started_at)),
        stat('Trigger', execution.trigger || '—')),
      execution.error ? h('p', { class: 'run-error', role: 'note' }, h('strong', { text: 'Run error: ' }), execution.error) : null]);
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

  /** The search box's filter over `model`. @param {TraceModel} model */
  searchFilter(model) {
    return model.search(this.search.value);
  }

  /** The user changed the search: filter, and go to the first match. */
  applySearch() {
    if (!this.model) return;
    const query = this.search.value.trim();
    if (query === this.lastQuery) return;
    this.lastQuery = query;
    this.tree.setFilter(this.searchFilter(this.model));
    this.updateSearchCount();
  }

  updateSearchCount() {
    const filter = this.tree.filter;
    const text = filter ? `${filter.matches.size} ${filter.matches.size === 1 ? 'match' : 'matches'}` : '';
    if (this.searchCount.textContent !== text) this.searchCount.textContent = text;
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
    this.live?.stop();
  }
}

/** @param {string} label @param {string} value @param {string | null} [title] */
function stat(label, value, title = null) {
  return h('div', { class: 'stat' }, h('dt', { text: label }), h('dd', { title }, value, title ? srOnly(` (${title})`) : null));
}
