// createChatStore keeps one user's rooms and messages as Vue reactive state, fed by a
// ChatClient's REST calls and pushes: rooms with unread counts from subscription pushes,
// messages per room (oldest first) with paging, optimistic sends with retry, and the
// refetch after a reconnect. The composables in ./vue.js are views over it.
import { computed, reactive, ref } from 'vue'
import { newMessageId } from './rest.js'

export const FROM_SELF = 'self'
export const FROM_OTHER = 'opposite'
export const FROM_SYSTEM = 'system'

// roomFromSubscription turns a Rocket.Chat subscription (as pushed by
// getRoomSubscriptionChangedNotification) into the gateway's Room shape.
function roomFromSubscription(sub, old) {
  return {
    ...(old || {}),
    id: sub.rid,
    type: sub.t || old?.type || 'c',
    name: sub.name ?? old?.name ?? '',
    displayName: sub.fname || old?.displayName || sub.name || '',
    unread: sub.unread ?? old?.unread ?? 0,
    mentions: sub.userMentions ?? old?.mentions ?? 0,
    alert: !!sub.alert,
    open: sub.open ?? true,
    updatedAt: sub._updatedAt || old?.updatedAt || sub.ts || '',
  }
}

const activity = (room) => room.lastMessage?.ts || room.updatedAt || ''

/**
 * @param {import('./client.js').ChatClient} client
 * @param {{me?: {rcUserId?: string, username?: string}, pageSize?: number}} [opts]
 */
