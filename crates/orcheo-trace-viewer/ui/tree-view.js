// @ts-check
/**
 * The span tree on screen: a WAI-ARIA tree (flat tree items with level, position and set size)
 * of which only the rows in view exist in the DOM, so a 10,000-span trace scrolls smoothly.
 * Focus stays on the tree and moves with `aria-activedescendant`; the selection follows the focus
 * (the WAI-ARIA tree pattern's single-select tree), a moment after the keys stop so that holding
 * an arrow key scrolls without drawing every span's details on the way.
 */
import { h, srOnly } from './dom.js';
import { compact, duration, number, spanCost } from './format.js';
import { spanStatus } from './status.js';
import { isFailed } from './tree-model.js';

const ROW_HEIGHT = 30;
const OVERSCAN = 8;
/** Deeper spans are drawn at this indent, with their depth written out. */
const MAX_INDENT = 24;
/** How long the focus rests on a span before the selection follows it. */
export const FOLLOW_FOCUS_MS = 150;
/** The timeline's tick labels are at least this far apart. */
const TICK_SPACING_PX = 90;

/** @typedef {import('./tree-model.js').TraceModel} TraceModel */
/** @typedef {import('./tree-model.js').TreeNode} TreeNode */
/** @typedef {{matches: Set<number>, keep: Set<number>, where: Map<number, string>}} Filter */

const STATUS_MARK = { running: '◔', error: '✕', completed: '✓', cancelled: '⊘', skipped: '↷', unset: '○' };

/** An execution's status: a symbol and the word. @param {string} status */
export function executionBadge(status) {
  const symbol = { completed: '✓', error: '✕', running: '◔', cancelled: '⊘' }[status] || '?';
  return h('span', { class: `badge badge-${status}` }, h('span', { 'aria-hidden': 'true', text: `${symbol} ` }), status);
}

/** The span's status as a symbol, its word for screen readers (see `spanStatus`). @param {import('./tree-model.js').Span} span */
export function statusBadge(span) {
  const { state, label, source } = spanStatus(span);
  return h('span', { class: `status status-${state}`, title: `${label} (from ${source})` }, STATUS_MARK[state], srOnly(` ${label}`));
}

const FLAG_TEXT = {
  orphan: 'parent missing from the trace: shown under the root',
  clock_skew: 'starts before its parent (clocks disagree)',
  ends_after_parent: 'ends after its parent',
  multiple_roots: 'another root span: shown under the first',
  duplicate_span_id: 'shared its id with another span',
  shared_span_id: 'shared its id with a client span',
  cycle: 'parent references formed a cycle',
  negative_duration: 'ends before it starts',
  source_warning: 'the trace store attached a warning',
  missing_root: 'stands for a root span the trace lacks',
};

/** @param {string} flag */
export function flagText(flag) {
  return /** @type {Record<string, string>} */ (FLAG_TEXT)[flag] || flag.replace(/_/g, ' ');
}

export class TreeView {
  /**
   * @param {{onSelect: (index: number) => void, label: string}} options
   */
  constructor(options) {
    this.options = options;
    /** @type {TraceModel | null} */
    this.model = null;
    /** @type {Set<string>} */
    this.collapsed = new Set();
    /** @type {Filter | null} */
    this.filter = null;
    /** The search's text (lower case), marked in the rows' names. */
    this.query = '';
    this.followTimer = 0;
    this.rows = new Int32Array(0);
    this.last = new Uint8Array(0);
    /** Row position of each shown node. @type {Map<number, number>} */
    this.position = new Map();
    this.active = -1;
    this.selected = -1;
    /** @type {Map<number, HTMLElement>} */
    this.rendered = new Map();
    this.frame = 0;
    /** The width the tick labels were laid out for. */
    this.tickWidth = 0;

    this.ticks = h('div', { class: 'timeline-ticks', 'aria-hidden': 'true' });
    this.header = h('div', { class: 'tree-columns', 'aria-hidden': 'true' },
      h('span', { class: 'col-name', text: 'Span' }),
      h('span', { class: 'col-tokens', text: 'Tokens in → out · cost' }),
      h('span', { class: 'col-bar' }, this.ticks));
    this.spacer = h('div', { class: 'tree-spacer', role: 'none' });
    this.element = h('div', {
      class: 'tree',
      role: 'tree',
      tabindex: '0',
      'aria-label': options.label,
      'aria-busy': 'true',
    }, this.spacer);
    this.element.addEventListener('scroll', () => this.schedule());
    this.element.addEventListener('keydown', (e) => this.onKey(e));
    this.element.addEventListener('click', (e) => this.onClick(e));
    this.element.addEventListener('focus', () => {
      if (this.active < 0 && this.rows.length) this.setActive(this.rows[0]);
    });
    new ResizeObserver(() => this.schedule()).observe(this.element);
  }

