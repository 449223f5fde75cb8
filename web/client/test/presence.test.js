import { test } from 'node:test'
import assert from 'node:assert/strict'
import { effectScope, ref } from 'vue'
import { ChatClient, createPresence, TARGETS } from '../src/index.js'
import { createChatStore, usePresence } from '../src/vue.js'
import { fakeFetch, fakeSignalR } from './fakes.js'

function setup() {
  const sr = fakeSignalR()
  const client = new ChatClient({ token: 'tok', fetch: fakeFetch(() => ({ status: 204 })), signalR: sr.module, baseUrl: 'http://gw' })
  return { client, sr }
}

test('the presence event is getPresenceNotification', () => {
  assert.equal(TARGETS.presence, 'getPresenceNotification')
})

test('statuses are kept by user id and by username; unknown users and statuses are undefined', async () => {
  const { client, sr } = setup()
  const p = createPresence(client)
  const seen = []
  p.onChange((x) => seen.push(x.status))
  await client.start()
  const push = (arg) => sr.connections[0].push('getPresenceNotification', arg)
  assert.equal(p.status('u-bob'), undefined)
  push({ userId: 'u-bob', username: 'bob', status: 'offline' })
  push({ userId: 'u-bob', username: 'bob', status: 'away' })
  assert.equal(p.status('u-bob'), 'away')
  assert.equal(p.status('bob'), 'away')
  push({ userId: 'u-bob', username: 'bob', status: 'sleeping' }) // not a status the gateway sends
  assert.equal(p.status('bob'), 'away')
  assert.equal(p.status('carol'), undefined)
  assert.equal(p.status(''), undefined)
  assert.deepEqual(seen, ['offline', 'away'])
  p.dispose()
  push({ userId: 'u-bob', username: 'bob', status: 'online' })
  assert.equal(p.status('bob'), undefined, 'disposed: forgets and stops listening')
})

test('usePresence follows pushes and a change of the user it shows', async () => {
  const { client, sr } = setup()
  const store = createChatStore(client, { me: { username: 'alice' } })
  const who = ref('bob')
  const scope = effectScope()
  const st = scope.run(() => usePresence(who, store))
  await client.start()
  const push = (arg) => sr.connections[0].push('getPresenceNotification', arg)
  assert.equal(st.value, undefined)
  push({ userId: 'u-bob', username: 'bob', status: 'online' })
  assert.equal(st.value, 'online')
  push({ userId: 'u-carol', username: 'carol', status: 'busy' })
  assert.equal(st.value, 'online')
  who.value = 'u-carol' // by id works too
  assert.equal(st.value, 'busy')
  push({ userId: 'u-carol', username: 'carol', status: 'offline' })
  assert.equal(st.value, 'offline')
  scope.stop()
})
