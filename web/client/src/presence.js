// User presence over ChatClient, framework-free: the last status the gateway pushed for each
// user (getPresenceNotification), looked up by Rocket.Chat user id or username. The gateway
// follows the partners of the direct rooms this user's tabs have open (the rooms reported by
// createTyping / useTyping), pushing the current status when such a room opens and then each
// change; a user nobody's open room needs has no known status (undefined).

/** The statuses the gateway sends. */
export const STATUSES = Object.freeze(['online', 'away', 'busy', 'offline'])

/**
 * createPresence(client) → {status, onChange, dispose}.
 * status(userIdOrUsername): 'online' | 'away' | 'busy' | 'offline' | undefined (not known).
 */
export function createPresence(client) {
  const byId = new Map()
  const byName = new Map()
  const listeners = new Set()

  function onPresence({ userId, username, status } = {}) {
    if (!STATUSES.includes(status) || (!userId && !username)) return
    if (userId) byId.set(userId, status)
    if (username) byName.set(username, status)
    for (const fn of [...listeners]) fn({ userId, username, status })
  }

  const off = client.on('presence', onPresence)
  return {
    status: (who) => (who ? byId.get(who) ?? byName.get(who) : undefined),
    /** fn({userId, username, status}) on every push; returns an unsubscribe function. */
    onChange(fn) { listeners.add(fn); return () => listeners.delete(fn) },
    dispose() { off(); listeners.clear(); byId.clear(); byName.clear() },
  }
}
