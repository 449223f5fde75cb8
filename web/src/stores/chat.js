import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import { chatStore } from '../chat'
import { errorText, t } from '../i18n'

// useChatUi owns what the screen shows: the open room, the "send failed" notice and the
// other passing errors. Rooms and messages live in the client package's store.
export const useChatUi = defineStore('chatUi', () => {
  const currentId = ref('')
  const threadId = ref('') // the open thread's first message, '' when none
  const threadParent = ref(null) // that message, when the room's list does not hold it
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
    if (rid !== currentId.value) closeThread()
    currentId.value = rid
    markReadIfFocused()
  }

  function closeRoom() {
    closeThread()
    currentId.value = ''
  }

  function openThread(m) {
    threadId.value = m._id
    threadParent.value = m
  }

  function closeThread() {
    threadId.value = ''
    threadParent.value = null
  }

  function failed(key, err) {
    if (err?.status === 401) return // the sign-in screen explains it
    const text = t(key, { reason: errorText(err) })
    if (key === 'err.sendFailed') sendError.value = text
    else error.value = text
  }

  function reset() {
    currentId.value = ''
    closeThread()
    sendError.value = ''
    error.value = ''
  }

  return { currentId, threadId, threadParent, sendError, error, openRoom, closeRoom, openThread, closeThread, markReadIfFocused, failed, reset }
})
