// @ts-check
/**
 * A small Markdown subset as DOM, for model messages: paragraphs, headings, lists, emphasis,
 * inline code, fenced code blocks and links. Every piece of text is set as text: nothing is
 * ever parsed as HTML, so a message cannot add markup, scripts or styles to the page.
 * Headings become bold paragraphs, not heading elements: a message's outline is not the page's.
 */
import { h } from './dom.js';

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

/**
 * Code spans, strong and emphasis (`*` anywhere, `_` only between words, so snake_case stays
 * as it is), and links `[text](href)`.
 */
const INLINE = /`([^`\n]+)`|\*\*(?=\S)([^*\n]*?\S)\*\*|(?<![\w])__(?=\S)([^_\n]*?\S)__(?![\w])|\*(?=[^\s*])([^*\n]*?[^\s*])\*|(?<![\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w])|\[([^[\]\n]{1,500})\]\(([^()\s]{1,2000})\)/g;

/** Schemes a link may open; anything else is shown as text. */
const SAFE_HREF = /^(https?:|mailto:)/i;

/**
 * Inline markup of one block's text, as nodes.
 * @param {string} text
 * @returns {Array<Node | string>}
 */
export function inline(text) {
  /** @type {Array<Node | string>} */
  const out = [];
  let at = 0;
  INLINE.lastIndex = 0;
  for (let m = INLINE.exec(text); m; m = INLINE.exec(text)) {
    if (m.index > at) out.push(text.slice(at, m.index));
    at = m.index + m[0].length;
    if (m[1] !== undefined) out.push(h('code', { text: m[1] }));
    else if (m[2] !== undefined || m[3] !== undefined) out.push(h('strong', null, inlineAgain(m[2] ?? m[3] ?? '')));
    else if (m[4] !== undefined || m[5] !== undefined) out.push(h('em', null, inlineAgain(m[4] ?? m[5] ?? '')));
    else {
      const label = m[6] ?? '';
      const href = m[7] ?? '';
      if (SAFE_HREF.test(href)) {
        out.push(h('a', { href, rel: 'noopener noreferrer', target: '_blank', text: label }),
          h('span', { class: 'md-href', text: ` (${href})` }));
      } else {
        out.push(`${label} (${href})`);
      }
    }
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/** Inline markup inside emphasis: the expression is global, so its position is kept. @param {string} text */
function inlineAgain(text) {
  const saved = INLINE.lastIndex;
  const nodes = inline(text);
  INLINE.lastIndex = saved;
  return nodes;
}

/**
 * Markdown as a fragment of block elements.
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function markdown(text) {
  const out = document.createDocumentFragment();
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  /** @type {string[]} */
  let paragraph = [];
  /** @type {{ordered: boolean, el: HTMLElement} | null} */
  let list = null;
  const flush = () => {
    if (paragraph.length) out.append(h('p', null, inline(paragraph.join('\n'))));
    paragraph = [];
  };
  const endList = () => {
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      endList();
      const close = fence[1];
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(close)) body.push(lines[i++]);
      const code = h('code', { text: body.join('\n') });
      if (fence[2]) code.dataset.language = fence[2];
      out.append(h('pre', { class: 'md-code', tabindex: '0', role: 'region', 'aria-label': fence[2] ? `${fence[2]} code` : 'Code' }, code));
      continue;
    }
    if (!line.trim()) {
      flush();
      endList();
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      flush();
      endList();
      out.append(h('p', { class: `md-heading md-h${heading[1].length}` }, h('strong', null, inline(heading[2]))));
      continue;
    }
    if (RULE.test(line)) {
      flush();
      endList();
      out.append(h('hr'));
      continue;
    }
    const bullet = BULLET.exec(line);
    const numbered = bullet ? null : NUMBERED.exec(line);
    if (bullet || numbered) {
      flush();
      const ordered = !!numbered;
      if (!list || list.ordered !== ordered) {
        const el = ordered ? h('ol', numbered && numbered[1] !== '1' ? { start: numbered[1] } : null) : h('ul');
        out.append(el);
        list = { ordered, el };
      }
      list.el.append(h('li', null, inline(bullet ? bullet[1] : (numbered ? numbered[2] : ''))));
      continue;
    }
    const quote = QUOTE.exec(line);
    if (quote) {
      flush();
      endList();
      const body = [quote[1]];
      while (i + 1 < lines.length && QUOTE.test(lines[i + 1])) body.push((QUOTE.exec(lines[++i]) || ['', ''])[1]);
      out.append(h('blockquote', null, h('p', null, inline(body.join('\n')))));
      continue;
    }
    // A line indented under a list item continues it.
    if (list && /^\s{2,}\S/.test(line) && list.el.lastElementChild) {
      list.el.lastElementChild.append('\n', ...inline(line.trim()));
      continue;
    }
    endList();
    paragraph.push(line);
  }
  flush();
  return out;
}
