// @ts-check
/** The details panel: everything about one span, and the run's token chart at its root. */
import { ApiError, getBlob } from './api.js';
import { CONVERSATION_EVENTS, conversation } from './conversation.js';
import { announce, copyButton, h, srOnly, textBlock } from './dom.js';
import { bytes, duration, number, spanCost, time, toMillis } from './format.js';
import { spanStatus } from './status.js';
import { flagText, spanName, statusBadge } from './tree-view.js';

/** @typedef {import('./tree-model.js').TraceModel} TraceModel */
/** @typedef {import('./tree-model.js').Span} Span */

/** A span's own cost as the page says it, or `null` when it has no tokens of its own. @param {Span} span */
function costOf(span) {
  return spanCost(span.cost);
}

/** Largest text artifact shown inline. */
const PREVIEW_BYTES = 256 * 1024;
/** Nodes the run's token chart shows before "Show all". */
const CHART_NODES = 12;

/** @param {string} title @param {...import('./dom.js').Child} content */
function section(title, ...content) {
  return h('section', { class: 'detail-section', 'aria-label': title }, h('h3', { text: title }), ...content);
}

/** Term and description pairs; `null` entries are left out. @param {Array<[string, any] | null>} pairs */
function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter((p) => p !== null).flatMap(([k, v]) => [h('dt', { text: k }), h('dd', null, v)]));
}

/** "3 messages": prompts, messages and responses. @param {Span} span */
function messageCount(span) {
  const n = (span.prompts?.length || 0) + (span.messages?.length || 0) + (span.responses?.length || 0);
  return `${number(n)} ${n === 1 ? 'message' : 'messages'}`;
}

/** One error: type, code, message, hint and stack trace. @param {any} e @param {string} label */
function errorBox(e, label) {
  return h('div', { class: 'error-box', role: 'group', 'aria-label': label },
    h('p', { class: 'error-title' }, h('strong', { text: e.type || 'Error' }), e.code ? h('code', { text: ` ${e.code}` }) : null),
    h('p', { class: 'error-message', text: e.message || '' }),
    e.hint ? h('p', { class: 'hint' }, h('strong', { text: 'Hint: ' }), e.hint) : null,
    e.stack_trace
      ? h('details', { class: 'drawer' }, h('summary', { text: 'Stack trace' }), textBlock(e.stack_trace, `${label}: stack trace`),
        h('div', { class: 'actions' }, copyButton(() => e.stack_trace, 'Copy stack trace')))
      : null);
}

/** What Orcheo's run span says of the run: name, tags, inputs and limits. @param {Span} span */
function runSection(span) {
  const a = span.attributes || {};
  const list = (/** @type {any} */ v) => (Array.isArray(v) ? v.join(', ') : v);
  const pairs = /** @type {Array<[string, any] | null>} */ ([
    ['Run name', a['orcheo.execution.run_name']],
    ['Tags', list(a['orcheo.execution.tags'])],
    ['Inputs', list(a['orcheo.execution.input_keys'])],
    ['Recursion limit', a['orcheo.execution.recursion_limit']],
    ['Max concurrency', a['orcheo.execution.max_concurrency']],
    ['Thread', a['orcheo.execution.thread_id']],
  ].map(([k, v]) => (v === undefined || v === null || v === '' ? null : [k, String(v)])));
  return pairs.some((p) => p !== null) ? section('Run', facts(pairs)) : null;
}

/** The span's error, and every exception it recorded when there were several. @param {Span} span */
function errorSection(span) {
  const e = span.error;
  if (!e) return null;
  const all = span.errors || [];
  return section('Error',
    errorBox(e, 'Error'),
    all.length > 1
      ? h('details', { class: 'drawer' }, h('summary', { text: `All ${all.length} exceptions` }),
        h('ol', { class: 'exceptions' }, all.map((x, i) => h('li', null, errorBox(x, `Exception ${i + 1}`)))))
      : null);
}

/** What is known of an artifact: name, id, type and size. @param {any} artifact */
function artifactFacts(artifact) {
  const type = String(artifact.content_type || '');
  return h('div', null, h('strong', { text: artifact.name || artifact.id }), ' ',
    h('span', { class: 'muted', text: `${type || 'unknown type'} · ${bytes(artifact.size_bytes)}` }),
    artifact.name ? h('div', { class: 'muted' }, 'id ', h('code', { text: artifact.id })) : null);
}

