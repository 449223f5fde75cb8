import { test } from 'node:test'
import assert from 'node:assert/strict'
import { effectScope } from 'vue'
import { ChatClient } from '../src/index.js'
import { createChatStore, useMessages, useThread } from '../src/vue.js'
import { fakeFetch, fakeSignalR, tick } from './fakes.js'

const ME = { rcUserId: 'u-alice', username: 'alice', name: 'Alice' }
const msg = (id, ts, uid = 'u-bob', extra = {}) => ({ _id: id, rid: 'r1', msg: id, ts, _updatedAt: ts, u: { _id: uid, username: uid.slice(2) }, ...extra })

function setup(routes) {
  const sr = fakeSignalR()
  const f = fakeFetch(routes)
  const client = new ChatClient({ token: 'tok', fetch: f, signalR: sr.module, baseUrl: 'http://gw' })
  const store = createChatStore(client, { me: ME })
  return { client, store, sr, f }
}

test('react sends on:true when the user has not reacted with that emoji and on:false when they have', async () => {
  const { store, f } = setup(() => ({ status: 204 }))
  const m = msg('m1', '2026-01-01T10:00:00Z', 'u-bob', { reactions: { ':+1:': { usernames: ['bob', 'alice'] } } })
  await store.react(m, '+1')
  await store.react(m, ':tada:')
  assert.equal(f.calls[0].url, 'http://gw/api/im/rooms/r1/messages/m1/reactions')
  assert.deepEqual(JSON.parse(f.calls[0].body), { emoji: ':+1:', on: false })
  assert.deepEqual(JSON.parse(f.calls[1].body), { emoji: ':tada:', on: true })
})

test('a pushed message update carries the new reactions into the list', async () => {
  const { client, store, sr } = setup(() => ({ body: { messages: [msg('m1', '2026-01-01T10:00:00Z')], hasMore: false } }))
  const scope = effectScope()
  const view = scope.run(() => useMessages('r1', store))
  await tick()
  await client.start()
  sr.connections[0].push('getRoomMessageNotification', msg('m1', '2026-01-01T10:00:00Z', 'u-bob', { _updatedAt: '2026-01-01T10:01:00Z', reactions: { ':+1:': { usernames: ['alice'] } } }))
  assert.deepEqual(view.messages.value[0].reactions, { ':+1:': { usernames: ['alice'] } })
  assert.equal(view.reactedByMe(view.messages.value[0], ':+1:'), true)
  scope.stop()
})

test('useThread loads the replies, a pushed reply joins them, and a reply is sent with tmid', async () => {
  const { client, store, sr, f } = setup((method, url, init) => {
    if (url.includes('/threads/p1/messages')) return { body: { messages: [msg('r-a', '2026-01-01T10:01:00Z', 'u-bob', { tmid: 'p1' })], total: 1, hasMore: false } }
    if (method === 'POST') {
      const b = JSON.parse(init.body)
      return { status: 201, body: { message: msg('sent1', '2026-01-01T10:03:00Z', 'u-alice', { msg: b.text, tmid: b.tmid }) } }
    }
    return { body: { messages: [], hasMore: false } }
  })
  const scope = effectScope()
  const th = scope.run(() => useThread('r1', 'p1', store))
  await tick()
  assert.deepEqual(th.messages.value.map((m) => m._id), ['r-a'])
  assert.equal(f.calls[0].url, 'http://gw/api/im/rooms/r1/threads/p1/messages?count=100&offset=0')
  await client.start()
  sr.connections[0].push('getRoomMessageNotification', msg('r-b', '2026-01-01T10:02:00Z', 'u-bob', { tmid: 'p1' }))
  sr.connections[0].push('getRoomMessageNotification', msg('other', '2026-01-01T10:02:30Z', 'u-bob', { tmid: 'p2' }))
  assert.deepEqual(th.messages.value.map((m) => m._id), ['r-a', 'r-b'], 'a reply of another thread stays out')
  await th.send('me too')
  const post = f.calls.find((c) => c.method === 'POST')
  assert.deepEqual(JSON.parse(post.body).tmid, 'p1')
  assert.deepEqual(th.messages.value.map((m) => [m._id, m.status, m.from]), [['r-a', 'sent', 'opposite'], ['r-b', 'sent', 'opposite'], ['sent1', 'sent', 'self']])
  scope.stop()
})

test('search asks the room with q and marks who wrote each hit; loadUntil pages back to a hit', async () => {
  const pages = [
    { messages: [msg('m4', '2026-01-01T10:04:00Z'), msg('m3', '2026-01-01T10:03:00Z')], hasMore: true },
    { messages: [msg('m2', '2026-01-01T10:02:00Z'), msg('m1', '2026-01-01T10:01:00Z', 'u-alice')], hasMore: false },
  ]
  const { store, f } = setup((method, url) => {
    if (url.includes('/search?')) return { body: { messages: [msg('m1', '2026-01-01T10:01:00Z', 'u-alice')] } }
    return { body: url.includes('before=') ? pages[1] : pages[0] }
  })
  const hits = await store.search('r1', 'deploy plan')
  assert.equal(f.calls[0].url, 'http://gw/api/im/rooms/r1/search?q=deploy+plan&count=20&offset=0')
  assert.deepEqual(hits.map((h) => [h._id, h.from]), [['m1', 'self']])
  assert.equal(await store.loadUntil('r1', 'm1', hits[0].ts), true)
  assert.deepEqual(store.buckets.get('r1').list.map((m) => m._id), ['m1', 'm2', 'm3', 'm4'])
})

test('a thread reply does not become its room\'s last message; a reply also shown in the room does', async () => {
  const { client, store, sr } = setup(() => ({ body: { rooms: [{ id: 'r1', name: 'general', unread: 0, lastMessage: msg('m1', '2026-01-01T10:00:00Z') }] } }))
  await store.loadRooms()
  await client.start()
  sr.connections[0].push('getRoomMessageNotification', msg('reply', '2026-01-01T10:05:00Z', 'u-bob', { tmid: 'm1' }))
  assert.equal(store.rooms.get('r1').lastMessage._id, 'm1')
  sr.connections[0].push('getRoomMessageNotification', msg('shown', '2026-01-01T10:06:00Z', 'u-bob', { tmid: 'm1', tshow: true }))
  assert.equal(store.rooms.get('r1').lastMessage._id, 'shown')
})