  /**
   * Shows `model` (with `filter`, the search computed on it), keeping what the user had:
   * collapsed spans, selection, focus and the rows in view all follow span ids, so a tree that
   * grows (live) does not jump.
   * @param {TraceModel} model
   * @param {Filter | null} [filter]
   */
  setModel(model, filter = null) {
    const old = this.model;
    const id = (/** @type {number} */ i) => (old && i >= 0 && old.nodes[i] ? old.nodes[i].span.span_id : null);
    const activeId = id(this.active);
    const selectedId = id(this.selected);
    // The first row in view and how far it is scrolled past, to put it back in the same place.
    const topRow = Math.floor(this.element.scrollTop / ROW_HEIGHT);
    const anchorId = id(this.rows[topRow] ?? -1);
    const offset = this.element.scrollTop - topRow * ROW_HEIGHT;
    this.model = model;
    this.filter = filter;
    this.active = activeId ? model.find(activeId) : -1;
    this.selected = selectedId ? model.find(selectedId) : -1;
    this.relayout();
    const anchor = anchorId ? this.position.get(model.find(anchorId)) : undefined;
    if (anchor !== undefined) this.element.scrollTop = anchor * ROW_HEIGHT + offset;
  }

  /**
   * A new search: shows its matches and moves to the first one.
   * @param {Filter | null} filter
   * @param {string} [query] the text to mark in the names
   */
  setFilter(filter, query = '') {
    this.filter = filter;
    this.query = query.trim().toLowerCase();
    this.relayout();
    if (filter && filter.matches.size) {
      const first = this.rows.find((i) => filter.matches.has(i));
      if (first !== undefined) this.setActive(first);
    }
  }

  /** The children of a node that are shown (all of them unless a search hides some). @param {TreeNode} node */
  shownChildren(node) {
    const filter = this.filter;
    return filter ? node.children.filter((c) => filter.keep.has(c)) : node.children;
  }

  relayout() {
    if (!this.model) return;
    const { rows, last } = this.model.rows(this.collapsed, this.filter);
    this.rows = rows;
    this.last = last;
    this.position = new Map();
    rows.forEach((node, row) => this.position.set(node, row));
    this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    this.drawTicks();
    this.invalidate();
    // The focused span may now be hidden (collapsed away, or out of a search): move to what
    // shows it, so the keys keep working.
    if (this.active >= 0 && !this.position.has(this.active)) this.setActive(this.visibleAncestor(this.active));
  }

