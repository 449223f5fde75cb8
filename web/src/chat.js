// The app's one ChatClient (from the client package, web/client) and the Vue plugin that
// provides its store to the components. The token comes from the auth store.
import { ChatClient } from '../client/src/index.js'
import { createChat } from '../client/src/vue.js'

let tokenSource = () => ''

/** setTokenSource tells the client where the product JWT comes from ({forceRefresh}) => token. */
export function setTokenSource(fn) {
  tokenSource = fn
}

export const client = new ChatClient({ token: (o) => tokenSource(o) })
export const chatPlugin = createChat(client)
export const chatStore = chatPlugin.store
