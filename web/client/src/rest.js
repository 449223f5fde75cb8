// The gateway's product-frontend REST API (/api/im/*, docs/http-api.md). Every call carries
// the product JWT from the token source; a 401 asks the source for a fresh token once and
// retries, and a second 401 is reported through onUnauthorized and thrown as ChatError.
import { ChatError } from './errors.js'

const enc = encodeURIComponent

/**
 * @param {{baseUrl: string, getToken: (o: {forceRefresh: boolean}) => Promise<string>, fetch: typeof fetch, onUnauthorized: (e: ChatError) => void}} o
 */
export function createRest({ baseUrl, getToken, fetch: fetchFn, onUnauthorized }) {
  async function once(method, path, { json, form, auth }, forceRefresh) {
    const headers = {}
    let body
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(json)
    } else if (form !== undefined) {
      body = form
    }
    if (auth) {
      const token = await getToken({ forceRefresh })
      if (token) headers.Authorization = `Bearer ${token}`
    }
    const op = `${method} ${path.split('?')[0]}`
    let res
    try {
      res = await fetchFn(baseUrl + path, { method, headers, body })
    } catch (err) {
      throw new ChatError('network', 0, `${op}: gateway unreachable: ${err?.message || err}`, { cause: err, operation: op })
    }
    if (res.status === 204) return null
    const text = await res.text()
    let data = null
    if (text) {
      try {
        data = JSON.parse(text)
      } catch {
        data = null
      }
    }
    if (!res.ok) {
      throw new ChatError(data?.error || '', res.status, data?.message || `${op}: HTTP ${res.status}`, { operation: op })
    }
    return data
  }

  async function request(method, path, opts = {}) {
    const o = { auth: true, ...opts }
    try {
      return await once(method, path, o, false)
    } catch (err) {
      if (!o.auth || !(err instanceof ChatError) || err.status !== 401) throw err
    }
    // The token was rejected: one more try with a fresh one.
    let retryErr
    try {
      return await once(method, path, o, true)
    } catch (err) {
      retryErr = err
    }
    if (retryErr instanceof ChatError && retryErr.status === 401) onUnauthorized(retryErr)
    throw retryErr
  }

  return {
    request,
    me: () => request('GET', '/api/im/me'),
    rooms: () => request('GET', '/api/im/rooms'),
    unread: () => request('GET', '/api/im/unread'),
    messages: (rid, { before, count = 50 } = {}) => {
      const q = new URLSearchParams({ count: String(count) })
      if (before) q.set('before', before)
      return request('GET', `/api/im/rooms/${enc(rid)}/messages?${q}`)
    },
    send: (rid, text, id) => request('POST', `/api/im/rooms/${enc(rid)}/messages`, { json: id ? { id, text } : { text } }),
    edit: (rid, mid, text) => request('PATCH', `/api/im/rooms/${enc(rid)}/messages/${enc(mid)}`, { json: { text } }),
    deleteMessage: (rid, mid) => request('DELETE', `/api/im/rooms/${enc(rid)}/messages/${enc(mid)}`),
    markRead: (rid) => request('POST', `/api/im/rooms/${enc(rid)}/read`),
    upload: (rid, file, description) => {
      const form = new FormData()
      form.append('file', file)
      if (description) form.append('description', description)
      return request('POST', `/api/im/rooms/${enc(rid)}/files`, { form })
    },
    openDM: (username) => request('POST', '/api/im/dm', { json: { username } }),
    createRoom: (type, name, members) => request('POST', '/api/im/rooms', { json: { type, name, members } }),
    addMember: (rid, username) => request('POST', `/api/im/rooms/${enc(rid)}/members`, { json: { username } }),
    removeMember: (rid, username) => request('DELETE', `/api/im/rooms/${enc(rid)}/members/${enc(username)}`),
  }
}

// newMessageId makes a client message id in Rocket.Chat's alphabet (17 characters), so a
// retried send is recognised by the gateway and sent once.
export function newMessageId() {
  const alphabet = '23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz'
  const bytes = new Uint8Array(17)
  globalThis.crypto.getRandomValues(bytes)
  let id = ''
  for (const b of bytes) id += alphabet[b % alphabet.length]
  return id
}
