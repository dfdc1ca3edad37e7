// @ts-check
/**
 * A span's prompts, messages and responses as one conversation: a bubble per message, labelled
 * with its role in words (system, user, assistant, tool), prompts on the user's side and
 * responses on the assistant's, tool calls with their name and arguments, and the markers of
 * withheld, redacted and truncated text.
 *
 * Rendered (a Markdown subset, built as DOM) or raw (the exact text). Long texts are cut with
 * "Show all"; a long conversation draws its first and last messages and the rest on demand,
 * so a 200-message call opens at once.
 */
import { copyButton, h, textBlock } from './dom.js';
import { number } from './format.js';
import { markdown } from './markdown.js';

/** @typedef {import('./tree-model.js').Span} Span */
/**
 * @typedef {object} ContentItem A prompt, response or message as the API gives it.
 * @property {string | null} [content]
 * @property {string} [role]
 * @property {boolean} [truncated]
 * @property {boolean} [redacted]
 * @property {boolean} [withheld]
 * @property {number} [length]
 */
/**
 * @typedef {object} Entry
 * @property {ContentItem} item
 * @property {'system' | 'user' | 'assistant' | 'tool' | 'other'} side
 * @property {string} role the role in words, as the source named it
 * @property {string} origin "Prompt 1", "Message 3", "Response 1"
 */

/** A text longer than this is cut until asked for. */
export const CUT_CHARS = 1500;
export const CUT_LINES = 20;
/** A conversation longer than this draws its ends, and the middle on demand. */
const SHOWN_FIRST = 10;
const SHOWN_LAST = 30;
/** Messages drawn per "show more". */
const MORE = 100;

/** Events whose text the conversation shows (see docs/normalization.md). */
export const CONVERSATION_EVENTS = new Set([
  'prompt', 'response', 'message',
  'gen_ai.system.message', 'gen_ai.user.message', 'gen_ai.assistant.message', 'gen_ai.tool.message',
  'gen_ai.choice',
]);

/** Rendered or raw, for every conversation until the page is left. */
let raw = false;

/** @type {Record<string, Entry['side']>} */
const SIDES = {
  system: 'system', developer: 'system',
  user: 'user', human: 'user',
  assistant: 'assistant', ai: 'assistant', model: 'assistant', bot: 'assistant',
  tool: 'tool', function: 'tool', ipython: 'tool',
};

/** @param {string | undefined} role @param {Entry['side']} fallback */
function sideOf(role, fallback) {
  if (!role) return fallback;
  return SIDES[role.toLowerCase()] || 'other';
}

/**
 * The span's content in conversation order: system messages, then prompts (the user's side),
 * the other messages, and responses (the assistant's side).
 * @param {Span} span
 * @returns {Entry[]}
 */
export function entries(span) {
  const messages = span.messages || [];
  let system = 0;
  while (system < messages.length && sideOf(messages[system].role, 'other') === 'system') system++;
  /** @param {ContentItem} item @param {Entry['side']} fallback @param {string} origin */
  const entry = (item, fallback, origin) => ({ item, side: sideOf(item.role, fallback), role: item.role || 'No role', origin });
  return [
    ...messages.slice(0, system).map((m, i) => entry(m, 'other', `Message ${i + 1}`)),
    ...(span.prompts || []).map((p, i) => entry(p, 'user', `Prompt ${i + 1}`)),
    ...messages.slice(system).map((m, i) => entry(m, 'other', `Message ${system + i + 1}`)),
    ...(span.responses || []).map((r, i) => entry(r, 'assistant', `Response ${i + 1}`)),
  ];
}

/**
 * @typedef {{kind: 'text', text: string}
 *   | {kind: 'call', name: string, id: string, args: any}
 *   | {kind: 'result', name: string, id: string, result: any}
 *   | {kind: 'part', type: string, value: any}} Segment
 */

/** @param {string} text */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Arguments given as JSON text are shown as what they hold. @param {any} value */
function unwrap(value) {
  if (typeof value !== 'string') return value;
  const t = value.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return value;
  const parsed = parseJson(t);
  return parsed === undefined ? value : parsed;
}

/**
 * One message part, as the GenAI conventions write it (`{"type": "tool_call", "name",
 * "arguments", "id"}`, `{"type": "tool_call_response", "id", "response"}`, others by their
 * type), or `null` when it is not a part.
 * @param {any} part
 * @returns {Segment | null}
 */
function partSegment(part) {
  if (!part || typeof part !== 'object' || Array.isArray(part) || typeof part.type !== 'string') return null;
  const id = typeof part.id === 'string' ? part.id : '';
  switch (part.type) {
    case 'text':
      return typeof part.content === 'string' ? { kind: 'text', text: part.content } : null;
    case 'tool_call':
    case 'function_call':
      return { kind: 'call', name: String(part.name ?? part.function?.name ?? ''), id, args: unwrap(part.arguments ?? part.function?.arguments ?? null) };
    case 'tool_call_response':
    case 'tool_result':
    case 'function_call_output':
      return { kind: 'result', name: typeof part.name === 'string' ? part.name : '', id, result: unwrap(part.response ?? part.result ?? part.output ?? part.content ?? null) };
    default:
      return { kind: 'part', type: part.type, value: part };
  }
}

