// Test doubles: a scripted @microsoft/signalr (the builder records its options; each
// connection's start() takes the next scripted outcome) and a scripted fetch.
export function fakeSignalR() {
  const connections = []
  const starts = [] // outcomes for successive start() calls: undefined (ok) or an Error
  class FakeConnection {
    constructor(opts) {
      this.opts = opts
      this.handlers = new Map()
      this.reconnecting = []
      this.reconnected = []
      this.closed = []
      this.stopped = false
      connections.push(this)
    }
    on(target, fn) { this.handlers.set(target, fn) }
    onreconnecting(fn) { this.reconnecting.push(fn) }
    onreconnected(fn) { this.reconnected.push(fn) }
    onclose(fn) { this.closed.push(fn) }
    async start() {
      this.token = await this.opts.url.accessTokenFactory()
      const outcome = starts.shift()
      if (outcome) throw outcome
    }
    async stop() { this.stopped = true }
    push(target, arg) { this.handlers.get(target)?.(arg) }
    // Simulates signalr's automatic reconnect: asks the policy, then succeeds or closes.
    simulateReconnect({ reason, ok }) {
      const delay = this.opts.retry.nextRetryDelayInMilliseconds({ previousRetryCount: 0, elapsedMilliseconds: 0, retryReason: reason })
      if (delay === null) {
        this.closed.forEach((f) => f(undefined))
        return null
      }
      this.reconnecting.forEach((f) => f(reason))
      if (ok) this.reconnected.forEach((f) => f('new-id'))
      return delay
    }
  }
  class HubConnectionBuilder {
    constructor() { this.o = { stateful: false } }
    withUrl(url, options) { this.o.url = { url, ...options }; return this }
    withAutomaticReconnect(policy) { this.o.retry = policy; return this }
    withStatefulReconnect() { this.o.stateful = true; return this }
    configureLogging(level) { this.o.logLevel = level; return this }
    build() { return new FakeConnection(this.o) }
  }
  return { module: { HubConnectionBuilder, LogLevel: { Warning: 3 } }, connections, starts }
}

export class HttpError extends Error {
  constructor(status) {
    super(`${status === 401 ? 'Unauthorized' : 'Error'}: Status code '${status}'`)
    this.statusCode = status
  }
}

/** A fetch whose answers come from `routes(method, url, init)`; calls are recorded. */
export function fakeFetch(routes) {
  const calls = []
  const fn = async (url, init = {}) => {
    calls.push({ url, method: init.method, headers: init.headers || {}, body: init.body })
    const r = await routes(init.method, url, init)
    if (r instanceof Error) throw r
    const { status = 200, body } = r
    return { status, ok: status >= 200 && status < 300, text: async () => (body === undefined ? '' : JSON.stringify(body)) }
  }
  fn.calls = calls
  return fn
}

export const tick = () => new Promise((r) => setImmediate(r))
