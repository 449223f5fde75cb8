import { defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'
import { api, newMessageId } from '../api'
import { useAuthStore } from './auth'

// The seed's message origins.
export const MSG_FROM_SELF = 'self'
export const MSG_FROM_OPPOSITE = 'opposite'
export const MSG_FROM_SYSTEM = 'system'

const PAGE = 50

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
    mentions: sub.userMentions ?? 0,
    alert: !!sub.alert,
    open: sub.open ?? true,
    updatedAt: sub._updatedAt || old?.updatedAt || sub.ts || '',
  }
}

function activity(room) {
  return room.lastMessage?.ts || room.updatedAt || ''
}

// useChatStore owns rooms, messages per room, the open room and the connection state.
export const useChatStore = defineStore('chat', () => {
  const rooms = reactive(new Map())
  const messages = reactive(new Map()) // rid -> { list: [oldest..newest], hasMore, loading, loaded }
  const currentId = ref('')
  const connection = ref('disconnected') // connecting | connected | reconnecting | reconnected | disconnected
  const error = ref('')

  const roomList = computed(() =>
    [...rooms.values()].filter((r) => r.open !== false).sort((a, b) => (activity(a) < activity(b) ? 1 : activity(a) > activity(b) ? -1 : 0)),
  )
  const current = computed(() => rooms.get(currentId.value) || null)
  const currentMessages = computed(() => messages.get(currentId.value)?.list || [])
  const totalUnread = computed(() => [...rooms.values()].reduce((n, r) => n + (r.unread || 0), 0))

  function origin(m) {
    if (m.t) return MSG_FROM_SYSTEM
    const me = useAuthStore().me
    if (!me) return MSG_FROM_OPPOSITE
    if ((me.rcUserId && m.u?._id === me.rcUserId) || m.u?.username === me.username) return MSG_FROM_SELF
    return MSG_FROM_OPPOSITE
  }

  function bucket(rid) {
    let b = messages.get(rid)
    if (!b) {
      b = { list: [], hasMore: true, loading: false, loaded: false }
      messages.set(rid, b)
    }
    return b
  }

  function upsertMessage(m) {
    const b = messages.get(m.rid)
    if (!b) return
    const i = b.list.findIndex((x) => x._id === m._id)
    const item = { ...m, from: origin(m), status: 'sent' }
    if (i >= 0) {
      const old = b.list[i]
      // An older copy (same message seen twice) never replaces a newer one.
      if (old._updatedAt && m._updatedAt && old._updatedAt > m._updatedAt) return
      b.list.splice(i, 1, item)
      return
    }
    let at = b.list.length
    while (at > 0 && b.list[at - 1].ts > m.ts && b.list[at - 1].status === 'sent') at--
    b.list.splice(at, 0, item)
  }

  async function loadRooms() {
    const res = await api.rooms()
    const seen = new Set()
    for (const r of res?.rooms || []) {
      seen.add(r.id)
      rooms.set(r.id, { ...rooms.get(r.id), ...r })
    }
    for (const id of [...rooms.keys()]) if (!seen.has(id)) rooms.delete(id)
  }

  async function loadLatest(rid) {
    const b = bucket(rid)
    b.loading = true
    try {
      const res = await api.messages(rid, { count: PAGE })
      const page = (res?.messages || []).slice().reverse()
      if (!b.loaded) {
        b.hasMore = !!res?.hasMore
        b.loaded = true
      }
      for (const m of page) upsertMessage(m)
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
      const res = await api.messages(rid, { before: oldest?.ts, count: PAGE })
      for (const m of res?.messages || []) upsertMessage(m)
      b.hasMore = !!res?.hasMore
    } finally {
      b.loading = false
    }
  }

  async function openRoom(rid) {
    currentId.value = rid
    const b = bucket(rid)
    if (!b.loaded) await loadLatest(rid)
    await markReadIfFocused()
  }

  let readInFlight = ''
  async function markReadIfFocused() {
    const room = current.value
    if (!room || document.visibilityState !== 'visible' || !document.hasFocus()) return
    if (!room.unread && !room.alert && !room.mentions) return
    if (readInFlight === room.id) return
    readInFlight = room.id
    try {
      await api.markRead(room.id)
      room.unread = 0
      room.mentions = 0
      room.alert = false
    } catch (err) {
      error.value = `mark read: ${err.message}`
    } finally {
      readInFlight = ''
    }
  }

  // --- sending ---

  function pushPending(rid, id, text) {
    const me = useAuthStore().me
    const b = bucket(rid)
    b.list.push({
      _id: id,
      rid,
      msg: text,
      ts: new Date().toISOString(),
      u: { _id: me?.rcUserId, username: me?.username, name: me?.name },
      from: MSG_FROM_SELF,
      status: 'pending',
    })
  }

  function setStatus(rid, id, status) {
    const b = messages.get(rid)
    const m = b?.list.find((x) => x._id === id)
    if (m && m.status !== 'sent') m.status = status
  }

  async function deliver(rid, id, text) {
    try {
      const res = await api.send(rid, id, text)
      const b = messages.get(rid)
      if (b && res?.message) {
        const i = b.list.findIndex((x) => x._id === id && x.status !== 'sent')
        if (i >= 0) b.list.splice(i, 1)
        upsertMessage(res.message)
      }
    } catch (err) {
      setStatus(rid, id, 'failed')
      error.value = `send failed: ${err.message}`
    }
  }

  async function send(text) {
    const rid = currentId.value
    const body = text.trim()
    if (!rid || !body) return
    const id = newMessageId()
    pushPending(rid, id, body)
    await deliver(rid, id, body)
  }

  async function retry(m) {
    setStatus(m.rid, m._id, 'pending')
    await deliver(m.rid, m._id, m.msg)
  }

  function discard(m) {
    const b = messages.get(m.rid)
    const i = b ? b.list.findIndex((x) => x._id === m._id && x.status !== 'sent') : -1
    if (i >= 0) b.list.splice(i, 1)
  }

  async function edit(m, text) {
    const res = await api.edit(m.rid, m._id, text)
    if (res?.message) upsertMessage(res.message)
  }

  async function remove(m) {
    await api.remove(m.rid, m._id)
    onMessageDeleted({ rid: m.rid, _id: m._id })
  }

  async function upload(file, description) {
    const rid = currentId.value
    if (!rid) return
    const res = await api.upload(rid, file, description)
    if (res?.message) upsertMessage(res.message)
  }

  async function openDM(username) {
    const res = await api.openDM(username)
    const r = res.room
    rooms.set(r.id, { ...rooms.get(r.id), ...r, open: true })
    await openRoom(r.id)
  }

  async function createRoom(type, name, members) {
    const res = await api.createRoom(type, name, members)
    const r = res.room
    rooms.set(r.id, { ...rooms.get(r.id), ...r })
    await openRoom(r.id)
  }

  // --- pushes (called by the realtime layer) ---

  function onMessage(m) {
    if (!m || !m.rid || !m._id) return
    upsertMessage(m)
    const room = rooms.get(m.rid)
    if (room) {
      if (!room.lastMessage || room.lastMessage.ts <= m.ts || room.lastMessage._id === m._id) room.lastMessage = m
      if (m.rid === currentId.value && origin(m) !== MSG_FROM_SELF) markReadIfFocused()
    } else {
      // A room we do not know yet (its subscription push may still be on the way).
      loadRooms().catch(() => {})
    }
  }

  function onMessageDeleted(d) {
    const b = messages.get(d?.rid)
    if (!b) return
    const i = b.list.findIndex((x) => x._id === d._id)
    if (i >= 0) b.list.splice(i, 1)
    const room = rooms.get(d.rid)
    if (room?.lastMessage?._id === d._id) room.lastMessage = b.list.findLast((x) => x.status === 'sent')
  }

  function onSubscriptionChanged(n) {
    const sub = n?.msg
    if (!sub?.rid) return
    const method = n.method
    if (method === 'removed' || method === 'remove') {
      rooms.delete(sub.rid)
      if (currentId.value === sub.rid) currentId.value = ''
      return
    }
    const old = rooms.get(sub.rid)
    rooms.set(sub.rid, roomFromSubscription(sub, old))
    if (sub.rid === currentId.value && (sub.unread || sub.alert)) markReadIfFocused()
  }

  async function resync() {
    await loadRooms()
    if (currentId.value) await loadLatest(currentId.value)
    await markReadIfFocused()
  }

  function reset() {
    rooms.clear()
    messages.clear()
    currentId.value = ''
    connection.value = 'disconnected'
    error.value = ''
  }

  return {
    rooms, messages, currentId, connection, error,
    roomList, current, currentMessages, totalUnread,
    loadRooms, loadOlder, openRoom, markReadIfFocused,
    send, retry, discard, edit, remove, upload, openDM, createRoom,
    onMessage, onMessageDeleted, onSubscriptionChanged, resync, reset,
  }
})