  /** Forget the drawn rows (their content changed). */
  invalidate() {
    for (const el of this.rendered.values()) el.remove();
    this.rendered.clear();
    this.render();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  render() {
    if (!this.model) return;
    if (this.ticks.clientWidth && this.ticks.clientWidth !== this.tickWidth) this.drawTicks();
    const height = this.element.clientHeight || 600;
    const top = this.element.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const end = Math.min(this.rows.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const wanted = new Set();
    for (let row = first; row < end; row++) wanted.add(this.rows[row]);
    for (const [index, el] of this.rendered) {
      if (!wanted.has(index)) {
        el.remove();
        this.rendered.delete(index);
      }
    }
    for (let row = first; row < end; row++) {
      const index = this.rows[row];
      if (this.rendered.has(index)) continue;
      const el = this.row(index, row);
      this.rendered.set(index, el);
      this.spacer.append(el);
    }
    this.element.setAttribute('aria-busy', 'false');
    if (this.active >= 0 && this.rendered.has(this.active)) {
      this.element.setAttribute('aria-activedescendant', rowId(this.model.nodes[this.active]));
    } else {
      this.element.removeAttribute('aria-activedescendant');
    }
  }

  /** @param {number} index @param {number} row */
  row(index, row) {
    const model = /** @type {TraceModel} */ (this.model);
    const node = model.nodes[index];
    const span = node.span;
    const hasChildren = this.shownChildren(node).length > 0;
    const expanded = hasChildren && (this.filter ? true : !this.collapsed.has(span.span_id));
    const parent = node.parent >= 0 ? model.nodes[node.parent] : null;
    const siblings = parent ? this.shownChildren(parent) : [index];
    const el = h('div', {
      id: rowId(node),
      class: `row${index === this.selected ? ' selected' : ''}${index === this.active ? ' active' : ''}` +
        `${isFailed(span) ? ' error' : ''}${this.filter && this.filter.matches.has(index) ? ' match' : ''}`,
      role: 'treeitem',
      'aria-level': node.depth + 1,
      'aria-posinset': siblings.indexOf(index) + 1,
      'aria-setsize': siblings.length,
      'aria-selected': index === this.selected ? 'true' : 'false',
      'aria-expanded': hasChildren ? String(expanded) : null,
      'data-index': index,
      'data-span-id': span.span_id,
    });
    el.style.transform = `translateY(${row * ROW_HEIGHT}px)`;
    const name = h('span', { class: 'col-name' }, this.guides(node));
    name.append(
      h('span', {
        class: `twisty${hasChildren ? '' : ' leaf'}`,
        'data-toggle': hasChildren ? 'true' : null,
        'aria-hidden': 'true',
        text: hasChildren ? (expanded ? '▾' : '▸') : '',
      }),
      statusBadge(span),
      marked('span', 'span-name', spanName(span), this.filter && this.filter.matches.has(index) ? this.query : ''),
      h('span', { class: 'kind', text: span.kind }),
    );
    const where = this.filter?.where.get(index);
    if (where && where !== 'name') name.append(h('span', { class: 'found-in', text: `in ${where}` }));
    if (node.depth > MAX_INDENT) name.append(h('span', { class: 'depth', text: `depth ${node.depth}` }));
    if (span.namespace && span.namespace.length) {
      name.append(h('span', { class: 'namespace', title: 'subgraph', text: `in ${span.namespace.join(' › ')}` }));
    }
    if (span.awaited) name.append(h('span', { class: 'flag awaited', title: 'the run is still running: its root span arrives when it ends', text: 'running' }));
    else if (span.synthetic) name.append(h('span', { class: 'flag', text: 'placeholder' }));
    if (span.flags && span.flags.length) {
      const text = span.flags.map(flagText).join('; ');
      name.append(h('span', { class: 'flag', title: text }, '⚠', srOnly(` anomaly: ${text}`)));
    }
    const usage = span.token_usage;
    const tokens = h('span', { class: 'col-tokens' });
    if (usage && usage.total > 0) {
      tokens.append(
        h('span', { title: `${number(usage.input)} input tokens`, text: compact(usage.input) }),
        h('span', { class: 'arrow', 'aria-hidden': 'true', text: ' → ' }),
        srOnly(' in, '),
        h('span', { title: `${number(usage.output)} output tokens`, text: compact(usage.output) }),
        srOnly(' out'),
      );
    }
    const cost = spanCost(span.cost);
    if (cost) tokens.append(h('span', { class: `cost${cost.note && cost.text === 'not priced' ? ' unpriced' : ''}`, title: cost.note, text: cost.text === 'not priced' ? ' · no price' : ` · ${cost.text}` }));
    el.append(name, tokens, this.bar(node));
    return el;
  }

  /** The connectors: a line for each ancestor level that continues below, an elbow for this row. @param {TreeNode} node */
  guides(node) {
    const model = /** @type {TraceModel} */ (this.model);
    const levels = Math.min(node.depth, MAX_INDENT);
    const wrap = h('span', { class: 'guides', 'aria-hidden': 'true' });
    if (levels === 0) return wrap;
    const cells = new Array(levels);
    let current = node;
    for (let level = node.depth; level >= 1; level--) {
      const continues = !this.last[current.index];
      if (level <= levels) {
        cells[level - 1] = level === node.depth ? (continues ? 'g tee' : 'g elbow') : (continues ? 'g line' : 'g');
      }
      if (current.parent < 0) break;
      current = model.nodes[current.parent];
    }
    for (const c of cells) wrap.append(h('span', { class: c || 'g' }));
    return wrap;
  }

  /** The span's place on the trace's timeline. @param {TreeNode} node */
  bar(node) {
    const model = /** @type {TraceModel} */ (this.model);
    const total = Math.max(model.end - model.start, 1e-6);
    const left = Number.isFinite(node.start) ? ((node.start - model.start) / total) * 100 : 0;
    const width = Math.max(((node.end - node.start) / total) * 100, 0.3);
    const reported = node.span.duration_source === 'reported';
    const bar = h('span', { class: `bar${node.span.in_progress ? ' running' : ''}${reported ? ' reported' : ''}` });
    bar.style.left = `${Math.min(Math.max(left, 0), 99.7)}%`;
    bar.style.width = `${Math.min(width, 100 - Math.min(Math.max(left, 0), 99.7))}%`;
    // The duration goes after the bar, before it when the bar ends near the right edge, or
    // inside it when the bar fills the timeline.
    const running = node.span.in_progress || node.span.awaited;
    const label = h('span', { class: 'duration', text: running ? `${duration(node.end - node.start)} so far` : duration(node.span.duration_ms) });
    if (reported) {
      label.title = `reported by the node; its span lasted ${duration(node.span.measured_duration_ms)}`;
      label.append(h('span', { class: 'reported-mark', 'aria-hidden': 'true', text: ' ≈' }), srOnly(' (reported by the node)'));
    }
    const right = left + width;
    if (right < 82) label.style.left = `${right}%`;
    else if (left > 18) label.style.right = `${100 - left}%`;
    else {
      label.classList.add('inside');
      label.style.right = `${Math.max(100 - right, 0)}%`;
    }
    return h('span', { class: 'col-bar' }, bar, label);
  }

  drawTicks() {
    const model = /** @type {TraceModel} */ (this.model);
    const total = Math.max(model.end - model.start, 0);
    this.ticks.replaceChildren();
    // As many labels as fit the column's width: five where there is room, two on a phone.
    const width = this.ticks.clientWidth || 400;
    const steps = Math.max(1, Math.min(4, Math.floor(width / TICK_SPACING_PX)));
    this.tickWidth = width;
    for (let k = 0; k <= steps; k++) {
      const f = k / steps;
      const tick = h('span', { class: 'tick', text: duration(total * f) });
      tick.style.left = `${f * 100}%`;
      this.ticks.append(tick);
    }
  }

  /** @param {number} index */
  toggle(index) {
    const model = /** @type {TraceModel} */ (this.model);
    const node = model.nodes[index];
    if (!node.children.length || this.filter) return;
    const id = node.span.span_id;
    if (this.collapsed.has(id)) this.collapsed.delete(id);
    else this.collapsed.add(id);
    this.relayout();
  }

  /**
   * Expands or collapses every span. Collapsing keeps the root's children in view, unless no
   * child has children of its own (a flat trace): then the root itself is collapsed.
   * @param {boolean} expand
   */
  setAll(expand) {
    const model = /** @type {TraceModel} */ (this.model);
    this.collapsed = new Set();
    if (!expand) {
      for (const node of model.nodes) {
        if (node.children.length && node.index !== model.root) this.collapsed.add(node.span.span_id);
      }
      if (!this.collapsed.size && model.root >= 0 && model.nodes[model.root].children.length) {
        this.collapsed.add(model.nodes[model.root].span.span_id);
      }
    }
    this.relayout();
    if (this.active >= 0 && !this.position.has(this.active)) this.setActive(this.visibleAncestor(this.active));
  }

  /** @param {number} index */
  visibleAncestor(index) {
    const model = /** @type {TraceModel} */ (this.model);
    let i = index;
    while (i >= 0 && !this.position.has(i)) i = model.nodes[i].parent;
    return i < 0 ? model.root : i;
  }

  /** Opens every ancestor of a span and scrolls it into view. @param {number} index */
  reveal(index) {
    const model = /** @type {TraceModel} */ (this.model);
    let changed = false;
    for (const a of model.ancestors(index)) {
      if (this.collapsed.delete(model.nodes[a].span.span_id)) changed = true;
    }
    // A span the search hides is shown in its place, with its ancestors, search and all.
    if (this.filter && !this.filter.keep.has(index)) {
      for (let i = index; i >= 0 && !this.filter.keep.has(i); i = model.nodes[i].parent) this.filter.keep.add(i);
      changed = true;
    }
    if (changed) this.relayout();
    this.setActive(index);
  }

  /** @param {number} index */
  setActive(index) {
    if (index < 0) return;
    const previous = this.active;
    this.active = index;
    this.scrollTo(index);
    for (const i of [previous, index]) this.redraw(i);
    this.render();
  }

  /** Moves the focus by keyboard; the selection follows once the keys rest. @param {number} index */
  focusSpan(index) {
    if (index < 0) return;
    this.setActive(index);
    window.clearTimeout(this.followTimer);
    this.followTimer = window.setTimeout(() => {
      this.followTimer = 0;
      if (this.active >= 0 && this.active !== this.selected) this.select(this.active);
    }, FOLLOW_FOCUS_MS);
  }

  /** @param {number} index */
  select(index) {
    window.clearTimeout(this.followTimer);
    this.followTimer = 0;
    const previous = this.selected;
    this.selected = index;
    this.setActive(index);
    this.redraw(previous);
    this.redraw(index);
    this.render();
    this.options.onSelect(index);
  }

  /** @param {number} index */
  redraw(index) {
    const el = this.rendered.get(index);
    if (el) {
      el.remove();
      this.rendered.delete(index);
    }
  }

  /** @param {number} index */
  scrollTo(index) {
    const row = this.position.get(index);
    if (row === undefined) return;
    const top = row * ROW_HEIGHT;
    const view = this.element.clientHeight;
    if (top < this.element.scrollTop) this.element.scrollTop = top;
    else if (top + ROW_HEIGHT > this.element.scrollTop + view) this.element.scrollTop = top + ROW_HEIGHT - view;
  }

  /** @param {KeyboardEvent} e */
  onKey(e) {
    if (!this.model || !this.rows.length) return;
    const model = this.model;
    const row = this.position.has(this.active) ? /** @type {number} */ (this.position.get(this.active)) : -1;
    const node = row >= 0 ? model.nodes[this.active] : null;
    const page = Math.max(1, Math.floor(this.element.clientHeight / ROW_HEIGHT) - 1);
    const at = (/** @type {number} */ r) => this.rows[Math.min(Math.max(r, 0), this.rows.length - 1)];
    let handled = true;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    switch (e.key) {
      case 'ArrowDown': this.focusSpan(row < 0 ? at(0) : at(row + 1)); break;
      case 'ArrowUp': this.focusSpan(row < 0 ? at(0) : at(row - 1)); break;
      case 'PageDown': this.focusSpan(at(row + page)); break;
      case 'PageUp': this.focusSpan(at(row - page)); break;
      case 'Home': this.focusSpan(at(0)); break;
      case 'End': this.focusSpan(at(this.rows.length - 1)); break;
      case 'ArrowRight':
        if (node && this.shownChildren(node).length) {
          if (!this.filter && this.collapsed.has(node.span.span_id)) this.toggle(node.index);
          else if (row + 1 < this.rows.length && model.nodes[this.rows[row + 1]].parent === node.index) this.focusSpan(at(row + 1));
        }
        break;
      case 'ArrowLeft':
        if (node && this.shownChildren(node).length && !this.filter && !this.collapsed.has(node.span.span_id)) this.toggle(node.index);
        else if (node && node.parent >= 0) this.focusSpan(this.visibleAncestor(node.parent));
        break;
      case 'Enter':
      case ' ':
        if (node) this.select(node.index);
        break;
      default:
        handled = false;
    }
    if (handled) e.preventDefault();
  }

  /** @param {MouseEvent} e */
  onClick(e) {
    const target = /** @type {HTMLElement} */ (e.target);
    const row = target.closest('[role="treeitem"]');
    if (!(row instanceof HTMLElement)) return;
    const index = Number(row.dataset.index);
    if (target.closest('[data-toggle]')) {
      this.setActive(index);
      this.toggle(index);
      return;
    }
    this.select(index);
  }
}

/** A span's name, or what stands for it. @param {import('./tree-model.js').Span} span */
export function spanName(span) {
  if (span.name) return span.name;
  if (span.awaited) return 'Workflow run';
  return span.synthetic ? '(missing span)' : '(unnamed span)';
}

/** @param {TreeNode} node */
function rowId(node) {
  return `span-${node.index}`;
}

/**
 * An element holding `text` with each occurrence of `query` (lower case) in a `<mark>`.
 * @param {keyof HTMLElementTagNameMap} tag
 * @param {string} className
 * @param {string} text
 * @param {string} query
 */
export function marked(tag, className, text, query) {
  const el = h(tag, { class: className });
  if (!query) {
    el.textContent = text;
    return el;
  }
  const lower = text.toLowerCase();
  // Lower case that changes a text's length (a few non-Latin letters) would misplace the marks.
  if (lower.length !== text.length) {
    el.textContent = text;
    return el;
  }
  let from = 0;
  for (let at = lower.indexOf(query); at >= 0; at = lower.indexOf(query, from)) {
    if (at > from) el.append(text.slice(from, at));
    el.append(h('mark', { text: text.slice(at, at + query.length) }));
    from = at + query.length;
  }
  if (from < text.length) el.append(text.slice(from));
  return el;
}
