// @ts-check
/** Numbers, times and sizes as people read them. */

const integer = new Intl.NumberFormat('en-US');

/** @param {number | null | undefined} n */
export function number(n) {
  return n === null || n === undefined ? '—' : integer.format(n);
}

/**
 * 1.2k, 34k, 3.4M: one decimal below ten of a unit. Rounding that reaches the next step moves
 * to it, so 9,998 reads "10k" and 999,960 "1.0M", never "10.0k" or "1000k".
 * @param {number} n
 */
export function compact(n) {
  if (!Number.isFinite(n)) return '—';
  if (Math.abs(n) < 1000) return String(n);
  const units = [[1e3, 'k'], [1e6, 'M'], [1e9, 'B']];
  for (let u = 0; u < units.length; u++) {
    const [size, suffix] = /** @type {[number, string]} */ (units[u]);
    const value = Math.abs(n) / size;
    const digits = value < 9.95 ? 1 : 0;
    const rounded = Number(value.toFixed(digits));
    if (rounded < 1000 || u === units.length - 1) return `${n < 0 ? '-' : ''}${rounded.toFixed(digits)}${suffix}`;
  }
  return String(n);
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

/** US dollars: four decimals under a dollar (model calls cost fractions of a cent). @param {number} usd */
export function money(usd) {
  if (!Number.isFinite(usd)) return '—';
  if (usd === 0) return '$0';
  if (usd < 0.0001) return '<$0.0001';
  if (usd < 1) return `$${usd.toFixed(4)}`;
  if (usd < 1000) return `$${usd.toFixed(2)}`;
  return `$${integer.format(Math.round(usd))}`;
}

/**
 * A run's cost as the page says it (`cost` of an execution): the sum, marked `+` when some
 * spans could not be priced, and a sentence that says which. Never a silent zero.
 * @param {{usd: number | null, complete: boolean, unpriced_spans: number, unpriced_models: string[]} | null | undefined} cost
 * @returns {{text: string, note: string | null}}
 */
export function runCost(cost) {
  if (!cost) return { text: '—', note: null };
  const models = cost.unpriced_models && cost.unpriced_models.length ? ` (${cost.unpriced_models.join(', ')})` : '';
  const spans = `${number(cost.unpriced_spans)} ${cost.unpriced_spans === 1 ? 'span' : 'spans'}`;
  if (cost.usd === null || cost.usd === undefined) return { text: 'not priced', note: `No price for the models of ${spans}${models}` };
  if (!cost.complete) return { text: `${money(cost.usd)}+`, note: `Without ${spans} that could not be priced${models}` };
  return { text: money(cost.usd), note: null };
}

/**
 * A span's own cost: its dollars, or why it has none.
 * @param {{usd: number | null, priced_as?: string, unpriced?: string} | null | undefined} cost
 */
export function spanCost(cost) {
  if (!cost) return null;
  if (cost.usd !== null && cost.usd !== undefined) return { text: money(cost.usd), note: cost.priced_as ? `priced as ${cost.priced_as}` : null };
  return { text: 'not priced', note: cost.unpriced === 'no_model' ? 'the span names no model' : 'its model is not in the price table' };
}

/** @param {number | null | undefined} n */
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