export function createChatStore(client, opts = {}) {
  const PAGE = opts.pageSize || 50
  const rooms = reactive(new Map())
  const buckets = reactive(new Map()) // rid -> {list, hasMore, loading, loaded, stale}
  const me = ref(opts.me || null)
  const connection = ref(client.state)
  const roomsLoading = ref(false)
  const watchers = new Map() // rid -> number of live useMessages views
  const unsubscribe = []

  const roomList = computed(() =>
    [...rooms.values()].filter((r) => r.open !== false).sort((a, b) => {
      const x = activity(a)
      const y = activity(b)
      return x < y ? 1 : x > y ? -1 : 0
    }),
  )
  const totalUnread = computed(() => [...rooms.values()].reduce((n, r) => n + (r.unread || 0), 0))

  function origin(m) {
    if (m.t) return FROM_SYSTEM
    const u = me.value
    if (!u) return FROM_OTHER
    if ((u.rcUserId && m.u?._id === u.rcUserId) || (u.username && m.u?.username === u.username)) return FROM_SELF
    return FROM_OTHER
  }

  function bucket(rid) {
    let b = buckets.get(rid)
    if (!b) {
      buckets.set(rid, { list: [], hasMore: true, loading: false, loaded: false, stale: false })
      b = buckets.get(rid)
    }
    return b
  }

  function upsert(m) {
    const b = buckets.get(m.rid)
    if (!b) return
    const i = b.list.findIndex((x) => x._id === m._id)
    const item = { ...m, from: origin(m), status: 'sent' }
    if (i >= 0) {
      const old = b.list[i]
      // An older copy (the same message seen twice) never replaces a newer one.
      if (old.status === 'sent' && old._updatedAt && m._updatedAt && old._updatedAt > m._updatedAt) return
      b.list.splice(i, 1, item)
      return
    }
    let at = b.list.length
    while (at > 0 && b.list[at - 1].ts > m.ts && b.list[at - 1].status === 'sent') at--
    b.list.splice(at, 0, item)
  }

  async function ensureMe() {
    if (!me.value) me.value = await client.api.me()
    return me.value
  }

  function applyRooms(list) {
    const seen = new Set()
    for (const r of list) {
      seen.add(r.id)
      rooms.set(r.id, { ...rooms.get(r.id), ...r })
    }
    for (const id of [...rooms.keys()]) if (!seen.has(id)) rooms.delete(id)
  }

  async function loadRooms() {
    roomsLoading.value = true
    try {
      await ensureMe()
      const res = await client.api.rooms()
      applyRooms(res?.rooms || [])
    } finally {
      roomsLoading.value = false
    }
  }

  async function loadLatest(rid) {
    const b = bucket(rid)
    b.loading = true
    try {
      const res = await client.api.messages(rid, { count: PAGE })
      if (!b.loaded) b.hasMore = !!res?.hasMore
      b.loaded = true
      b.stale = false
      for (const m of (res?.messages || []).slice().reverse()) upsert(m)
    } finally {
      b.loading = false
    }
  }

  async function loadOlder(rid) {
    const b = bucket(rid)
    if (b.loading || !b.hasMore) return
    const oldest = b.list.find((m) => m.status === 'sent')
    b.loading = true
    try {
      const res = await client.api.messages(rid, { before: oldest?.ts, count: PAGE })
      for (const m of res?.messages || []) upsert(m)
      b.hasMore = !!res?.hasMore
    } finally {
      b.loading = false
    }
  }

  async function markRead(rid) {
    const room = rooms.get(rid)
    await client.api.markRead(rid)
    if (room) {
      room.unread = 0
      room.mentions = 0
      room.alert = false
    }
  }

  function setStatus(rid, id, status, error) {
    const m = buckets.get(rid)?.list.find((x) => x._id === id)
    if (m && m.status !== 'sent') {
      m.status = status
      m.error = error || null
    }
  }

  async function deliver(rid, id, text) {
    try {
      const res = await client.api.send(rid, text, id)
      const b = buckets.get(rid)
      if (b && res?.message) {
        const i = b.list.findIndex((x) => x._id === id && x.status !== 'sent')
        if (i >= 0) b.list.splice(i, 1)
        upsert(res.message)
      }
      return res?.message
    } catch (err) {
      setStatus(rid, id, 'failed', err)
      throw err
    }
  }

  /** Sends text to a room; the message shows at once as 'pending', then 'sent' or 'failed'. */
  async function send(rid, text) {
    const body = String(text).replace(/^\s*\n|\s+$/g, '')
    if (!rid || !body.trim()) return null
    const id = newMessageId()
    const u = me.value
    bucket(rid).list.push({
      _id: id, rid, msg: body, ts: new Date().toISOString(),
      u: { _id: u?.rcUserId, username: u?.username, name: u?.name },
      from: FROM_SELF, status: 'pending', error: null,
    })
    return deliver(rid, id, body)
  }

  function retry(m) {
    setStatus(m.rid, m._id, 'pending')
    return deliver(m.rid, m._id, m.msg)
  }

  function discard(m) {
    const b = buckets.get(m.rid)
    const i = b ? b.list.findIndex((x) => x._id === m._id && x.status !== 'sent') : -1
    if (i >= 0) b.list.splice(i, 1)
  }

  async function edit(m, text) {
    const res = await client.api.edit(m.rid, m._id, text)
    if (res?.message) upsert(res.message)
    return res?.message
  }

  async function remove(m) {
    await client.api.deleteMessage(m.rid, m._id)
    onDeleted({ rid: m.rid, _id: m._id })
  }

  async function upload(rid, file, description, opts) {
    const res = await client.api.upload(rid, file, description, opts)
    if (res?.message) upsert(res.message)
    return res?.message
  }

  async function openDM(username) {
    const res = await client.api.openDM(username)
    const r = res.room
    rooms.set(r.id, { ...rooms.get(r.id), ...r, open: true })
    return rooms.get(r.id)
  }

  async function createRoom(type, name, members) {
    const res = await client.api.createRoom(type, name, members)
    const r = res.room
    rooms.set(r.id, { ...rooms.get(r.id), ...r })
    return rooms.get(r.id)
  }

  // --- pushes ---

  function onMessage(m) {
    if (!m || !m.rid || !m._id) return
    upsert(m)
    const room = rooms.get(m.rid)
    if (room) {
      if (!room.lastMessage || room.lastMessage.ts <= m.ts || room.lastMessage._id === m._id) room.lastMessage = m
    } else {
      // A room we do not know yet (its subscription push may still be on the way).
      loadRooms().catch(() => {})
    }
  }

  function onDeleted(d) {
    const b = buckets.get(d?.rid)
    if (b) {
      const i = b.list.findIndex((x) => x._id === d._id)
      if (i >= 0) b.list.splice(i, 1)
    }
    const room = rooms.get(d?.rid)
    if (room?.lastMessage?._id === d._id) room.lastMessage = b?.list.findLast((x) => x.status === 'sent') || null
  }

  function onSubscription(n) {
    const sub = n?.msg
    if (!sub?.rid) return
    if (n.method === 'removed' || n.method === 'remove') {
      rooms.delete(sub.rid)
      return
    }
    rooms.set(sub.rid, roomFromSubscription(sub, rooms.get(sub.rid)))
  }

  // After a gap: the client refetched the rooms; refetch the latest page of every room a
  // view shows, and mark the others stale so they refetch when shown again.
  async function onResync({ rooms: list }) {
    applyRooms(list)
    const shown = []
    for (const [rid, b] of buckets) {
      if (!b.loaded) continue
      if ((watchers.get(rid) || 0) > 0) shown.push(rid)
      else b.stale = true
    }
    await Promise.all(shown.map((rid) => loadLatest(rid)))
  }

  unsubscribe.push(
    client.on('message', onMessage),
    client.on('messageDeleted', onDeleted),
    client.on('subscription', onSubscription),
    client.on('resync', (r) => { onResync(r).catch((err) => client._emit('error', err)) }),
    client.on('state', (s) => { connection.value = s }),
  )

  function watchRoom(rid) {
    watchers.set(rid, (watchers.get(rid) || 0) + 1)
    const b = bucket(rid)
    const load = !b.loaded || b.stale ? loadLatest(rid) : Promise.resolve()
    return {
      load,
      release() {
        const n = (watchers.get(rid) || 1) - 1
        if (n > 0) watchers.set(rid, n)
        else watchers.delete(rid)
      },
    }
  }

  function reset() {
    rooms.clear()
    buckets.clear()
    watchers.clear()
  }

  function dispose() {
    for (const off of unsubscribe.splice(0)) off()
  }

  return {
    client, me, rooms, buckets, connection, roomsLoading, roomList, totalUnread,
    bucket, origin, loadRooms, loadLatest, loadOlder, markRead,
    send, retry, discard, edit, remove, upload, openDM, createRoom,
    watchRoom, reset, dispose,
    // exposed for tests and custom transports
    onMessage, onDeleted, onSubscription,
  }
}
