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
  const threads = reactive(new Map()) // tmid -> {rid, list (replies, oldest first), total, hasMore, loading, loaded}
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

  // upsert puts a message into its room's list and, for a thread reply, into its thread's
  // list when that thread is loaded.
  function upsert(m) {
    if (m.tmid) {
      const th = threads.get(m.tmid)
      if (th) placeIn(th.list, m)
    }
    const b = buckets.get(m.rid)
    if (b) placeIn(b.list, m)
  }

  // placeIn keeps a list oldest first; a copy never replaces a newer copy of the same message.
  function placeIn(list, m) {
    const i = list.findIndex((x) => x._id === m._id)
    const item = { ...m, from: origin(m), status: 'sent' }
    if (i >= 0) {
      const old = list[i]
      if (old.status === 'sent' && old._updatedAt && m._updatedAt && old._updatedAt > m._updatedAt) return
      list.splice(i, 1, item)
      return
    }
    let at = list.length
    while (at > 0 && list[at - 1].ts > m.ts && list[at - 1].status === 'sent') at--
    list.splice(at, 0, item)
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
    for (const list of [buckets.get(rid)?.list, ...[...threads.values()].map((th) => th.list)]) {
      const m = list?.find((x) => x._id === id)
      if (m && m.status !== 'sent') {
        m.status = status
        m.error = error || null
      }
    }
  }

  async function deliver(rid, id, text, tmid) {
    try {
      const res = await client.api.send(rid, text, id, tmid ? { tmid } : undefined)
      if (res?.message) {
        for (const list of [buckets.get(rid)?.list, tmid && threads.get(tmid)?.list]) {
          const i = list ? list.findIndex((x) => x._id === id && x.status !== 'sent') : -1
          if (i >= 0) list.splice(i, 1)
        }
        upsert(res.message)
      }
      return res?.message
    } catch (err) {
      setStatus(rid, id, 'failed', err)
      throw err
    }
  }

  /**
   * Sends text to a room (with tmid: a reply in that thread); the message shows at once as
   * 'pending', then 'sent' or 'failed'.
   */
  async function send(rid, text, { tmid } = {}) {
    const body = String(text).replace(/^\s*\n|\s+$/g, '')
    if (!rid || !body.trim()) return null
    const id = newMessageId()
    const u = me.value
    const item = {
      _id: id, rid, msg: body, ts: new Date().toISOString(),
      u: { _id: u?.rcUserId, username: u?.username, name: u?.name },
      from: FROM_SELF, status: 'pending', error: null,
      ...(tmid ? { tmid } : {}),
    }
    bucket(rid).list.push(item)
    if (tmid) threads.get(tmid)?.list.push({ ...item })
    return deliver(rid, id, body, tmid)
  }

  function retry(m) {
    setStatus(m.rid, m._id, 'pending')
    return deliver(m.rid, m._id, m.msg, m.tmid)
  }

  function discard(m) {
    for (const list of [buckets.get(m.rid)?.list, m.tmid && threads.get(m.tmid)?.list]) {
      const i = list ? list.findIndex((x) => x._id === m._id && x.status !== 'sent') : -1
      if (i >= 0) list.splice(i, 1)
    }
  }

  /** reactedByMe: whether the signed-in user is among a reaction's usernames. */
  function reactedByMe(m, emoji) {
    const names = m?.reactions?.[emoji]?.usernames || []
    return !!me.value?.username && names.includes(me.value.username)
  }

  /**
   * Toggles the user's reaction (":name:") on a message: on when the user has not reacted
   * with it, off when they have. The message with its new reactions comes back as a push.
   */
  async function react(m, emoji) {
    const name = `:${String(emoji).replace(/:/g, '')}:`
    await client.api.react(m.rid, m._id, name, !reactedByMe(m, name))
  }

  function threadOf(rid, tmid) {
    let th = threads.get(tmid)
    if (!th) {
      threads.set(tmid, { rid, list: [], total: 0, hasMore: false, loading: false, loaded: false })
      th = threads.get(tmid)
    }
    return th
  }

  /** Loads the replies of thread tmid (oldest first): the first page, then the next ones. */
  async function loadThread(rid, tmid, { count = 100 } = {}) {
    const th = threadOf(rid, tmid)
    if (th.loading) return th
    th.loading = true
    try {
      const offset = th.loaded ? th.list.filter((x) => x.status === 'sent').length : 0
      const res = await client.api.thread(rid, tmid, { count, offset })
      for (const m of res?.messages || []) placeIn(th.list, m)
      th.total = res?.total ?? th.list.length
      th.hasMore = !!res?.hasMore
      th.loaded = true
    } finally {
      th.loading = false
    }
    return th
  }

  /** Searches a room; the hits, newest first. */
  async function search(rid, q, opts) {
    const res = await client.api.search(rid, q, opts)
    return (res?.messages || []).map((m) => ({ ...m, from: origin(m) }))
  }

  /**
   * Pages back in a room until message id (sent at ts) is loaded, or no page is left (at
   * most maxPages); answers whether it is in the list now.
   */
  async function loadUntil(rid, id, ts, { maxPages = 20 } = {}) {
    const b = bucket(rid)
    if (!b.loaded) await loadLatest(rid)
    for (let i = 0; i < maxPages && !b.list.some((x) => x._id === id) && b.hasMore; i++) {
      const oldest = b.list.find((x) => x.status === 'sent')
      if (oldest && oldest.ts < ts) break
      await loadOlder(rid)
    }
    return b.list.some((x) => x._id === id)
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
      // A thread reply not also shown in the room is not the room's last message
      // (Rocket.Chat leaves lastMessage alone for it).
      if (m.tmid && !m.tshow) return
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
    for (const th of threads.values()) {
      const j = th.list.findIndex((x) => x._id === d?._id)
      if (j >= 0) th.list.splice(j, 1)
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
    threads.clear()
    watchers.clear()
  }

  function dispose() {
    for (const off of unsubscribe.splice(0)) off()
  }

  return {
    client, me, rooms, buckets, threads, connection, roomsLoading, roomList, totalUnread,
    bucket, origin, loadRooms, loadLatest, loadOlder, markRead,
    send, retry, discard, edit, remove, upload, openDM, createRoom,
    react, reactedByMe, loadThread, search, loadUntil,
    watchRoom, reset, dispose,
    // exposed for tests and custom transports
    onMessage, onDeleted, onSubscription,
  }
}
