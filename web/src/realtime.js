import * as signalR from '@microsoft/signalr'
import { useAuthStore } from './stores/auth'
import { useChatStore } from './stores/chat'

// One SignalR connection to the gateway's hub per signed-in tab. Pushes go straight into
// the chat store; after a reconnect the store refetches what the gap may have hidden.
let connection = null
let reconnectedTimer = null

export async function startRealtime() {
  const auth = useAuthStore()
  const chat = useChatStore()
  await stopRealtime()
  const conn = new signalR.HubConnectionBuilder()
    .withUrl('/signalr', { accessTokenFactory: () => auth.token })
    .withAutomaticReconnect([0, 1000, 2000, 5000, 10000, 10000, 30000])
    .configureLogging(signalR.LogLevel.Warning)
    .build()

  conn.on('getRoomMessageNotification', (m) => chat.onMessage(m))
  conn.on('getRoomSubscriptionChangedNotification', (n) => chat.onSubscriptionChanged(n))
  conn.on('getRoomMessageDeletedNotification', (d) => chat.onMessageDeleted(d))
  conn.on('getNotification', () => {})
  conn.on('getEphemeralMessageNotification', () => {})

  conn.onreconnecting(() => {
    chat.connection = 'reconnecting'
  })
  conn.onreconnected(async () => {
    chat.connection = 'reconnected'
    clearTimeout(reconnectedTimer)
    reconnectedTimer = setTimeout(() => {
      if (chat.connection === 'reconnected') chat.connection = 'connected'
    }, 3000)
    try {
      await chat.resync()
    } catch (err) {
      chat.error = `refetch after reconnect: ${err.message}`
    }
  })
  conn.onclose(() => {
    if (connection === conn) chat.connection = 'disconnected'
  })

  connection = conn
  chat.connection = 'connecting'
  try {
    await conn.start()
    chat.connection = 'connected'
  } catch (err) {
    chat.connection = 'disconnected'
    chat.error = `realtime connection failed: ${err.message}`
  }
}

export async function reconnectRealtime() {
  if (connection && connection.state === signalR.HubConnectionState.Disconnected) {
    await startRealtime()
    await useChatStore().resync()
  }
}

export async function stopRealtime() {
  const conn = connection
  connection = null
  clearTimeout(reconnectedTimer)
  if (conn) await conn.stop().catch(() => {})
}
