// ChatClient owns one user's connection to rcgateway: the SignalR hub connection (token
// factory with refresh, automatic and stateful reconnect, a fresh start after the
// connection closed, the resync a client needs after any gap), the typed push events and
// the /api/im REST calls. It knows nothing of any UI framework; ./vue.js builds on it.
import * as signalRModule from '@microsoft/signalr'
import { ChatError, isAuthRejection } from './errors.js'
import { createRest } from './rest.js'

/** The gateway's push targets (docs/http-api.md, "Push targets") by event name. */
export const TARGETS = Object.freeze({
  message: 'getRoomMessageNotification',
  subscription: 'getRoomSubscriptionChangedNotification',
  messageDeleted: 'getRoomMessageDeletedNotification',
  notification: 'getNotification',
  typing: 'getTypingNotification',
  presence: 'getPresenceNotification',
})

const LIFECYCLE = new Set(['state', 'reconnected', 'resync', 'unauthorized', 'error'])
const DEFAULT_DELAYS = [0, 1000, 2000, 5000, 10000, 15000, 30000]

export class ChatClient {
  /**
   * @param {import('../index').ChatClientOptions} options
   */
  constructor(options = {}) {
    const { token } = options
    if (typeof token !== 'function' && typeof token !== 'string') {
      throw new TypeError('ChatClient: token must be a string or a function returning the product JWT')
    }
    this._tokenFn = typeof token === 'function' ? token : () => token
    this._baseUrl = (options.baseUrl || '').replace(/\/$/, '')
    this._hubPath = options.hubPath || '/signalr'
    this._delays = options.reconnectDelays?.length ? options.reconnectDelays : DEFAULT_DELAYS
    this._signalR = options.signalR || signalRModule
    this._stateful = options.statefulReconnect !== false
    this._logLevel = options.logLevel ?? this._signalR.LogLevel?.Warning
    this._setTimeout = options.setTimeout || globalThis.setTimeout.bind(globalThis)
    this._clearTimeout = options.clearTimeout || globalThis.clearTimeout.bind(globalThis)
    const fetchFn = options.fetch || globalThis.fetch.bind(globalThis)

    this._handlers = new Map() // event name -> Set<fn>
    this._customTargets = new Set(options.targets || [])
    this._conn = null
    this._state = 'disconnected'
    this._wanted = false // start() called and stop() not yet
    this._restartTimer = null
    this._restartCount = 0
    this._lastRetryReason = null
    this._lostAuth = false

    this.api = createRest({
      baseUrl: this._baseUrl,
      getToken: (o) => this._token(o),
      fetch: fetchFn,
      XMLHttpRequest: options.XMLHttpRequest || globalThis.XMLHttpRequest,
      onUnauthorized: (err) => this._unauthorized(err),
    })
  }

  /** Connection state: 'disconnected' | 'connecting' | 'connected' | 'reconnecting'. */
  get state() {
    return this._state
  }

  /**
   * Subscribe to an event: 'message', 'subscription', 'messageDeleted', 'notification', 'typing',
   * 'presence' (the gateway's push targets), 'state', 'reconnected', 'resync', 'unauthorized',
   * 'error', or the name of any custom hub target a product backend pushes.
   * Returns a function that unsubscribes.
   */
  on(event, fn) {
    let set = this._handlers.get(event)
    if (!set) {
      set = new Set()
      this._handlers.set(event, set)
    }
    set.add(fn)
    if (!LIFECYCLE.has(event) && !(event in TARGETS) && !this._customTargets.has(event)) {
      this._customTargets.add(event)
      this._conn?.on(event, (arg) => this._emit(event, arg))
    }
    return () => set.delete(fn)
  }

  _emit(event, arg) {
    const set = this._handlers.get(event)
    if (!set) return
    for (const fn of [...set]) {
      try {
        fn(arg)
      } catch (err) {
        if (event !== 'error') this._emit('error', err)
      }
    }
  }

  _setState(s) {
    if (this._state === s) return
    this._state = s
    this._emit('state', s)
  }

  async _token({ forceRefresh = false } = {}) {
    const t = await this._tokenFn({ forceRefresh })
    return t || ''
  }

  _unauthorized(err) {
    if (this._lostAuth) return
    this._lostAuth = true
    this._wanted = false
    this._clearTimeout(this._restartTimer)
    const conn = this._conn
    this._conn = null
    this._setState('disconnected')
    if (conn) conn.stop().catch(() => {})
    this._emit('unauthorized', err instanceof ChatError ? err : new ChatError('unauthorized', 401, 'token rejected', { cause: err }))
  }

