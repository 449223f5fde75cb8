import { test } from 'node:test'
import assert from 'node:assert/strict'
import { effectScope, nextTick, ref } from 'vue'
import { ChatClient } from '../src/index.js'
import { createChatStore, useConnectionState, useMessages, useRooms } from '../src/vue.js'
import { fakeFetch, fakeSignalR, tick } from './fakes.js'

const ME = { rcUserId: 'u-alice', username: 'alice', name: 'Alice' }
const msg = (id, ts, uid = 'u-bob', text = id) => ({ _id: id, rid: 'r1', msg: text, ts, _updatedAt: ts, u: { _id: uid, username: uid.slice(2) } })

function setup(routes) {
  const sr = fakeSignalR()
  const f = fakeFetch(routes)
  const client = new ChatClient({ token: 'tok', fetch: f, signalR: sr.module })
  const store = createChatStore(client, { me: ME, pageSize: 2 })
  return { client, store, sr, f }
}

test('useRooms: rooms sorted by activity, unread counts follow subscription pushes', async () => {
  const { client, store, sr } = setup(() => ({ body: { rooms: [
    { id: 'r1', name: 'general', unread: 0, lastMessage: msg('a', '2026-01-01T10:00:00Z') },
    { id: 'r2', name: 'dev', unread: 1, lastMessage: msg('b', '2026-01-02T10:00:00Z') },
  ] } }))
  const scope = effectScope()
  const rooms = scope.run(() => useRooms(store))
  await rooms.refresh()
  assert.deepEqual(rooms.rooms.value.map((r) => r.id), ['r2', 'r1'])
  assert.equal(rooms.totalUnread.value, 1)
  await client.start()
  sr.connections[0].push('getRoomSubscriptionChangedNotification', { method: 'updated', msg: { rid: 'r1', t: 'c', name: 'general', unread: 3, userMentions: 1, alert: true } })
  assert.equal(rooms.byId('r1').unread, 3)
  assert.equal(rooms.byId('r1').mentions, 1)
  assert.equal(rooms.totalUnread.value, 4)
  sr.connections[0].push('getRoomMessageNotification', msg('c', '2026-01-03T10:00:00Z'))
  assert.deepEqual(rooms.rooms.value.map((r) => r.id), ['r1', 'r2'], 'a new message moves its room up')
  sr.connections[0].push('getRoomSubscriptionChangedNotification', { method: 'removed', msg: { rid: 'r2' } })
  assert.deepEqual(rooms.rooms.value.map((r) => r.id), ['r1'])
  scope.stop()
})

test('useMessages: loads the newest page, pages back with before=<oldest ts>, marks own messages', async () => {
  const pages = {
    first: { messages: [msg('m4', '2026-01-01T10:04:00Z', 'u-alice'), msg('m3', '2026-01-01T10:03:00Z')], hasMore: true },
    older: { messages: [msg('m2', '2026-01-01T10:02:00Z'), msg('m1', '2026-01-01T10:01:00Z')], hasMore: false },
  }
  const { store, f } = setup((m, url) => ({ body: url.includes('before=') ? pages.older : pages.first }))
  const rid = ref('')
  const scope = effectScope()
  const view = scope.run(() => useMessages(rid, store))
  assert.deepEqual(view.messages.value, [])
  rid.value = 'r1'
  await nextTick()
  await tick()
  assert.deepEqual(view.messages.value.map((m) => m._id), ['m3', 'm4'])
  assert.deepEqual(view.messages.value.map((m) => m.from), ['opposite', 'self'])
  assert.equal(view.hasMore.value, true)
  await view.loadOlder()
  assert.match(f.calls[1].url, /before=2026-01-01T10%3A03%3A00Z/)
  assert.deepEqual(view.messages.value.map((m) => m._id), ['m1', 'm2', 'm3', 'm4'])
  assert.equal(view.hasMore.value, false)
  scope.stop()
})

test('a push of an edit replaces the message; an older copy does not undo it; delete removes it', async () => {
  const { client, store, sr } = setup(() => ({ body: { messages: [msg('m1', '2026-01-01T10:00:00Z')], hasMore: false } }))
  const scope = effectScope()
  const view = scope.run(() => useMessages('r1', store))
  await tick()
  await client.start()
  const edited = { ...msg('m1', '2026-01-01T10:00:00Z', 'u-bob', 'line one\nline two'), _updatedAt: '2026-01-01T11:00:00Z', editedAt: '2026-01-01T11:00:00Z' }
  sr.connections[0].push('getRoomMessageNotification', edited)
  sr.connections[0].push('getRoomMessageNotification', msg('m1', '2026-01-01T10:00:00Z'))
  assert.equal(view.messages.value[0].msg, 'line one\nline two')
  sr.connections[0].push('getRoomMessageDeletedNotification', { rid: 'r1', _id: 'm1' })
  assert.equal(view.messages.value.length, 0)
  scope.stop()
})

test('a failed send stays as "failed" with its error; retry resends the same client id', async () => {
  let fail = true
  const { store, f } = setup((method, url, init) => {
    if (method === 'GET') return { body: { messages: [], hasMore: false } }
    if (fail) return new TypeError('Failed to fetch')
    const body = JSON.parse(init.body)
    return { status: 201, body: { message: { ...msg(body.id, new Date().toISOString(), 'u-alice', body.text) } } }
  })
  const scope = effectScope()
  const view = scope.run(() => useMessages('r1', store))
  await tick()
  await assert.rejects(view.send('first line\nsecond line  '), { code: 'network' })
  const failed = view.messages.value[0]
  assert.equal(failed.status, 'failed')
  assert.equal(failed.error.code, 'network')
  assert.equal(failed.msg, 'first line\nsecond line', 'inner line breaks are kept')
  fail = false
  await view.retry(failed)
  const posts = f.calls.filter((c) => c.method === 'POST').map((c) => JSON.parse(c.body).id)
  assert.equal(posts.length, 2)
  assert.equal(posts[0], posts[1])
  assert.deepEqual(view.messages.value.map((m) => [m._id, m.status, m.from]), [[posts[0], 'sent', 'self']])
  scope.stop()
})

test('after a reconnect the shown room is refetched and others are marked stale', async () => {
  let round = 0
  const { client, store, sr, f } = setup((m, url) => {
    if (url.endsWith('/api/im/rooms')) return { body: { rooms: [{ id: 'r1', name: 'general', unread: 5 }] } }
    round++
    return { body: { messages: round === 1 ? [msg('m1', '2026-01-01T10:00:00Z')] : [msg('m2', '2026-01-01T10:05:00Z'), msg('m1', '2026-01-01T10:00:00Z')], hasMore: false } }
  })
  store.bucket('r9').loaded = true
  const scope = effectScope()
  const view = scope.run(() => useMessages('r1', store))
  const state = scope.run(() => useConnectionState(store))
  await tick()
  await client.start()
  assert.equal(state.value, 'connected')
  sr.connections[0].simulateReconnect({ reason: new Error('1006'), ok: true })
  assert.equal(state.value, 'connected')
  for (let i = 0; i < 5; i++) await tick()
  assert.deepEqual(view.messages.value.map((m) => m._id), ['m1', 'm2'], 'the message of the gap is there')
  assert.equal(store.rooms.get('r1').unread, 5)
  assert.equal(store.buckets.get('r9').stale, true)
  assert.equal(f.calls.filter((c) => c.url.includes('/rooms/r9/')).length, 0)
  scope.stop()
})