/** @param {any} artifact */
function artifactItem(artifact) {
  // `available` is false when the server never received the file: no download to offer.
  if (artifact.available === false) {
    return h('li', { class: 'artifact unavailable' },
      artifactFacts(artifact),
      h('p', { class: 'artifact-missing', text: 'The file was not stored on this server.' }),
      artifact.source_url ? h('p', { class: 'muted' }, 'The producer gave its location as ', h('code', { text: artifact.source_url })) : null);
  }
  const preview = h('div', { class: 'preview' });
  const type = String(artifact.content_type || '');
  const previewable = type.startsWith('text/') || type.startsWith('image/') || type.includes('json');
  const status = h('span', { class: 'muted', role: 'status' });
  const fetchIt = async () => {
    // The bearer token goes only to this server's artifact route.
    if (typeof artifact.url !== 'string' || !artifact.url.startsWith('/api/artifacts/')) {
      status.textContent = 'This artifact has no download on this server.';
      return null;
    }
    status.textContent = 'Loading…';
    try {
      const blob = await getBlob(artifact.url);
      status.textContent = '';
      return blob;
    } catch (e) {
      status.textContent = e instanceof ApiError ? `Could not load: ${e.message}` : 'Could not load the artifact.';
      return null;
    }
  };
  const download = h('button', { type: 'button', class: 'small', text: 'Download', 'aria-label': `Download ${artifact.name || artifact.id}` });
  download.addEventListener('click', async () => {
    const blob = await fetchIt();
    if (!blob) return;
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: artifact.name || artifact.id, class: 'sr-only' });
    document.body.append(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
    announce(`Downloading ${artifact.name || artifact.id}`);
  });
  const show = previewable
    ? h('button', { type: 'button', class: 'small', text: 'Preview', 'aria-label': `Preview ${artifact.name || artifact.id}` })
    : null;
  show?.addEventListener('click', async () => {
    if (preview.childElementCount) {
      preview.replaceChildren();
      return;
    }
    const blob = await fetchIt();
    if (!blob) return;
    if (type.startsWith('image/')) {
      preview.append(h('img', { src: URL.createObjectURL(blob), alt: `Preview of ${artifact.name || artifact.id}` }));
    } else {
      const text = await blob.slice(0, PREVIEW_BYTES).text();
      preview.append(textBlock(text, `Preview of ${artifact.name || artifact.id}`));
      if (blob.size > PREVIEW_BYTES) preview.append(h('p', { class: 'muted', text: `First ${bytes(PREVIEW_BYTES)} of ${bytes(blob.size)} shown.` }));
    }
  });
  return h('li', { class: 'artifact' },
    artifactFacts(artifact),
    h('div', { class: 'actions' }, download, show, status),
    preview);
}

/**
 * An attribute key that wraps only after `.`, `_` and `-` (a `<wbr>` there), never mid-word
 * unless one word is wider than the column.
 * @param {string} key
 */
function keyText(key) {
  return key.split(/(?<=[._-])/).flatMap((part, i) => (i ? [h('wbr'), part] : [part]));
}

/** @param {Record<string, any>} attributes */
function attributeTable(attributes) {
  const keys = Object.keys(attributes || {}).sort();
  if (!keys.length) return h('p', { class: 'muted', text: 'None.' });
  return h('table', { class: 'attributes' },
    h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Key' }), h('th', { scope: 'col', text: 'Value' }))),
    h('tbody', null, keys.map((k) => h('tr', null, h('th', { scope: 'row' }, keyText(k)),
      h('td', null, h('code', { text: typeof attributes[k] === 'string' ? attributes[k] : JSON.stringify(attributes[k]) }))))));
}

/**
 * The span's events; those whose text the conversation shows are listed by name only.
 * @param {Span} span
 * @param {boolean} inConversation whether the span's conversation is on screen
 */
function events(span, inConversation) {
  if (!span.events || !span.events.length) return h('p', { class: 'muted', text: 'None.' });
  const start = toMillis(span.start_time);
  return h('ol', { class: 'events' }, span.events.map((e) => {
    const at = toMillis(e.time) - start;
    const shown = inConversation && CONVERSATION_EVENTS.has(e.name);
    return h('li', null,
      h('p', null, h('strong', { text: e.name }), h('span', { class: 'muted', text: ` +${duration(at)}${shown ? ' · shown in the conversation' : ''}` })),
      !shown && Object.keys(e.attributes || {}).length ? attributeTable(e.attributes) : null);
  }));
}

/** The run's per-node token chart. @param {TraceModel} model @param {(index: number) => void} onPick */
function tokenChart(model, onPick) {
  const all = model.tokenLeaders(Infinity);
  if (!all.length) return null;
  // Most first: the first node's total is the scale.
  const max = Math.max(all[0].span.self_token_usage?.total || 0, 1);
  const chart = h('ol', { class: 'token-chart' });
  const note = h('p', { class: 'chart-note muted' });
  const toggle = all.length > CHART_NODES ? h('button', { type: 'button', class: 'small', 'aria-expanded': 'false' }) : null;
  const draw = (/** @type {boolean} */ everything) => {
    const shown = everything ? all : all.slice(0, CHART_NODES);
    chart.replaceChildren(...shown.map(bar));
    note.textContent = shown.length < all.length
      ? `Top ${number(shown.length)} of ${number(all.length)} nodes with tokens, most first.`
      : `All ${number(all.length)} ${all.length === 1 ? 'node' : 'nodes'} with tokens, most first.`;
    if (toggle) {
      toggle.textContent = everything ? `Show the top ${CHART_NODES}` : `Show all ${number(all.length)}`;
      toggle.setAttribute('aria-expanded', String(everything));
    }
  };
  toggle?.addEventListener('click', () => draw(toggle.getAttribute('aria-expanded') !== 'true'));
  draw(false);
  return section('Tokens by node',
    h('p', { class: 'legend' }, h('span', { class: 'swatch input', 'aria-hidden': 'true' }), ' input ',
      h('span', { class: 'swatch output', 'aria-hidden': 'true' }), ' output'),
    h('div', { class: 'chart-head' }, note, toggle),
    chart);

  /** @param {import('./tree-model.js').TreeNode} node */
  function bar(node) {
      const usage = node.span.self_token_usage || { input: 0, output: 0, total: 0 };
      const cost = costOf(node.span);
      const input = h('span', { class: 'seg input' });
      input.style.width = `${(usage.input / max) * 100}%`;
      const output = h('span', { class: 'seg output' });
      output.style.width = `${(usage.output / max) * 100}%`;
      const pick = h('button', { type: 'button', class: 'link', text: spanName(node.span) });
      pick.addEventListener('click', () => onPick(node.index));
      return h('li', null, pick,
        h('span', { class: 'chart-bar', 'aria-hidden': 'true' }, input, output),
        h('span', { class: 'chart-value', text: `${number(usage.input)} in · ${number(usage.output)} out${cost ? ` · ${cost.text}` : ''}` }));
  }
}

