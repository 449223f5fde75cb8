// The gateway's product-frontend REST API (/api/im/*, docs/http-api.md). Every call carries
// the product JWT from the token source; a 401 asks the source for a fresh token once and
// retries, and a second 401 is reported through onUnauthorized and thrown as ChatError.
import { ChatError } from './errors.js'

const enc = encodeURIComponent

/**
 * @param {{baseUrl: string, getToken: (o: {forceRefresh: boolean}) => Promise<string>, fetch: typeof fetch, onUnauthorized: (e: ChatError) => void}} o
 */
export function createRest({ baseUrl, getToken, fetch: fetchFn, onUnauthorized, XMLHttpRequest: XHR = globalThis.XMLHttpRequest }) {
  async function once(method, path, { json, form, auth, blob, onProgress, signal }, forceRefresh) {
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
      // fetch reports no upload progress: an upload that asks for it goes through XHR.
      res = onProgress && XHR
        ? await xhrRequest(XHR, method, baseUrl + path, headers, body, onProgress, signal)
        : await fetchFn(baseUrl + path, { method, headers, body, signal })
    } catch (err) {
      if (err?.name === 'AbortError') throw err
      throw new ChatError('network', 0, `${op}: gateway unreachable: ${err?.message || err}`, { cause: err, operation: op })
    }
    if (res.status === 204) return null
    if (blob && res.ok) return await res.blob()
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
    send: (rid, text, id, { tmid } = {}) => request('POST', `/api/im/rooms/${enc(rid)}/messages`, { json: { ...(id ? { id } : {}), text, ...(tmid ? { tmid } : {}) } }),
    react: (rid, mid, emoji, on) => request('POST', `/api/im/rooms/${enc(rid)}/messages/${enc(mid)}/reactions`, { json: on === undefined ? { emoji } : { emoji, on } }),
    thread: (rid, tmid, { count = 50, offset = 0 } = {}) => request('GET', `/api/im/rooms/${enc(rid)}/threads/${enc(tmid)}/messages?${new URLSearchParams({ count: String(count), offset: String(offset) })}`),
    search: (rid, q, { count = 20, offset = 0 } = {}) => request('GET', `/api/im/rooms/${enc(rid)}/search?${new URLSearchParams({ q, count: String(count), offset: String(offset) })}`),
    edit: (rid, mid, text) => request('PATCH', `/api/im/rooms/${enc(rid)}/messages/${enc(mid)}`, { json: { text } }),
    deleteMessage: (rid, mid) => request('DELETE', `/api/im/rooms/${enc(rid)}/messages/${enc(mid)}`),
    markRead: (rid) => request('POST', `/api/im/rooms/${enc(rid)}/read`),
    typing: (rid, typing) => request('POST', `/api/im/rooms/${enc(rid)}/typing`, { json: { typing: !!typing } }),
    openRooms: (tab, rooms) => request('PUT', '/api/im/open-rooms', { json: { tab, rooms } }),
    upload: (rid, file, description, { onProgress, signal } = {}) => {
      const form = new FormData()
      form.append('file', file)
      if (description) form.append('description', description)
      return request('POST', `/api/im/rooms/${enc(rid)}/files`, { form, onProgress, signal })
    },
    file: (link, { signal } = {}) => {
      const path = fileUrl(link)
      if (!path) return Promise.reject(new ChatError('bad_request', 0, `not a Rocket.Chat file link: ${link}`, { operation: 'GET /api/im/files' }))
      return request('GET', path, { blob: true, signal })
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

// fileUrl maps a message's Rocket.Chat file link (/file-upload/<fileId>/<name>, as in
// attachments[].title_link and image_url, relative or on the Rocket.Chat host, with or
// without a query) to the gateway's /api/im/files/<fileId>/<name>; null for anything else.
export function fileUrl(link) {
  if (typeof link !== 'string') return null
  const m = /^(?:https?:\/\/[^/]+)?\/file-upload\/([A-Za-z0-9]+)\/([^?#]+)/.exec(link)
  if (!m) return null
  let name
  try {
    name = decodeURIComponent(m[2])
  } catch {
    return null
  }
  if (!name || name === '.' || name === '..' || /[\/\\]/.test(name)) return null
  return `/api/im/files/${m[1]}/${enc(name)}`
}

// xhrRequest sends one request with XMLHttpRequest, reporting upload progress as
// onProgress({loaded, total}), and answers with the parts of a fetch Response that
// createRest reads.
function xhrRequest(XHR, method, url, headers, body, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XHR()
    xhr.open(method, url)
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : 0 })
    xhr.onload = () => resolve({
      status: xhr.status,
      ok: xhr.status >= 200 && xhr.status < 300,
      text: async () => xhr.responseText,
    })
    xhr.onerror = () => reject(new TypeError('network error'))
    xhr.onabort = () => reject(Object.assign(new Error('upload aborted'), { name: 'AbortError' }))
    if (signal) {
      if (signal.aborted) return xhr.abort()
      signal.addEventListener('abort', () => xhr.abort(), { once: true })
    }
    xhr.send(body)
  })
}
