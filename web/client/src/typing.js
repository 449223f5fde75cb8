// Typing indicators over ChatClient, framework-free: which rooms this tab has open (reported
// to the gateway, refreshed while open, so the user's upstream follows their typing), the
// user's own typing (throttled), and who is typing in each room (an indicator without news
// for TYPING_TIMEOUT is dropped: Rocket.Chat sends no "stopped" when a client vanishes).

/** Refresh of the open rooms (the gateway keeps them 60 s). */
export const OPEN_REFRESH = 25000
/** At most one "typing" report per room this often while the user types. */
export const TYPING_THROTTLE = 3000
/** The user counts as stopped after this long without a keystroke. */
export const TYPING_IDLE = 5000
/** Someone else's indicator disappears after this long without news. */
export const TYPING_TIMEOUT = 15000

function randomTab() {
  const a = new Uint8Array(12)
  globalThis.crypto.getRandomValues(a)
  return Array.from(a, (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 20)
}

/**
 * createTyping(client, opts) → {open, close, typed, stopped, typers, onChange, dispose}.
 * opts: tab (an id for this tab), now/setTimeout/clearTimeout/setInterval/clearInterval (tests).
 */
export function createTyping(client, opts = {}) {
  const tab = opts.tab || randomTab()
  const now = opts.now || (() => Date.now())
  const setT = opts.setTimeout || globalThis.setTimeout.bind(globalThis)
  const clearT = opts.clearTimeout || globalThis.clearTimeout.bind(globalThis)
  const setI = opts.setInterval || globalThis.setInterval.bind(globalThis)
  const clearI = opts.clearInterval || globalThis.clearInterval.bind(globalThis)

  const open = new Map() // rid -> holders
  const mine = new Map() // rid -> {sentAt, idle timer}
  const others = new Map() // rid -> Map(username -> timer)
  const listeners = new Set()
  let refresh = null

  const ignore = () => {} // typing is best effort: a failed report is not worth an error
  const report = () => client.api.openRooms(tab, [...open.keys()]).catch(ignore)
  const changed = (rid) => { for (const fn of [...listeners]) fn(rid) }

  function schedule() {
    if (open.size && !refresh) refresh = setI(report, OPEN_REFRESH)
    if (!open.size && refresh) { clearI(refresh); refresh = null }
  }

  /** The tab shows rid; returns a function that closes it again. */
  function openRoom(rid) {
    open.set(rid, (open.get(rid) || 0) + 1)
    if (open.get(rid) === 1) { report(); schedule() }
    let done = false
    return () => {
      if (done) return
      done = true
      closeRoom(rid)
    }
  }

  function closeRoom(rid) {
    const n = (open.get(rid) || 1) - 1
    if (n > 0) { open.set(rid, n); return }
    open.delete(rid)
    stopped(rid)
    const m = others.get(rid)
    if (m) { for (const t of m.values()) clearT(t); others.delete(rid); changed(rid) }
    report()
    schedule()
  }

  /** The user pressed a key in rid's composer. */
  function typed(rid) {
    const st = mine.get(rid) || { sentAt: -Infinity, idle: null }
    mine.set(rid, st)
    if (now() - st.sentAt >= TYPING_THROTTLE) {
      st.sentAt = now()
      client.api.typing(rid, true).catch(ignore)
    }
    clearT(st.idle)
    st.idle = setT(() => stopped(rid), TYPING_IDLE)
  }

  /** The user sent or cleared the text (or left the room). */
  function stopped(rid) {
    const st = mine.get(rid)
    if (!st) return
    clearT(st.idle)
    mine.delete(rid)
    client.api.typing(rid, false).catch(ignore)
  }

  function onTyping({ rid, username, typing }) {
    if (!rid || !username) return
    let m = others.get(rid)
    if (!m) { m = new Map(); others.set(rid, m) }
    clearT(m.get(username))
    if (typing) m.set(username, setT(() => { m.delete(username); changed(rid) }, TYPING_TIMEOUT))
    else m.delete(username)
    changed(rid)
  }

  const offs = [
    client.on('typing', onTyping),
    // A new hub connection may mean a new upstream: say again what is open.
    client.on('reconnected', () => { if (open.size) report() }),
    client.on('resync', () => { if (open.size) report() }),
  ]

  return {
    tab,
    open: openRoom,
    typed,
    stopped,
    /** Usernames typing in rid now, in the order they started. */
    typers: (rid) => [...(others.get(rid)?.keys() || [])],
    /** fn(rid) after the typers of rid changed; returns an unsubscribe function. */
    onChange(fn) { listeners.add(fn); return () => listeners.delete(fn) },
    dispose() {
      for (const off of offs) off()
      for (const rid of [...open.keys()]) { open.set(rid, 1); closeRoom(rid) }
      for (const m of others.values()) for (const t of m.values()) clearT(t)
      others.clear()
      listeners.clear()
    },
  }
}
