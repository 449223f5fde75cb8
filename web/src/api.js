// REST client for the gateway's product-frontend API (docs/http-api.md).
// Every call carries the product JWT; errors become ApiError with the gateway's code.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`)
    this.status = status
    this.code = code || ''
  }
}

let tokenSource = () => ''

// setTokenSource tells the client where the current product JWT comes from.
export function setTokenSource(fn) {
  tokenSource = fn
}

async function request(method, path, { json, form, auth = true } = {}) {
  const headers = {}
  let body
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(json)
  } else if (form !== undefined) {
    body = form
  }
  const token = tokenSource()
  if (auth && token) headers.Authorization = `Bearer ${token}`
  let res
  try {
    res = await fetch(path, { method, headers, body })
  } catch (err) {
    throw new ApiError(0, 'network', `gateway unreachable: ${err.message}`)
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
    throw new ApiError(res.status, data?.error, data?.message || `${method} ${path}: HTTP ${res.status}`)
  }
  return data
}

const enc = encodeURIComponent

export const api = {
  demoUsers: () => request('GET', '/api/demo/users', { auth: false }),
  demoToken: (username) => request('POST', '/api/demo/token', { json: { username }, auth: false }),
  me: () => request('GET', '/api/im/me'),
  rooms: () => request('GET', '/api/im/rooms'),
  messages: (rid, { before, count = 50 } = {}) => {
    const q = new URLSearchParams({ count: String(count) })
    if (before) q.set('before', before)
    return request('GET', `/api/im/rooms/${enc(rid)}/messages?${q}`)
  },
  send: (rid, id, text) => request('POST', `/api/im/rooms/${enc(rid)}/messages`, { json: { id, text } }),
  edit: (rid, mid, text) => request('PATCH', `/api/im/rooms/${enc(rid)}/messages/${enc(mid)}`, { json: { text } }),
  remove: (rid, mid) => request('DELETE', `/api/im/rooms/${enc(rid)}/messages/${enc(mid)}`),
  markRead: (rid) => request('POST', `/api/im/rooms/${enc(rid)}/read`),
  upload: (rid, file, description) => {
    const form = new FormData()
    form.append('file', file)
    if (description) form.append('description', description)
    return request('POST', `/api/im/rooms/${enc(rid)}/files`, { form })
  },
  openDM: (username) => request('POST', '/api/im/dm', { json: { username } }),
  createRoom: (type, name, members) => request('POST', '/api/im/rooms', { json: { type, name, members } }),
}

// newMessageId makes a client message id in Rocket.Chat's alphabet (17 characters), so
// a retried send is recognised by the gateway and sent once.
export function newMessageId() {
  const alphabet = '23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz'
  const bytes = new Uint8Array(17)
  crypto.getRandomValues(bytes)
  let id = ''
  for (const b of bytes) id += alphabet[b % alphabet.length]
  return id
}
