// @ts-check
/** Building DOM without markup strings: text is always set as text, never parsed as HTML. */

/**
 * @typedef {Node | string | number | null | undefined | false | any[]} Child
 */

/**
 * An element with attributes, listeners (`onclick`…) and children.
 * `class` sets the class name, `text` the text content; `false`/`null` attributes are left out.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any> | null} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = String(value);
      else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {Child[]} children
 */
export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (typeof child === 'string' || typeof child === 'number') {
      el.append(document.createTextNode(String(child)));
    } else el.append(child);
  }
}

/** Text only screen readers read. @param {string} text */
export function srOnly(text) {
  return h('span', { class: 'sr-only', text });
}

/** Says something to screen-reader users without moving focus. @param {string} text */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh node each time, so the same words are read again.
  window.setTimeout(() => { region.textContent = text; }, 30);
}

/**
 * Copies text, saying so; falls back to a selection where the clipboard API is unavailable.
 * @param {string} text
 * @param {HTMLElement} button
 */
export async function copy(text, button) {
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch {
    const area = h('textarea', { class: 'sr-only', 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    done = document.execCommand('copy');
    area.remove();
  }
  // The label to come back to, kept the first time (a second click shows "Copied").
  button.dataset.label ??= button.textContent || '';
  button.textContent = done ? 'Copied' : 'Copy failed';
  announce(done ? 'Copied to the clipboard' : 'Could not copy');
  window.setTimeout(() => { button.textContent = button.dataset.label || ''; }, 1500);
}

/** A button that copies what `text()` gives. @param {() => string} text @param {string} label */
export function copyButton(text, label) {
  const button = h('button', { type: 'button', class: 'small', 'aria-label': label, text: 'Copy' });
  button.addEventListener('click', () => { copy(text(), button); });
  return button;
}

/**
 * Text that may be long: a scrolling block that keyboard users can reach and scroll.
 * @param {string} text
 * @param {string} label
 */
export function textBlock(text, label) {
  return h('pre', { class: 'content', tabindex: '0', role: 'region', 'aria-label': label, text });
}