/**
 * @param {TraceModel} model
 * @param {number} index
 * @param {{onPick: (index: number) => void}} ctx
 */
export function renderDetails(model, index, ctx) {
  const node = model.nodes[index];
  const span = node.span;
  const usage = span.token_usage;
  const own = span.self_token_usage;
  const cost = costOf(span);
  const title = h('h2', { id: 'details-title', tabindex: '-1' }, statusBadge(span), ' ', spanName(span));
  const status = spanStatus(span);
  const talk = conversation(span);
  const isLlm = span.kind === 'llm' || !!(span.model && (span.model.request || span.model.response));
  const raw = JSON.stringify(span, null, 2);
  const m = span.model;
  const modelName = m ? [m.request, m.response && m.response !== m.request ? `→ ${m.response}` : null, m.provider ? `(${m.provider})` : null].filter(Boolean).join(' ') || null : null;
  const embedding = m && (m.operation || m.vector_size) ? [m.operation, m.vector_size ? `${number(m.vector_size)} dimensions` : null].filter(Boolean).join(' · ') : null;
  const reported = span.duration_source === 'reported';
  return h('div', { class: 'details-body' },
    title,
    facts([
      ['Kind', `${span.kind}${span.awaited ? ' (the run is still running: its root span arrives when it ends)' : span.synthetic ? ' (placeholder)' : ''}`],
      ['Status', h('span', null, h('strong', { text: status.label }), ` — from ${status.source}`,
        span.status.message ? h('span', { class: 'status-message', text: `: ${span.status.message}` }) : null)],
      ['Duration', reported
        ? h('span', { class: 'reported' }, duration(span.duration_ms), h('span', { class: 'marker reported', text: 'reported' }),
          h('span', { class: 'muted', text: ` by the node; its span lasted ${duration(span.measured_duration_ms)}` }))
        : span.in_progress || span.awaited ? `${duration(node.end - node.start)} so far` : duration(span.duration_ms)],
      ['Start', time(span.start_time)],
      span.namespace && span.namespace.length ? ['Subgraph', span.namespace.join(' › ')] : null,
      ['Span id', h('code', { text: span.span_id })],
      modelName ? ['Model', modelName] : null,
      m && m.kind ? ['AI call', m.kind] : null,
      embedding ? ['Embedding', embedding] : null,
    ]),
    span.flags && span.flags.length
      ? h('ul', { class: 'anomaly-list', 'aria-label': 'Anomalies of this span' }, span.flags.map((f) => h('li', null, '⚠ ', flagText(f))))
      : null,
    usage && usage.total > 0
      ? section('Token usage', facts([
        ['Input', number(usage.input)],
        ['Output', number(usage.output)],
        ['Total', number(usage.total)],
        own && usage.total !== own.total ? ['Own', `${number(own.input)} in · ${number(own.output)} out`] : null,
        own && own.cached_input ? ['Cached input', number(own.cached_input)] : null,
        cost ? ['Cost', h('span', null, cost.text, cost.note ? h('span', { class: 'muted', text: ` — ${cost.note}` }) : null)] : null,
      ]))
      : null,
    span.kind === 'workflow' ? runSection(span) : null,
    index === model.root ? tokenChart(model, ctx.onPick) : null,
    errorSection(span),
    talk ? section('Conversation', h('details', { class: 'drawer conversation-drawer', open: isLlm },
      h('summary', { text: messageCount(span) }), talk)) : null,
    span.artifacts.length ? section('Artifacts', h('ul', { class: 'artifacts' }, span.artifacts.map(artifactItem))) : null,
    section('Attributes', attributeTable(span.attributes)),
    section('Events', events(span, !!talk)),
    h('details', { class: 'drawer' }, h('summary', { text: 'Raw JSON' }), textBlock(raw, 'Raw JSON of the span'),
      h('div', { class: 'actions' }, copyButton(() => raw, 'Copy raw JSON'))),
    srOnly(''));
}
