// Vue 3 layer over ChatClient: a plugin that provides one store per app, and the
// composables useRooms, useMessages and useConnectionState.
import { computed, getCurrentScope, inject, isRef, onScopeDispose, readonly, ref, watch } from 'vue'
import { createChatStore } from './store.js'
import { createTyping } from './typing.js'
import { createPresence } from './presence.js'

export { createChatStore, FROM_SELF, FROM_OTHER, FROM_SYSTEM } from './store.js'

const KEY = Symbol.for('@rcgateway/client')

/**
 * createChat returns a Vue plugin providing the store of `client` to the app.
 * `app.use(createChat(client))`, then the composables need no argument.
 */
export function createChat(client, opts) {
  const store = createChatStore(client, opts)
  return {
    store,
    install(app) {
      app.provide(KEY, store)
    },
  }
}

/** The store provided by createChat (or the given one). */
export function useChatStore(store) {
  if (store) return store
  const s = getCurrentScope() ? inject(KEY, null) : null
  if (!s) throw new Error('@rcgateway/client/vue: no chat store: app.use(createChat(client)) first')
  return s
}

/** Reactive rooms (newest activity first, with unread and mention counts). */
export function useRooms(store) {
  const s = useChatStore(store)
  return {
    rooms: s.roomList,
    totalUnread: s.totalUnread,
    loading: readonly(s.roomsLoading),
    byId: (rid) => s.rooms.get(rid) || null,
    refresh: () => s.loadRooms(),
    markRead: (rid) => s.markRead(rid),
    openDM: (username) => s.openDM(username),
    createRoom: (type, name, members) => s.createRoom(type, name, members),
  }
}

/**
 * The messages of a room (oldest first), loaded when the room id is set and refetched
 * after a reconnect while shown. `rid` may be a string or a ref.
 */
export function useMessages(rid, store) {
  const s = useChatStore(store)
  const id = isRef(rid) ? rid : ref(rid)
  const error = ref(null)
  let held = null
  const hold = (r) => {
    held?.release()
    held = null
    error.value = null
    if (!r) return
    held = s.watchRoom(r)
    held.load.catch((err) => { error.value = err })
  }
  watch(id, hold, { immediate: true })
  if (getCurrentScope()) onScopeDispose(() => held?.release())
  const b = () => (id.value ? s.buckets.get(id.value) : null)
  return {
    messages: computed(() => b()?.list || []),
    hasMore: computed(() => !!b()?.hasMore),
    loading: computed(() => !!b()?.loading),
    error,
    loadOlder: () => (id.value ? s.loadOlder(id.value) : Promise.resolve()),
    send: (text, opts) => s.send(id.value, text, opts),
    react: (m, emoji) => s.react(m, emoji),
    reactedByMe: (m, emoji) => s.reactedByMe(m, emoji),
    search: (q, opts) => s.search(id.value, q, opts),
    loadUntil: (mid, ts) => s.loadUntil(id.value, mid, ts),
    retry: (m) => s.retry(m),
    discard: (m) => s.discard(m),
    edit: (m, text) => s.edit(m, text),
    remove: (m) => s.remove(m),
    upload: (file, description, opts) => s.upload(id.value, file, description, opts),
    markRead: () => s.markRead(id.value),
  }
}

/**
 * The replies of a thread (oldest first), loaded when rid and tmid are set; replies pushed
 * meanwhile join the list. `rid` and `tmid` may be strings or refs.
 */
export function useThread(rid, tmid, store) {
  const s = useChatStore(store)
  const r = isRef(rid) ? rid : ref(rid)
  const t = isRef(tmid) ? tmid : ref(tmid)
  const error = ref(null)
  watch([r, t], ([room, thread]) => {
    error.value = null
    if (room && thread) s.loadThread(room, thread).catch((err) => { error.value = err })
  }, { immediate: true })
  const th = () => (t.value ? s.threads.get(t.value) : null)
  return {
    messages: computed(() => th()?.list || []),
    total: computed(() => th()?.total || 0),
    hasMore: computed(() => !!th()?.hasMore),
    loading: computed(() => !!th()?.loading),
    error,
    loadMore: () => (r.value && t.value ? s.loadThread(r.value, t.value) : Promise.resolve()),
    send: (text) => s.send(r.value, text, { tmid: t.value }),
  }
}

const typings = new WeakMap() // store -> createTyping instance (one per store)

/** The store's typing tracker (created on first use; opts only count then). */
export function typingOf(store, opts) {
  let t = typings.get(store)
  if (!t) {
    t = createTyping(store.client, opts)
    typings.set(store, t)
  }
  return t
}

/**
 * Typing in a room: `typers` (usernames of others typing now), `typed()` on each keystroke
 * and `stopped()` on send or clear. While the scope lives and `rid` is set, the room counts
 * as open in this tab, so the gateway follows its typing. `rid` may be a string or a ref.
 */
export function useTyping(rid, store) {
  const s = useChatStore(store)
  const t = typingOf(s)
  const id = isRef(rid) ? rid : ref(rid)
  const version = ref(0)
  const off = t.onChange((r) => { if (r === id.value) version.value++ })
  let close = null
  watch(id, (r, old) => {
    if (old) t.stopped(old)
    close?.()
    close = r ? t.open(r) : null
    version.value++
  }, { immediate: true })
  if (getCurrentScope()) onScopeDispose(() => { off(); if (id.value) t.stopped(id.value); close?.() })
  return {
    typers: computed(() => { void version.value; return id.value ? t.typers(id.value) : [] }),
    typed: () => { if (id.value) t.typed(id.value) },
    stopped: () => { if (id.value) t.stopped(id.value) },
  }
}

const presences = new WeakMap() // store -> createPresence instance (one per store)

/** The store's presence tracker (created on first use). */
export function presenceOf(store) {
  let p = presences.get(store)
  if (!p) {
    p = createPresence(store.client)
    presences.set(store, p)
  }
  return p
}

/**
 * A user's status, by Rocket.Chat user id or username (a string or a ref): a computed
 * 'online' | 'away' | 'busy' | 'offline', or undefined while unknown. The gateway sends the
 * status of a direct room's partner while that room is open in a tab (useTyping(rid) opens it).
 */
export function usePresence(who, store) {
  const p = presenceOf(useChatStore(store))
  const id = isRef(who) ? who : ref(who)
  const version = ref(0)
  const off = p.onChange(() => { version.value++ })
  if (getCurrentScope()) onScopeDispose(off)
  return computed(() => { void version.value; return p.status(id.value) })
}

/** The hub connection state: 'disconnected' | 'connecting' | 'connected' | 'reconnecting'. */
export function useConnectionState(store) {
  return readonly(useChatStore(store).connection)
}
