// Desktop notifications, the title badge and the optional sound. A getNotification push
// (Rocket.Chat's desktop-notification payload: DMs and mentions) shows a Notification when
// the tab is hidden or the message's room is not the one on screen; the title counts the
// unread messages of all rooms; the sound is a short WebAudio beep (no audio file).
import { ref, watch } from 'vue'
import { chatStore, client } from './chat'

const SOUND_KEY = 'rcgateway.sound'
const BASE_TITLE = 'rcgateway'

/** soundOn is the user's choice, kept in localStorage. */
export const soundOn = ref(localStorage.getItem(SOUND_KEY) === 'on')
watch(soundOn, (on) => localStorage.setItem(SOUND_KEY, on ? 'on' : 'off'))

let audio = null
/** beep plays 150 ms of a 880 Hz tone. */
export function beep() {
  const Ctx = window.AudioContext || window.webkitAudioContext
  if (!Ctx) return
  audio ||= new Ctx()
  const osc = audio.createOscillator()
  const gain = audio.createGain()
  osc.frequency.value = 880
  gain.gain.setValueAtTime(0.15, audio.currentTime)
  gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.15)
  osc.connect(gain).connect(audio.destination)
  osc.start()
  osc.stop(audio.currentTime + 0.15)
}

/** askPermission asks for notifications once, from a user gesture (sign-in, the bell). */
export function askPermission() {
  if ('Notification' in window && Notification.permission === 'default') Notification.requestPermission().catch(() => {})
}

/**
 * setupNotifications wires the pushes to notifications, the badge and the sound.
 * currentId() is the room on screen; open(rid) shows a room (a notification's click).
 */
export function setupNotifications({ currentId, open }) {
  watch(chatStore.totalUnread, (n) => {
    document.title = n > 0 ? `(${n > 99 ? '99+' : n}) ${BASE_TITLE}` : BASE_TITLE
  }, { immediate: true })

  return client.on('notification', (n) => {
    const p = n?.payload || {}
    const me = chatStore.me.value
    if (p.sender?._id && me?.rcUserId && p.sender._id === me.rcUserId) return
    const onScreen = document.visibilityState === 'visible' && p.rid === currentId()
    if (onScreen) return
    if (soundOn.value) beep()
    if (!('Notification' in window) || Notification.permission !== 'granted') return
    // Usernames are derived from product ids (u-…): a DM is titled with the sender's display
    // name, as Rocket.Chat does itself with UI_Use_Real_Name.
    const title = (p.type === 'd' && p.sender?.name) || n.title || BASE_TITLE
    const note = new Notification(title, { body: n.text || p.message?.msg || '', tag: p.rid || undefined })
    note.onclick = () => {
      window.focus()
      if (p.rid) open(p.rid)
      note.close()
    }
  })
}
