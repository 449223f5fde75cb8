// Official @microsoft/signalr client against a running `rcgateway demo`:
// alice connects to the hub with a product JWT (accessTokenFactory), bob sends a message
// through the REST API, and alice must receive it as getRoomMessageNotification.
//
//   RCGW_BASE_URL   the running demo (http://127.0.0.1:PORT)
// Exit status 0 and a last line "OK <json>" on success.
'use strict'
const signalR = require('@microsoft/signalr')

const base = process.env.RCGW_BASE_URL
if (!base) { console.error('RCGW_BASE_URL not set'); process.exit(2) }

async function json (method, path, token, body) {
  const res = await fetch(base + path, {
    method,
    headers: Object.assign({ 'Content-Type': 'application/json' }, token ? { Authorization: 'Bearer ' + token } : {}),
    body: body ? JSON.stringify(body) : undefined
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`)
  return text ? JSON.parse(text) : null
}

async function main () {
  const { users } = await json('GET', '/api/demo/users')
  if (users.length < 2) throw new Error('need two demo users')
  const [a, b] = users
  const tokA = (await json('POST', '/api/demo/token', null, { username: a.username })).token
  const tokB = (await json('POST', '/api/demo/token', null, { username: b.username })).token

  const conn = new signalR.HubConnectionBuilder()
    .withUrl(base + '/signalr', { accessTokenFactory: () => tokA, transport: signalR.HttpTransportType.WebSockets })
    .withHubProtocol(new signalR.JsonHubProtocol())
    .configureLogging(signalR.LogLevel.Warning)
    .build()
  const text = 'hello from node ' + Date.now()
  const got = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no getRoomMessageNotification within 20s')), 20000)
    conn.on('getRoomMessageNotification', (m) => {
      if (m && m.msg === text) { clearTimeout(timer); resolve(m) }
    })
  })
  await conn.start()
  if (conn.state !== signalR.HubConnectionState.Connected) throw new Error('not connected: ' + conn.state)

  // Find a room both users are in (GENERAL in the demo) and send as b through REST.
  const roomsB = (await json('GET', '/api/im/rooms', tokB)).rooms
  const roomsA = new Set((await json('GET', '/api/im/rooms', tokA)).rooms.map(r => r.id))
  const shared = roomsB.find(r => roomsA.has(r.id))
  if (!shared) throw new Error('no shared room')
  // The upstream may still be subscribing right after connect: resend (same client id,
  // so at most one message is stored) until it arrives.
  let delivered = null
  const clientId = 'node-' + Date.now()
  for (let i = 0; i < 10 && !delivered; i++) {
    await json('POST', `/api/im/rooms/${shared.id}/messages`, tokB, { id: clientId, text })
    delivered = await Promise.race([got, new Promise(resolve => setTimeout(() => resolve(null), 2000))])
  }
  if (!delivered) delivered = await got
  if (delivered.rid !== shared.id || !delivered.u || delivered.u.username !== b.rcUsername) {
    throw new Error('unexpected message: ' + JSON.stringify(delivered))
  }
  await conn.stop()
  console.log('OK ' + JSON.stringify({ rid: delivered.rid, msg: delivered.msg, from: delivered.u.username }))
}

main().catch(err => { console.error('FAIL', err && err.stack || err); process.exit(1) })
