import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChatClient, TARGETS, isAuthRejection } from '../src/index.js'
import { HttpError, fakeFetch, fakeSignalR, tick } from './fakes.js'

function setup({ token = () => 'tok', routes = () => ({ body: { rooms: [{ id: 'r1', name: 'general', unread: 2 }] } }) } = {}) {
  const sr = fakeSignalR()
  const timers = []
  const f = fakeFetch(routes)
  const c = new ChatClient({
    token, fetch: f, signalR: sr.module,
    setTimeout: (fn, ms) => { timers.push({ fn, ms }); return timers.length },
    clearTimeout: () => {},
  })
  return { c, sr, f, timers }
}

test('the hub connection uses /signalr, the token factory, stateful reconnect and every push target', async () => {
  const { c, sr } = setup()
  const states = []
  c.on('state', (s) => states.push(s))
  await c.start()
  const conn = sr.connections[0]
  assert.equal(conn.opts.url.url, '/signalr')
  assert.equal(conn.token, 'tok')
  assert.equal(conn.opts.stateful, true)
  for (const target of Object.values(TARGETS)) assert.ok(conn.handlers.has(target), target)
  assert.deepEqual(states, ['connecting', 'connected'])
  assert.equal(c.state, 'connected')
})

test('each push target is emitted as its typed event; custom targets too', async () => {
  const { c, sr } = setup()
  const got = []
  c.on('message', (m) => got.push(['message', m._id]))
  c.on('subscription', (s) => got.push(['subscription', s.method]))
  c.on('messageDeleted', (d) => got.push(['messageDeleted', d._id]))
  c.on('notification', (n) => got.push(['notification', n.title]))
  await c.start()
  c.on('orderShipped', (p) => got.push(['orderShipped', p.order]))
  const conn = sr.connections[0]
  conn.push('getRoomMessageNotification', { _id: 'm1' })
  conn.push('getRoomSubscriptionChangedNotification', { method: 'updated', msg: {} })
  conn.push('getRoomMessageDeletedNotification', { rid: 'r', _id: 'm2' })
  conn.push('getNotification', { title: 'bob' })
  conn.push('orderShipped', { order: 7 })
  assert.deepEqual(got, [['message', 'm1'], ['subscription', 'updated'], ['messageDeleted', 'm2'], ['notification', 'bob'], ['orderShipped', 7]])
})

test('after an automatic reconnect the client refetches the rooms and emits resync', async () => {
  const { c, sr, f } = setup()
  await c.start()
  const events = []
  c.on('reconnected', () => events.push('reconnected'))
  c.on('resync', (r) => events.push(['resync', r.rooms.map((x) => x.id)]))
  c.on('state', (s) => events.push(s))
  const delay = sr.connections[0].simulateReconnect({ reason: new Error('WebSocket closed with status code: 1006'), ok: true })
  assert.equal(delay, 0)
  await tick()
  assert.deepEqual(events, ['reconnecting', 'connected', 'reconnected', ['resync', ['r1']]])
  assert.match(f.calls[0].url, /\/api\/im\/rooms$/)
})

test('a reconnect rejected with 401 stops retrying, tries one fresh token, then reports unauthorized', async () => {
  let fresh = 0
  const { c, sr } = setup({ token: ({ forceRefresh } = {}) => { if (forceRefresh) fresh++; return 'tok' } })
  await c.start()
  const lost = []
  c.on('unauthorized', (e) => lost.push(e))
  sr.starts.push(new HttpError(401)) // the fresh-token restart is rejected too
  const delay = sr.connections[0].simulateReconnect({ reason: new Error("Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'") })
  assert.equal(delay, null)
  await tick()
  await tick()
  assert.equal(fresh, 1)
  assert.equal(sr.connections.length, 2)
  assert.equal(lost.length, 1)
  assert.equal(lost[0].status, 401)
  assert.equal(c.state, 'disconnected')
})

test('a reconnect rejected with 401 recovers when the token source has a fresh token', async () => {
  let fresh = false
  const { c, sr } = setup({ token: ({ forceRefresh } = {}) => { if (forceRefresh) fresh = true; return fresh ? 'new' : 'old' } })
  await c.start()
  const events = []
  c.on('unauthorized', () => events.push('unauthorized'))
  c.on('resync', () => events.push('resync'))
  sr.connections[0].simulateReconnect({ reason: new HttpError(401) })
  await tick()
  await tick()
  assert.equal(sr.connections[1].token, 'new')
  assert.equal(c.state, 'connected')
  assert.deepEqual(events, ['resync'])
})

test('a failed first start is reported and retried in the background until stop', async () => {
  const { c, sr, timers } = setup()
  sr.starts.push(new Error('Failed to fetch'))
  await assert.rejects(c.start(), { code: 'network' })
  assert.equal(timers.length, 1)
  await timers[0].fn()
  assert.equal(c.state, 'connected')
  assert.equal(sr.connections.length, 2)
  await c.stop()
  assert.equal(sr.connections[1].stopped, true)
  assert.equal(c.state, 'disconnected')
})

test('a connection closed by the server (not by stop) is restarted and resynced', async () => {
  const { c, sr, timers, f } = setup()
  await c.start()
  sr.connections[0].closed.forEach((fn) => fn(new Error('Server timeout elapsed')))
  assert.equal(c.state, 'disconnected')
  assert.equal(timers.length, 1)
  const resynced = new Promise((r) => c.on('resync', r))
  await timers[0].fn()
  await resynced
  assert.equal(c.state, 'connected')
  assert.equal(f.calls.length, 1)
})

test('the retry policy keeps retrying network errors with capped delays', async () => {
  const { c, sr } = setup()
  await c.start()
  const policy = sr.connections[0].opts.retry
  const d = (n) => policy.nextRetryDelayInMilliseconds({ previousRetryCount: n, elapsedMilliseconds: 0, retryReason: new Error('x') })
  assert.equal(d(0), 0)
  assert.equal(d(100), 30000)
  assert.equal(isAuthRejection(new HttpError(401)), true)
  assert.equal(isAuthRejection(new HttpError(500)), false)
})
