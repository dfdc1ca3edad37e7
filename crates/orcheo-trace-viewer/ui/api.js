// @ts-check
/** The server's JSON API as the page calls it: one place for the token and for errors. */

const TOKEN_KEY = 'orcheo-trace.token';

/** The bearer token kept for this browser session ('' when none). */
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

/** @param {string} value '' forgets the token. */
export function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (private mode): the token lasts until the page is left.
  }
}

/** An answer that was not a success, with the server's error code when it gave one. */
export class ApiError extends Error {
  /**
   * @param {number} status 0 when the server could not be reached
   * @param {string} code
   * @param {string} message
   * @param {string | null} requestId
   * @param {number | null} retryAfter seconds
   */
  constructor(status, code, message, requestId = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

function headers() {
  /** @type {Record<string, string>} */
  const h = { Accept: 'application/json' };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

/** @param {string} path @param {AbortSignal} [signal] */
async function request(path, signal) {
  let response;
  try {
    response = await fetch(path, { headers: headers(), signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server could not be reached.');
  }
  if (response.ok) return response;
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not our envelope (a proxy's page, say): the status says enough.
  }
  const error = body && typeof body === 'object' ? body.error : null;
  const retry = Number(response.headers.get('Retry-After'));
  throw new ApiError(
    response.status,
    (error && error.code) || `http_${response.status}`,
    (error && error.message) || response.statusText || `HTTP ${response.status}`,
    (error && error.request_id) || response.headers.get('x-request-id'),
    Number.isFinite(retry) && retry > 0 ? retry : null,
  );
}

/** @param {string} path @param {AbortSignal} [signal] */
export async function getJson(path, signal) {
  const response = await request(path, signal);
  try {
    return await response.json();
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(response.status, 'bad_response', 'The server answered something that is not JSON.');
  }
}

/** A download (an artifact), fetched with the token so it works behind authentication. @param {string} path */
export async function getBlob(path) {
  const response = await request(path);
  return response.blob();
}

/** @param {string} executionId */
export function tracePath(executionId) {
  return `/api/executions/${encodeURIComponent(executionId)}/trace`;
}

/**
 * The trace as a tree, the view this page draws (the route's default is the flat span list
 * Canvas reads). A later page adds `&cursor=…`.
 * @param {string} executionId
 */
export function treePath(executionId) {
  return `${tracePath(executionId)}?view=tree`;
}

/**
 * The execution's trace as a file: `json` (the whole tree) or `csv` (a row per span).
 * @param {string} executionId
 * @param {'json' | 'csv'} format
 */
export function exportPath(executionId, format) {
  return `/api/executions/${encodeURIComponent(executionId)}/export?format=${format}`;
}

/**
 * Every execution a list's filters match, each with its whole trace, as one file: `json` (an
 * `orcheo-trace-export-set` document) or `csv` (a row per span of every execution).
 * @param {URLSearchParams} filters the list's filters, without paging
 * @param {'json' | 'csv'} format
 */
export function exportResultsPath(filters, format) {
  const query = new URLSearchParams(filters);
  query.set('format', format);
  return `/api/executions/export?${query}`;
}

/** What a WebSocket subprotocol may hold (an HTTP token). */
const SUBPROTOCOL = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The live feed of an execution, from after `cursor` (0: from the start). Browsers cannot set
 * headers on a WebSocket, so the token travels as the `bearer.<token>` subprotocol, as Canvas
 * sends it, or, when it holds characters a subprotocol cannot, as `access_token`.
 * @param {string} executionId
 * @param {number} cursor
 */
export function liveSocket(executionId, cursor) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = new URLSearchParams();
  if (cursor > 0) query.set('after', String(cursor));
  const t = token();
  if (t && !SUBPROTOCOL.test(t)) query.set('access_token', t);
  const url = `${scheme}//${location.host}${tracePath(executionId)}/live${query.size ? `?${query}` : ''}`;
  return t && SUBPROTOCOL.test(t) ? new WebSocket(url, ['orcheo-auth', `bearer.${t}`]) : new WebSocket(url);
}
