// @ts-check
/**
 * The span tree in the page: the API's nested pages flattened into indexed nodes, and which of
 * them are on screen (collapsed branches, search). Nothing here touches the DOM.
 */
import { toMillis } from './format.js';
import { spanStatus } from './status.js';

/**
 * @typedef {object} Span A span as the API gives it (see the OpenAPI document's `SpanNode`).
 * @property {string} span_id
 * @property {string | null} parent_span_id
 * @property {string} name
 * @property {string} kind
 * @property {{code: string, message: string | null}} status
 * @property {string} start_time
 * @property {string | null} end_time
 * @property {number | null} duration_ms
 * @property {'measured' | 'reported'} [duration_source] `reported`: placed by the latency the node reported
 * @property {number | null} [measured_duration_ms] how long the span itself lasted, when `reported`
 * @property {boolean} in_progress
 * @property {string[]} [namespace] the subgraph the node ran in, outermost first
 * @property {{input: number, output: number, total: number} | null} token_usage
 * @property {{input: number, output: number, total: number, cached_input?: number} | null} self_token_usage
 * @property {{usd: number | null, priced_as?: string, unpriced?: string} | null} [cost] the span's own tokens' cost
 * @property {{name?: string | null, request: string | null, response: string | null, provider: string | null, kind?: string | null, operation?: string | null, vector_size?: number | null} | null} model
 * @property {any[]} prompts
 * @property {any[]} responses
 * @property {any[]} messages
 * @property {any[]} artifacts
 * @property {any} error
 * @property {any[]} [errors] every exception the span recorded
 * @property {Record<string, any>} attributes
 * @property {any[]} events
 * @property {string[]} flags
 * @property {boolean} synthetic
 * @property {boolean} [awaited] a placeholder for the root of a run still running (set by the page)
 * @property {number} child_count
 * @property {Span[]} [children]
 */

/**
 * @typedef {object} TreeNode
 * @property {Span} span
 * @property {number} index
 * @property {number} parent -1 for the root
 * @property {number[]} children
 * @property {number} depth
 * @property {number} start ms since the epoch
 * @property {number} end ms since the epoch (now, for a span still running)
 * @property {Array<[string, string]> | null} fields what search looks in: a label and the
 *   lower-case text, made on the first search (most traces are never searched)
 */

/**
 * Everything a span shows, as search reads it: each field with the name the page gives it, so a
 * match can say where it was found.
 * @param {Span} span
 * @returns {Array<[string, string]>}
 */