/**
 * A message kept whole as JSON (the older `{"role", "content", "tool_calls"}` shape, when it
 * had no text), as segments; `null` when it is not one.
 * @param {any} message
 * @returns {Segment[] | null}
 */
function messageSegments(message) {
  if (!message || typeof message !== 'object' || Array.isArray(message)) return null;
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : null;
  if (!calls && !message.function_call && !message.tool_call_id) return null;
  /** @type {Segment[]} */
  const out = [];
  if (typeof message.content === 'string' && message.content) out.push({ kind: 'text', text: message.content });
  for (const call of calls || [message.function_call].filter(Boolean)) {
    const fn = call.function || call;
    out.push({ kind: 'call', name: String(fn.name ?? ''), id: typeof call.id === 'string' ? call.id : '', args: unwrap(fn.arguments ?? null) });
  }
  if (message.tool_call_id && !calls) {
    out.push({ kind: 'result', name: typeof message.name === 'string' ? message.name : '', id: String(message.tool_call_id), result: unwrap(message.content ?? null) });
  }
  return out;
}

/**
 * A message's text as segments: text, and the tool calls, tool results and other parts the
 * normalizer kept as one line of JSON each (text parts are joined by new lines).
 * @param {string} text
 * @returns {Segment[]}
 */
export function segments(text) {
  const whole = text.trim();
  if (whole.startsWith('{') || whole.startsWith('[')) {
    const parsed = parseJson(whole);
    const asMessage = messageSegments(parsed);
    if (asMessage) return asMessage;
    if (Array.isArray(parsed)) {
      const parts = parsed.map(partSegment);
      if (parts.length && parts.every((p) => p !== null)) return /** @type {Segment[]} */ (parts);
    }
  }
  /** @type {Segment[]} */
  const out = [];
  /** @type {string[]} */
  let lines = [];
  const flush = () => {
    if (lines.length) out.push({ kind: 'text', text: lines.join('\n') });
    lines = [];
  };
  for (const line of text.split('\n')) {
    const t = line.trim();
    const part = t.startsWith('{"') && t.endsWith('}') ? partSegment(parseJson(t)) : null;
    if (part && part.kind !== 'text') {
      flush();
      out.push(part);
    } else {
      lines.push(line);
    }
  }
  flush();
  return out;
}

