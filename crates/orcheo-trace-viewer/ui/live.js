// @ts-check
/**
 * The live feed of a running execution: `trace:update` messages over the WebSocket route,
 * reconnecting with backoff when the connection drops, until the run is complete.
 */
import { liveSocket } from './api.js';

export class LiveFeed {
  /**
   * @param {string} executionId
   * @param {{onSpans: (spans: any[]) => void, onComplete: () => void, onState: (state: 'live' | 'reconnecting' | 'closed') => void}} handlers
   */
  constructor(executionId, handlers) {
    this.executionId = executionId;
    this.handlers = handlers;
    this.stopped = false;
    this.attempt = 0;
    /** @type {WebSocket | null} */
    this.socket = null;
    this.timer = 0;
    /** The last span sequence received: a reconnection resumes after it. */
    this.cursor = 0;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    let socket;
    try {
      socket = liveSocket(this.executionId, this.cursor);
    } catch {
      this.retry();
      return;
    }
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.attempt = 0;
      this.handlers.onState('live');
    });
    socket.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        return;
      }
      if (!message || message.type !== 'trace:update') return;
      if (Number.isSafeInteger(message.cursor) && message.cursor > this.cursor) this.cursor = message.cursor;
      if (Array.isArray(message.spans) && message.spans.length) this.handlers.onSpans(message.spans);
      if (message.complete) {
        this.stop();
        this.handlers.onComplete();
      }
    });
    socket.addEventListener('close', () => {
      if (this.socket === socket) this.socket = null;
      this.retry();
    });
  }

  retry() {
    if (this.stopped) return;
    this.handlers.onState('reconnecting');
    const delay = Math.min(30_000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  stop() {
    this.stopped = true;
    window.clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
    this.handlers.onState('closed');
  }
}
