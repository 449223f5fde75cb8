import { test } from 'node:test'
import assert from 'node:assert/strict'
import { effectScope, ref } from 'vue'
import { ChatClient, createTyping, TYPING_THROTTLE, TYPING_IDLE, TYPING_TIMEOUT, OPEN_REFRESH } from '../src/index.js'
import { createChatStore, useTyping, typingOf } from '../src/vue.js'
import { fakeFetch, fakeSignalR, tick } from './fakes.js'

// A manual clock: timers run when advance() passes their time.
function clock() {
  let t = 0
  let seq = 0
  const timers = new Map()
  const add = (fn, ms, every) => { const id = ++seq; timers.set(id, { fn, at: t + ms, every }); return id }
  return {
    now: () => t,
    setTimeout: (fn, ms) => add(fn, ms, 0),
    clearTimeout: (id) => timers.delete(id),
    setInterval: (fn, ms) => add(fn, ms, ms),
    clearInterval: (id) => timers.delete(id),
    advance(ms) {
      const end = t + ms
      for (;;) {
        const due = [...timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0]
        if (!due) break
        const [id, x] = due
        t = x.at
        if (x.every) x.at += x.every
        else timers.delete(id)
        x.fn()
      }
      t = end
    },
    pending: () => timers.size,
  }
}

function setup(routes = () => ({ status: 204 })) {
  const sr = fakeSignalR()
  const f = fakeFetch(routes)
  const client = new ChatClient({ token: 'tok', fetch: f, signalR: sr.module, baseUrl: 'http://gw' })
  const c = clock()
  return { client, sr, f, c }
}
const bodies = (f, path) => f.calls.filter((x) => x.url === 'http://gw' + path).map((x) => JSON.parse(x.body))

test('opening rooms reports the union once and refreshes it while open; closing reports what is left', async () => {
  const { client, f, c } = setup()
  const t = createTyping(client, { tab: 'tab1', ...c })
  const closeA = t.open('rA')
  const closeA2 = t.open('rA') // a second view of the same room
  t.open('rB')
  await tick()
  assert.deepEqual(bodies(f, '/api/im/open-rooms'), [{ tab: 'tab1', rooms: ['rA'] }, { tab: 'tab1', rooms: ['rA', 'rB'] }])
  assert.equal(f.calls[0].method, 'PUT')
  c.advance(OPEN_REFRESH)
  await tick()
  assert.deepEqual(bodies(f, '/api/im/open-rooms').at(-1), { tab: 'tab1', rooms: ['rA', 'rB'] }, 'refreshed within the gateway TTL')
  closeA()
  closeA() // idempotent
  await tick()
  assert.equal(bodies(f, '/api/im/open-rooms').length, 3, 'still open in the other view: nothing to report')
  closeA2()
  await tick()
  assert.deepEqual(bodies(f, '/api/im/open-rooms').at(-1), { tab: 'tab1', rooms: ['rB'] })
  t.dispose()
  await tick()
  assert.deepEqual(bodies(f, '/api/im/open-rooms').at(-1), { tab: 'tab1', rooms: [] })
  assert.equal(c.pending(), 0, 'no timer left after dispose')
})

test('own typing is throttled, stops after idle and on stopped(), and a refusal is swallowed', async () => {
  // The gateway answers 409 no_upstream when the user's upstream runs on another node.
  const { client, f, c } = setup(() => ({ status: 409, body: { error: 'no_upstream', message: 'x' } }))
  const errors = []
  client.on('error', (e) => errors.push(e))
  const t = createTyping(client, { tab: 'x', ...c })
  t.typed('r1')
  c.advance(1000)
  t.typed('r1') // within the throttle: not sent again
  await tick()
  assert.deepEqual(bodies(f, '/api/im/rooms/r1/typing'), [{ typing: true }])
  c.advance(TYPING_THROTTLE)
  t.typed('r1')
  await tick()
  assert.deepEqual(bodies(f, '/api/im/rooms/r1/typing'), [{ typing: true }, { typing: true }])
  c.advance(TYPING_IDLE)
  await tick()
  assert.deepEqual(bodies(f, '/api/im/rooms/r1/typing').at(-1), { typing: false }, 'idle counts as stopped')
  t.stopped('r1') // already stopped: nothing more
  await tick()
  assert.equal(bodies(f, '/api/im/rooms/r1/typing').length, 3)
  t.typed('r1')
  t.stopped('r1')
  await tick()
  assert.deepEqual(bodies(f, '/api/im/rooms/r1/typing').slice(-2), [{ typing: true }, { typing: false }])
  assert.deepEqual(errors, [], 'a refused typing report is not an error the app must handle')
  t.dispose()
})

test('others typing: shown per room, cleared by false or after the timeout', async () => {
  const { client, sr, c } = setup()
  const t = createTyping(client, { tab: 'x', ...c })
  const seen = []
  t.onChange((rid) => seen.push(rid))
  await client.start()
  const push = (arg) => sr.connections[0].push('getTypingNotification', arg)
  push({ rid: 'r1', username: 'bob', typing: true })
  c.advance(5000)
  push({ rid: 'r1', username: 'carol', typing: true })
  push({ rid: 'r2', username: 'dave', typing: true })
  assert.deepEqual(t.typers('r1'), ['bob', 'carol'])
  assert.deepEqual(t.typers('r2'), ['dave'])
  push({ rid: 'r1', username: 'carol', typing: false })
  assert.deepEqual(t.typers('r1'), ['bob'])
  c.advance(TYPING_TIMEOUT - 5000)
  assert.deepEqual(t.typers('r1'), [], 'bob sent no news for TYPING_TIMEOUT')
  assert.deepEqual(t.typers('r2'), ['dave'])
  assert.deepEqual(seen, ['r1', 'r1', 'r2', 'r1', 'r1'])
  t.dispose()
})

test('useTyping opens the shown room, follows a room change and closes on dispose', async () => {
  const { client, sr, f, c } = setup()
  const store = createChatStore(client, { me: { username: 'alice' } })
  typingOf(store, { tab: 'v', ...c })
  const rid = ref('r1')
  const scope = effectScope()
  const v = scope.run(() => useTyping(rid, store))
  await client.start()
  sr.connections[0].push('getTypingNotification', { rid: 'r1', username: 'bob', typing: true })
  assert.deepEqual(v.typers.value, ['bob'])
  v.typed()
  rid.value = 'r2'
  await tick()
  assert.deepEqual(v.typers.value, [])
  assert.deepEqual(bodies(f, '/api/im/rooms/r1/typing'), [{ typing: true }, { typing: false }], 'leaving the room stops the user typing there')
  assert.deepEqual(bodies(f, '/api/im/open-rooms').map((b) => b.rooms), [['r1'], [], ['r2']])
  scope.stop()
  await tick()
  assert.deepEqual(bodies(f, '/api/im/open-rooms').at(-1).rooms, [])
})
