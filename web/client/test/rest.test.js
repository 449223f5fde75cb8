import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChatClient, ChatError } from '../src/index.js'
import { fakeFetch, fakeSignalR } from './fakes.js'

function client(routes, token = () => 'tok-1') {
  const f = fakeFetch(routes)
  const c = new ChatClient({ token, fetch: f, signalR: fakeSignalR().module, baseUrl: 'http://gw' })
  return { c, f }
}

test('a gateway error answer becomes a ChatError with its code, status and message', async () => {
  const { c } = client(() => ({ status: 404, body: { error: 'not_found', message: 'no such room' } }))
  await assert.rejects(c.api.messages('r1'), (err) => {
    assert.ok(err instanceof ChatError)
    assert.equal(err.code, 'not_found')
    assert.equal(err.status, 404)
    assert.equal(err.message, 'no such room')
    return true
  })
})

test('an answer without a body gets the code the gateway uses for its status', async () => {
  const { c } = client(() => ({ status: 413 }))
  await assert.rejects(c.api.upload('r1', 'x'), { code: 'too_large', status: 413 })
})

test('a network failure is code "network", status 0, never a bare TypeError', async () => {
  const { c } = client(() => new TypeError('Failed to fetch'))
  await assert.rejects(c.api.rooms(), (err) => err instanceof ChatError && err.code === 'network' && err.status === 0 && err.network)
})

test('calls carry the bearer token, JSON bodies and encoded paths', async () => {
  const { c, f } = client(() => ({ status: 201, body: { message: { _id: 'm1' } } }))
  await c.api.send('room/1', 'hi', 'ID17')
  const call = f.calls[0]
  assert.equal(call.url, 'http://gw/api/im/rooms/room%2F1/messages')
  assert.equal(call.method, 'POST')
  assert.equal(call.headers.Authorization, 'Bearer tok-1')
  assert.equal(call.headers['Content-Type'], 'application/json')
  assert.deepEqual(JSON.parse(call.body), { id: 'ID17', text: 'hi' })
  await c.api.messages('r1', { before: '2026-01-01T00:00:00.000Z', count: 20 })
  assert.equal(f.calls[1].url, 'http://gw/api/im/rooms/r1/messages?count=20&before=2026-01-01T00%3A00%3A00.000Z')
})

test('a 401 asks the token source for a fresh token once and retries with it', async () => {
  const asked = []
  const token = ({ forceRefresh }) => {
    asked.push(forceRefresh)
    return forceRefresh ? 'fresh' : 'stale'
  }
  const { c, f } = client((m, url, init) => (init.headers.Authorization === 'Bearer fresh' ? { body: { rooms: [] } } : { status: 401, body: { error: 'unauthorized', message: 'a valid bearer token is required' } }), token)
  const res = await c.api.rooms()
  assert.deepEqual(res, { rooms: [] })
  assert.deepEqual(asked, [false, true])
  assert.equal(f.calls.length, 2)
})

test('a token still rejected after a refresh emits "unauthorized" once and throws', async () => {
  const { c } = client(() => ({ status: 401, body: { error: 'unauthorized', message: 'nope' } }))
  const seen = []
  c.on('unauthorized', (e) => seen.push(e))
  await assert.rejects(c.api.rooms(), (err) => err.unauthorized && err.code === 'unauthorized')
  await assert.rejects(c.api.me(), { status: 401 })
  assert.equal(seen.length, 1)
  assert.equal(seen[0].status, 401)
})
