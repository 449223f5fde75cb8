import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import { chatStore } from '../chat'
import { errorText, t } from '../i18n'

// useChatUi owns what the screen shows: the open room, the "send failed" notice and the
// other passing errors. Rooms and messages live in the client package's store.
export const useChatUi = defineStore('chatUi', () => {
  const currentId = ref('')
  const sendError = ref('')
  const error = ref('')

  // A connection that recovers clears the "send failed" notice: failed messages keep
  // their own Retry button.
  watch(chatStore.connection, (now, before) => {
    if (now === 'connected' && before !== 'connected') sendError.value = ''
  })

  let readInFlight = ''
  async function markReadIfFocused() {
    const room = chatStore.rooms.get(currentId.value)
    if (!room || document.visibilityState !== 'visible' || !document.hasFocus()) return
    if (!room.unread && !room.alert && !room.mentions) return
    if (readInFlight === room.id) return
    readInFlight = room.id
    try {
      await chatStore.markRead(room.id)
    } catch {
      // the badge stays; the next focus or message tries again
    } finally {
      readInFlight = ''
    }
  }

  function openRoom(rid) {
    currentId.value = rid
    markReadIfFocused()
  }

  function closeRoom() {
    currentId.value = ''
  }

  function failed(key, err) {
    if (err?.status === 401) return // the sign-in screen explains it
    const text = t(key, { reason: errorText(err) })
    if (key === 'err.sendFailed') sendError.value = text
    else error.value = text
  }

  function reset() {
    currentId.value = ''
    sendError.value = ''
    error.value = ''
  }

  return { currentId, sendError, error, openRoom, closeRoom, markReadIfFocused, failed, reset }
})
