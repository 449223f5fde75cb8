import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChatClient, ChatError, fileUrl } from '../src/index.js'
import { fakeSignalR } from './fakes.js'

test('fileUrl maps Rocket.Chat file links to the gateway and refuses anything else', () => {
  assert.equal(fileUrl('/file-upload/AbC123/a%20picture.png'), '/api/im/files/AbC123/a%20picture.png')
  assert.equal(fileUrl('https://chat.example.com/file-upload/AbC123/x.txt?download'), '/api/im/files/AbC123/x.txt')
  assert.equal(fileUrl('/file-upload/AbC123/%E4%BD%A0%E5%A5%BD.txt'), '/api/im/files/AbC123/%E4%BD%A0%E5%A5%BD.txt')
  for (const bad of ['/file-upload/a-b/x.png', '/file-upload/abc/..', '/file-upload/abc/%2E%2E', '/file-upload/abc/a%2Fb',
    '/file-upload/abc/a%5Cb', '/avatar/abc', 'javascript:alert(1)', '/file-upload/abc/%E4', undefined]) {
    assert.equal(fileUrl(bad), null, String(bad))
  }
})

test('file() fetches the gateway path with the bearer token and answers a Blob', async () => {
  const calls = []
  const fetch = async (url, init) => {
    calls.push({ url, init })
    return { status: 200, ok: true, blob: async () => new Blob(['png bytes'], { type: 'image/png' }), text: async () => '' }
  }
  const c = new ChatClient({ token: 'tok-1', fetch, signalR: fakeSignalR().module, baseUrl: 'http://gw' })
  const b = await c.api.file('/file-upload/F1/p.png')
  assert.equal(calls[0].url, 'http://gw/api/im/files/F1/p.png')
  assert.equal(calls[0].init.headers.Authorization, 'Bearer tok-1')
  assert.equal(await b.text(), 'png bytes')
  await assert.rejects(c.api.file('/elsewhere/F1/p.png'), (err) => err instanceof ChatError && err.code === 'bad_request')
})

// FakeXHR answers the queued statuses in order, firing two upload progress events first.
function fakeXHR(statuses) {
  const sent = []
  class FakeXHR {
    constructor() {
      this.headers = {}
      this.upload = {}
    }
    open(method, url) { this.method = method; this.url = url }
    setRequestHeader(k, v) { this.headers[k] = v }
    abort() { this.onabort?.() }
    send(body) {
      sent.push({ method: this.method, url: this.url, headers: this.headers, body })
      const status = statuses.shift()
      queueMicrotask(() => {
        this.upload.onprogress?.({ loaded: 5, total: 10, lengthComputable: true })
        this.upload.onprogress?.({ loaded: 10, total: 10, lengthComputable: true })
        this.status = status
        this.responseText = status === 201 ? JSON.stringify({ message: { _id: 'm1' } }) : JSON.stringify({ error: 'unauthorized', message: 'no' })
        this.onload?.()
      })
    }
  }
  FakeXHR.sent = sent
  return FakeXHR
}

test('an upload with onProgress goes through XMLHttpRequest, reports progress and refreshes a rejected token once', async () => {
  const XHR = fakeXHR([401, 201])
  let n = 0
  const c = new ChatClient({ token: ({ forceRefresh }) => (forceRefresh ? `tok-${++n + 1}` : 'tok-1'), fetch: () => { throw new Error('fetch must not be used') }, XMLHttpRequest: XHR, signalR: fakeSignalR().module, baseUrl: 'http://gw' })
  const seen = []
  const res = await c.api.upload('r1', new Blob(['0123456789']), 'desc', { onProgress: (p) => seen.push(p) })
  assert.deepEqual(res, { message: { _id: 'm1' } })
  assert.equal(XHR.sent.length, 2)
  assert.equal(XHR.sent[0].url, 'http://gw/api/im/rooms/r1/files')
  assert.equal(XHR.sent[0].headers.Authorization, 'Bearer tok-1')
  assert.equal(XHR.sent[1].headers.Authorization, 'Bearer tok-2')
  assert.ok(XHR.sent[1].body instanceof FormData)
  assert.deepEqual(seen.at(-1), { loaded: 10, total: 10 })
  assert.ok(seen.some((p) => p.loaded === 5))
})