export function searchFields(span) {
  /** @type {Array<[string, string]>} */
  const out = [];
  const add = (/** @type {string} */ label, /** @type {unknown} */ value) => {
    if (value === null || value === undefined || value === '') return;
    out.push([label, (typeof value === 'string' ? value : JSON.stringify(value)).toLowerCase()]);
  };
  add('name', span.name);
  add('kind', span.kind);
  add('span id', span.span_id);
  const m = span.model;
  if (m) add('model', [m.name, m.request, m.response, m.provider].filter(Boolean).join(' '));
  const errors = [span.error, ...(span.errors || [])].filter(Boolean);
  for (const e of errors) {
    add('error', [e.type, e.code].filter(Boolean).join(' '));
    add('error message', e.message);
    add('error hint', e.hint);
    add('stack trace', e.stack_trace);
  }
  add('status', `${span.status.code} ${span.status.message || ''}`);
  for (const p of span.prompts || []) add('prompt', p.content);
  for (const r of span.responses || []) add('response', r.content);
  for (const c of span.messages || []) add(c.role ? `${c.role} message` : 'message', c.content);
  for (const a of span.artifacts || []) add('artifact', [a.id, a.name, a.content_type].filter(Boolean).join(' '));
  for (const [key, value] of Object.entries(span.attributes || {})) add(`attribute ${key}`, `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  for (const e of span.events || []) {
    add('event', e.name);
    for (const value of Object.values(e.attributes || {})) add(`event ${e.name}`, typeof value === 'string' ? value : JSON.stringify(value));
  }
  return out;
}

export class TraceModel {
  constructor() {
    /** @type {TreeNode[]} */
    this.nodes = [];
    /** @type {Map<string, number>} */
    this.byId = new Map();
    this.root = -1;
    this.start = Infinity;
    this.end = -Infinity;
  }

  /**
   * Adds a page of the trace: the root (first page) or subtrees under spans of earlier pages.
   * @param {Span | null} root
   * @param {Span[]} subtrees
   */
  addPage(root, subtrees) {
    if (root) this.addSubtree(root, -1);
    for (const subtree of subtrees || []) {
      const parent = subtree.parent_span_id ? this.byId.get(subtree.parent_span_id) : undefined;
      this.addSubtree(subtree, parent === undefined ? this.root : parent);
    }
  }

  /** Iterative, so a 10,000-deep chain does not exhaust the stack. @param {Span} top @param {number} parent */
  addSubtree(top, parent) {
    /** @type {[Span, number][]} */
    const stack = [[top, parent]];
    const now = Date.now();
    while (stack.length) {
      const item = stack.pop();
      if (!item) break;
      const [span, parentIndex] = item;
      const kids = span.children || [];
      delete span.children;
      const index = this.nodes.length;
      const start = toMillis(span.start_time);
      const endText = toMillis(span.end_time);
      const end = Number.isFinite(endText) ? endText : Math.max(now, start);
      /** @type {TreeNode} */
      const node = {
        span,
        index,
        parent: parentIndex,
        children: [],
        depth: parentIndex >= 0 ? this.nodes[parentIndex].depth + 1 : 0,
        start,
        end,
        fields: null,
      };
      this.nodes.push(node);
      this.byId.set(span.span_id, index);
      if (parentIndex >= 0) this.nodes[parentIndex].children.push(index);
      else if (this.root < 0) this.root = index;
      if (Number.isFinite(start) && start < this.start) this.start = start;
      if (Number.isFinite(end) && end > this.end) this.end = end;
      for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], index]);
    }
  }

  get size() {
    return this.nodes.length;
  }

  /** The span's index, or -1. @param {string | null | undefined} spanId */
  find(spanId) {
    if (!spanId) return -1;
    const i = this.byId.get(spanId);
    return i === undefined ? -1 : i;
  }

  /** Indices of the ancestors, nearest first. @param {number} index */
  ancestors(index) {
    const out = [];
    for (let p = this.nodes[index].parent; p >= 0; p = this.nodes[p].parent) out.push(p);
    return out;
  }

  /**
   * Spans that show `query` anywhere (name, kind, ids, status, model, errors, prompts, responses,
   * messages, artifacts, attributes, events; any case), with their ancestors, so every match is
   * shown in its place; `where` names the first field each match was found in. `null` for an
   * empty query.
   * @param {string} query
   */
  search(query) {
    const q = query.trim().toLowerCase();
    if (!q) return null;
    const matches = new Set();
    const keep = new Set();
    /** @type {Map<number, string>} */
    const where = new Map();
    for (const node of this.nodes) {
      node.fields ??= searchFields(node.span);
      const hit = node.fields.find(([, text]) => text.includes(q));
      if (!hit) continue;
      matches.add(node.index);
      where.set(node.index, hit[0]);
      for (let i = node.index; i >= 0 && !keep.has(i); i = this.nodes[i].parent) keep.add(i);
    }
    return { matches, keep, where };
  }

  /**
   * Spans that failed where the failure started: an ERROR span none of whose descendants failed
   * too (a parent marked failed only because a child failed is not a second failure), in the
   * order of the tree. A run whose only failing span is its root gives the root.
   */
  failures() {
    const failed = this.nodes.map((n) => isFailed(n.span));
    const below = new Uint8Array(this.nodes.length);
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const parent = this.nodes[i].parent;
      if (parent >= 0 && (failed[i] || below[i])) below[parent] = 1;
    }
    const out = [];
    if (this.root < 0) return out;
    const stack = [this.root];
    while (stack.length) {
      const i = /** @type {number} */ (stack.pop());
      if (failed[i] && !below[i]) out.push(i);
      const kids = this.nodes[i].children;
      for (let k = kids.length - 1; k >= 0; k--) stack.push(kids[k]);
    }
    return out;
  }

  /** Every failing span with its ancestors, as a filter (the "errors only" view). */
  failureFilter() {
    const matches = new Set();
    const keep = new Set();
    for (const node of this.nodes) {
      if (!isFailed(node.span)) continue;
      matches.add(node.index);
      for (let i = node.index; i >= 0 && !keep.has(i); i = this.nodes[i].parent) keep.add(i);
    }
    return { matches, keep, where: new Map() };
  }

  /**
   * The rows on screen, depth first: children of collapsed spans are left out, and while
   * searching only matches and their ancestors are kept (collapsing is ignored then).
   * `last[i]` is 1 when node i is the last shown child of its parent (for the connectors).
   * @param {Set<string>} collapsed span ids
   * @param {{keep: Set<number>} | null} filter
   */
  rows(collapsed, filter) {
    const rows = new Int32Array(filter ? filter.keep.size : this.nodes.length);
    const last = new Uint8Array(this.nodes.length);
    let count = 0;
    if (this.root < 0) return { rows: rows.subarray(0, 0), last };
    const stack = [this.root];
    last[this.root] = 1;
    while (stack.length) {
      const i = /** @type {number} */ (stack.pop());
      rows[count++] = i;
      const node = this.nodes[i];
      if (!filter && collapsed.has(node.span.span_id)) continue;
      const kids = filter ? node.children.filter((c) => filter.keep.has(c)) : node.children;
      if (kids.length) last[kids[kids.length - 1]] = 1;
      for (let k = kids.length - 1; k >= 0; k--) stack.push(kids[k]);
    }
    return { rows: rows.subarray(0, count), last };
  }

  /** Spans with tokens of their own, most first: the run's per-node token chart. */
  tokenLeaders(limit = 12) {
    return this.nodes
      .filter((n) => n.span.self_token_usage && n.span.self_token_usage.total > 0)
      .sort((a, b) => (b.span.self_token_usage?.total || 0) - (a.span.self_token_usage?.total || 0))
      .slice(0, limit);
  }
}

/** Whether a span failed, from all the evidence (see `status.js`). @param {Span} span */
export function isFailed(span) {
  return spanStatus(span).state === 'error';
}
