// @ts-check
/**
 * The Trace tab's entry point: routes `/` (executions), `/executions/{id}` (a trace) and
 * `/compare?a=…&b=…` (two runs side by side) without reloading the page, and keeps the access
 * token for the session.
 */
import { setToken, token } from './api.js';
import { showCompare } from './compare.js';
import { announce } from './dom.js';
import { showList } from './list.js';
import { showTrace } from './trace-view.js';

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
/** @type {(() => void) | null} */
let dispose = null;

const app = {
  /** @param {string} url */
  navigate(url) {
    history.pushState(null, '', url);
    route();
    main.focus({ preventScroll: true });
  },
};

function route() {
  dispose?.();
  dispose = null;
  const match = location.pathname.match(/^\/executions\/([^/]+)\/?$/);
  const params = new URLSearchParams(location.search);
  const [a, b] = [params.get('a'), params.get('b')];
  if (/^\/compare\/?$/.test(location.pathname) && a && b) {
    document.title = `${a} and ${b} · Orcheo Trace`;
    dispose = showCompare(main, a, b, app);
  } else if (match) {
    let id;
    try {
      id = decodeURIComponent(match[1]);
    } catch {
      id = match[1];
    }
    document.title = `${id} · Orcheo Trace`;
    dispose = showTrace(main, id, app);
  } else {
    document.title = 'Executions · Orcheo Trace';
    dispose = showList(main, app);
  }
}

document.addEventListener('click', (e) => {
  const target = /** @type {HTMLElement} */ (e.target);
  const link = target.closest('a[data-nav]');
  if (!(link instanceof HTMLAnchorElement) || e.defaultPrevented || e.button !== 0) return;
  if (e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  app.navigate(link.pathname + link.search);
});
window.addEventListener('popstate', route);

const form = /** @type {HTMLFormElement} */ (document.getElementById('token-form'));
const input = /** @type {HTMLInputElement} */ (document.getElementById('token-input'));
input.value = token();
form.addEventListener('submit', (e) => {
  e.preventDefault();
  setToken(input.value.trim());
  announce(input.value.trim() ? 'Token saved for this session' : 'Token forgotten');
  route();
});
document.getElementById('token-clear')?.addEventListener('click', () => {
  input.value = '';
  setToken('');
  announce('Token forgotten');
  route();
});

route();