  _build() {
    const s = this._signalR
    const builder = new s.HubConnectionBuilder()
      .withUrl(this._baseUrl + this._hubPath, { accessTokenFactory: () => this._token() })
      .withAutomaticReconnect({
        nextRetryDelayInMilliseconds: (ctx) => {
          this._lastRetryReason = ctx.retryReason || null
          // A rejected token will not get better by retrying: close, and let onclose
          // try a fresh token once.
          if (isAuthRejection(ctx.retryReason)) return null
          return this._delays[Math.min(ctx.previousRetryCount, this._delays.length - 1)]
        },
      })
    if (this._stateful && typeof builder.withStatefulReconnect === 'function') builder.withStatefulReconnect()
    if (this._logLevel !== undefined) builder.configureLogging(this._logLevel)
    const conn = builder.build()
    for (const [event, target] of Object.entries(TARGETS)) conn.on(target, (arg) => this._emit(event, arg))
    for (const target of this._customTargets) conn.on(target, (arg) => this._emit(target, arg))
    conn.onreconnecting(() => {
      if (this._conn === conn) this._setState('reconnecting')
    })
    conn.onreconnected(() => {
      if (this._conn !== conn) return
      this._lastRetryReason = null
      this._setState('connected')
      this._afterGap()
    })
    conn.onclose((err) => this._closed(conn, err))
    return conn
  }

  // _afterGap tells listeners a new hub connection replaced a lost one (pushes of the gap
  // may be missing) and refetches the rooms, as the 'resync' event.
  _afterGap() {
    this._emit('reconnected')
    this.resync().catch((err) => this._emit('error', err))
  }

  /** Refetches the room list and emits it as 'resync' ({rooms}); listeners refetch the rest. */
  async resync() {
    const res = await this.api.rooms()
    const rooms = res?.rooms || []
    this._emit('resync', { rooms })
    return rooms
  }

  _closed(conn, err) {
    if (this._conn !== conn) return
    const reason = err || this._lastRetryReason
    this._lastRetryReason = null
    this._conn = null
    this._setState('disconnected')
    if (!this._wanted) return
    if (isAuthRejection(reason)) {
      this._restartAfterAuth(reason)
      return
    }
    this._scheduleRestart()
  }

  async _restartAfterAuth(reason) {
    try {
      await this._connect(true, true)
    } catch (err) {
      if (isAuthRejection(err) || (err instanceof ChatError && err.unauthorized)) this._unauthorized(new ChatError('unauthorized', 401, 'token rejected by the hub', { cause: reason }))
      else this._scheduleRestart()
    }
  }

  _scheduleRestart() {
    if (!this._wanted || this._restartTimer) return
    const delay = this._delays[Math.min(this._restartCount++, this._delays.length - 1)] || 1000
    this._restartTimer = this._setTimeout(async () => {
      this._restartTimer = null
      if (!this._wanted || this._conn) return
      try {
        await this._connect(false, true)
      } catch (err) {
        if (isAuthRejection(err)) this._restartAfterAuth(err)
        else this._scheduleRestart()
      }
    }, delay)
  }

  async _connect(forceRefresh, afterGap) {
    if (forceRefresh) await this._token({ forceRefresh: true })
    const conn = this._build()
    this._conn = conn
    this._setState('connecting')
    try {
      await conn.start()
    } catch (err) {
      if (this._conn === conn) {
        this._conn = null
        this._setState('disconnected')
      }
      throw err
    }
    if (this._conn !== conn) return
    this._restartCount = 0
    this._setState('connected')
    if (afterGap) this._afterGap()
  }

  /**
   * Opens the hub connection. Resolves once connected. A rejected token is retried once
   * with a fresh one, then reported as 'unauthorized' (and thrown); any other failure is
   * thrown as ChatError (code 'network') while the client keeps retrying in the background
   * until stop().
   */
  async start() {
    if (this._conn) return
    this._wanted = true
    this._lostAuth = false
    try {
      await this._connect(false, false)
    } catch (err) {
      if (isAuthRejection(err)) {
        try {
          await this._connect(true, false)
          return
        } catch (err2) {
          if (isAuthRejection(err2)) {
            const e = new ChatError('unauthorized', 401, 'token rejected by the hub', { cause: err2 })
            this._unauthorized(e)
            throw e
          }
          err = err2
        }
      }
      this._scheduleRestart()
      throw new ChatError('network', 0, `hub connection failed: ${err?.message || err}`, { cause: err })
    }
  }

  /** Closes the hub connection and stops retrying. */
  async stop() {
    this._wanted = false
    this._clearTimeout(this._restartTimer)
    this._restartTimer = null
    const conn = this._conn
    this._conn = null
    this._setState('disconnected')
    if (conn) await conn.stop().catch(() => {})
  }

  /** Invokes a hub method (for product hubs that expose some). */
  invoke(method, ...args) {
    if (!this._conn) return Promise.reject(new ChatError('network', 0, 'not connected'))
    return this._conn.invoke(method, ...args)
  }
}
