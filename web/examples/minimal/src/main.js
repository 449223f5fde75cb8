import { createApp } from 'vue'
import { ChatClient } from '@rcgateway/client'
import { createChat } from '@rcgateway/client/vue'
import App from './App.vue'

// Your app already knows who is signed in: give the chat client the product JWT.
// This example asks the demo gateway for one (`rcgateway demo`, POST /api/demo/token).
async function productToken() {
  const username = new URLSearchParams(location.search).get('user') || 'alice'
  const res = await fetch('/api/demo/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username }),
  })
  return (await res.json()).token
}

let jwt = ''
const client = new ChatClient({
  token: async ({ forceRefresh }) => {
    if (!jwt || forceRefresh) jwt = await productToken()
    return jwt
  },
})
client.on('unauthorized', () => console.warn('chat: sign in again'))

const app = createApp(App)
app.use(createChat(client))
app.mount('#app')
client.start()