/** @param {any} value */
function pretty(value) {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

/** @param {Segment} s */
function segmentElement(s) {
  if (s.kind === 'text') return h('div', { class: 'md' }, markdown(s.text));
  if (s.kind === 'call') {
    return h('div', { class: 'tool-call', role: 'group', 'aria-label': `Tool call ${s.name}` },
      h('p', { class: 'tool-title' }, h('span', { class: 'tool-tag', text: 'Tool call' }), ' ', h('code', { text: s.name || '(unnamed)' }),
        s.id ? h('span', { class: 'muted', text: ` · ${s.id}` }) : null),
      s.args === null || s.args === undefined || s.args === ''
        ? h('p', { class: 'muted', text: 'No arguments.' })
        : h('pre', { class: 'tool-args', tabindex: '0', role: 'region', 'aria-label': `Arguments of ${s.name || 'the tool call'}`, text: pretty(s.args) }));
  }
  if (s.kind === 'result') {
    return h('div', { class: 'tool-call tool-result', role: 'group', 'aria-label': `Tool result${s.name ? ` of ${s.name}` : ''}` },
      h('p', { class: 'tool-title' }, h('span', { class: 'tool-tag', text: 'Tool result' }), s.name ? ' ' : null, s.name ? h('code', { text: s.name }) : null,
        s.id ? h('span', { class: 'muted', text: ` · for ${s.id}` }) : null),
      h('pre', { class: 'tool-args', tabindex: '0', role: 'region', 'aria-label': 'Tool result', text: pretty(s.result) }));
  }
  return h('div', { class: 'tool-call', role: 'group', 'aria-label': `${s.type} part` },
    h('p', { class: 'tool-title' }, h('span', { class: 'tool-tag', text: s.type.replace(/_/g, ' ') })),
    h('pre', { class: 'tool-args', tabindex: '0', role: 'region', 'aria-label': `${s.type} part`, text: pretty(s.value) }));
}

/**
 * The text up to the cut, at a line's end where it can: `null` when the whole text is short.
 * @param {string} text
 */
export function cutText(text) {
  let end = Math.min(text.length, CUT_CHARS);
  let newline = -1;
  for (let i = 0; i < CUT_LINES; i++) {
    newline = text.indexOf('\n', newline + 1);
    if (newline < 0 || newline >= end) break;
    if (i === CUT_LINES - 1) end = newline;
  }
  if (end >= text.length) return null;
  const lastBreak = text.lastIndexOf('\n', end);
  return text.slice(0, lastBreak > end / 2 ? lastBreak : end);
}

/** @param {ContentItem} item */
function markers(item) {
  return [
    item.withheld ? h('span', { class: 'marker withheld', text: 'withheld' }) : null,
    item.redacted ? h('span', { class: 'marker redacted', text: 'redacted' }) : null,
    item.truncated ? h('span', { class: 'marker truncated', text: 'truncated at the source' }) : null,
  ];
}

const ROLE_WORD = { system: 'System', user: 'User', assistant: 'Assistant', tool: 'Tool', other: '' };

/**
 * One message as a bubble.
 * @param {Entry} entry
 * @param {number} at its place in the conversation
 */
function bubble(entry, at) {
  const { item, side } = entry;
  const role = ROLE_WORD[side] || entry.role;
  const content = item.content || '';
  const length = typeof item.length === 'number' ? item.length : content.length;
  const body = h('div', { class: 'bubble-body', tabindex: '-1' });
  let whole = false;
  const draw = () => {
    if (item.withheld) {
      body.replaceChildren(h('p', { class: 'muted', text: 'The content is withheld: your token lacks the traces:read_content scope, or it was asked for without content.' }));
      return;
    }
    const cut = whole ? null : cutText(content);
    const text = cut ?? content;
    const label = `${role} ${entry.origin.toLowerCase()}`;
    const more = cut === null ? null
      : h('button', { type: 'button', class: 'small', text: `Show all (${number(length)} characters)`, 'aria-label': `Show all of ${label} (${number(length)} characters)` });
    more?.addEventListener('click', () => {
      whole = true;
      draw();
      // The button is gone: focus stays in the message it opened.
      body.focus();
    });
    /** @type {Node[]} */
    const shown = raw ? [textBlock(text, label)]
      : text ? segments(text).map(segmentElement)
        : [h('p', { class: 'muted', text: 'Empty.' })];
    if (more) shown.push(more);
    body.replaceChildren(...shown);
  };
  draw();
  const label = `${role} ${entry.origin.toLowerCase()}`;
  const el = h('li', { class: `bubble bubble-${side}`, 'data-entry': at },
    h('div', { class: 'bubble-head' },
      h('span', { class: 'role', text: role }),
      h('span', { class: 'muted', text: `${entry.origin}${item.content || item.length ? ` · ${number(length)} characters` : ''}` }),
      ...markers(item),
      item.withheld ? null : copyButton(() => content, `Copy ${label}`)),
    body);
  // The raw/rendered switch redraws the bubbles drawn so far.
  /** @type {any} */ (el).redraw = draw;
  return el;
}

/**
 * The conversation of a span, or `null` when it has no prompt, message or response.
 * @param {Span} span
 */
export function conversation(span) {
  const all = entries(span);
  if (!all.length) return null;
  const list = h('ol', { class: 'conversation', 'aria-label': `Conversation, ${all.length} messages` });
  const drawn = /** @type {HTMLElement[]} */ ([]);
  const add = (/** @type {number} */ i) => {
    const b = bubble(all[i], i);
    drawn.push(b);
    return b;
  };
  if (all.length <= SHOWN_FIRST + SHOWN_LAST + 10) {
    list.append(...all.map((_, i) => add(i)));
  } else {
    // The start (instructions, the question) and the end (the answer); the middle on demand.
    let next = SHOWN_FIRST;
    const lastStart = all.length - SHOWN_LAST;
    const more = h('button', { type: 'button', class: 'small' });
    const gap = h('li', { class: 'conversation-gap' }, more);
    const label = () => {
      const hidden = lastStart - next;
      more.textContent = `Show ${number(Math.min(MORE, hidden))} more (${number(hidden)} messages not shown)`;
    };
    more.addEventListener('click', () => {
      const end = Math.min(lastStart, next + MORE);
      const added = [];
      for (; next < end; next++) added.push(add(next));
      gap.before(...added);
      if (next >= lastStart) gap.remove();
      else label();
      added[0]?.querySelector('button')?.focus();
    });
    for (let i = 0; i < SHOWN_FIRST; i++) list.append(add(i));
    label();
    list.append(gap);
    for (let i = lastStart; i < all.length; i++) list.append(add(i));
  }
  const rendered = h('button', { type: 'button', class: 'small', text: 'Rendered', 'aria-pressed': String(!raw) });
  const plain = h('button', { type: 'button', class: 'small', text: 'Raw', 'aria-pressed': String(raw) });
  const setRaw = (/** @type {boolean} */ value) => {
    raw = value;
    rendered.setAttribute('aria-pressed', String(!raw));
    plain.setAttribute('aria-pressed', String(raw));
    for (const b of drawn) /** @type {any} */ (b).redraw();
  };
  rendered.addEventListener('click', () => setRaw(false));
  plain.addEventListener('click', () => setRaw(true));
  return h('div', { class: 'conversation-view' },
    h('div', { class: 'conversation-bar' },
      h('div', { class: 'toggle', role: 'group', 'aria-label': 'Show messages' }, rendered, plain)),
    list);
}
