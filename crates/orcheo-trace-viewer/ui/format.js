// @ts-check
/** Numbers, times and sizes as people read them. */

const integer = new Intl.NumberFormat('en-US');

/** @param {number | null | undefined} n */
export function number(n) {
  return n === null || n === undefined ? '—' : integer.format(n);
}

/** 1.2k, 3.4M. @param {number} n */
export function compact(n) {
  if (n < 1000) return String(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)}k`;
  return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)}M`;
}

/** @param {number | null | undefined} ms */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return `${minutes} min ${String(seconds).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/**
 * Milliseconds since the epoch from RFC 3339 with up to nanoseconds, keeping the sub-millisecond
 * part `Date.parse` drops. `NaN` for anything else.
 * @param {string | null | undefined} text
 */
export function toMillis(text) {
  if (!text) return NaN;
  const dot = text.indexOf('.', 19);
  if (dot !== 19) return Date.parse(text);
  let end = dot + 1;
  while (end < text.length && text.charCodeAt(end) >= 48 && text.charCodeAt(end) <= 57) end++;
  const whole = Date.parse(text.slice(0, 19) + text.slice(end));
  const fraction = Number(`0${text.slice(dot, end)}`);
  return whole + fraction * 1000;
}

/** Local date and time to the millisecond. @param {string | null | undefined} text */
export function time(text) {
  const ms = toMillis(text);
  if (!Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  const pad = (/** @type {number} */ n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** @param {number | null | undefined} n */
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
