// @ts-check
/**
 * A span's displayed status, from all the evidence, saying where it came from: whether it is
 * still running, its status code, Orcheo's `orcheo.node.status`, and a recorded error.
 *
 * The server already reads an unset status code from `orcheo.node.status` when that says
 * success or failure (so `status.code` may be Orcheo's word rather than the exporter's); the
 * page adds the values that have no status code (cancelled, skipped), a recorded error under an
 * unset code, and says which evidence decided.
 */

/** @typedef {'running' | 'error' | 'completed' | 'cancelled' | 'skipped' | 'unset'} StatusState */

/** What Orcheo writes in `orcheo.node.status`, lower case, by the state it means. */
const NODE_STATUS = /** @type {Record<string, StatusState>} */ ({
  completed: 'completed',
  complete: 'completed',
  success: 'completed',
  succeeded: 'completed',
  ok: 'completed',
  done: 'completed',
  error: 'error',
  failed: 'error',
  failure: 'error',
  cancelled: 'cancelled',
  canceled: 'cancelled',
  aborted: 'cancelled',
  interrupted: 'cancelled',
  skipped: 'skipped',
});

/** @type {Record<StatusState, string>} */
const LABEL = {
  running: 'running',
  error: 'error',
  completed: 'completed',
  cancelled: 'cancelled',
  skipped: 'skipped',
  unset: 'status unset',
};

/**
 * @param {{status?: {code?: string} | null, in_progress?: boolean, attributes?: Record<string, any> | null, error?: any}} span
 * @returns {{state: StatusState, label: string, source: string}}
 */
export function spanStatus(span) {
  const code = String(span.status?.code || 'UNSET').toUpperCase();
  const raw = span.attributes ? span.attributes['orcheo.node.status'] : undefined;
  const nodeText = typeof raw === 'string' ? raw.trim() : '';
  const node = NODE_STATUS[nodeText.toLowerCase()] || null;
  const nodeSays = `orcheo.node.status “${nodeText}”`;
  const result = (/** @type {StatusState} */ state, /** @type {string} */ source) => ({ state, label: LABEL[state], source });
  if (span.in_progress) return result('running', 'the span has not ended yet');
  if (code === 'ERROR') {
    return result('error', node === 'error' ? `${nodeSays} and the span's status ERROR` : "the span's status ERROR");
  }
  if (node === 'error') return result('error', nodeSays);
  if (node === 'cancelled' || node === 'skipped') {
    return result(node, `${nodeSays}; span status ${code === 'OK' ? 'OK' : 'unset'}`);
  }
  if (code === 'OK') {
    return result('completed', node === 'completed' ? nodeSays : "the span's status OK");
  }
  if (span.error) return result('error', 'the error the span recorded; span status unset');
  if (node === 'completed') return result('completed', `${nodeSays}; span status unset`);
  return result('unset', nodeText
    ? `span status unset; ${nodeSays} is not a state this page knows`
    : 'span status unset and no orcheo.node.status');
}
