import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { client, setTokenSource } from '../chat'

const KEY = 'rcgateway.token'
const DEMO_KEY = 'rcgateway.demoUser'

// useAuthStore owns who is signed in: the product JWT (kept per tab in sessionStorage)
// and the profile the gateway returns for it. A token the gateway rejects (even after a
// refresh) signs the user out with a notice, instead of retrying with it forever.
export const useAuthStore = defineStore('auth', () => {
  const token = ref(sessionStorage.getItem(KEY) || '')
  const demoUser = ref(sessionStorage.getItem(DEMO_KEY) || '')
  const me = ref(null)
  const demoUsers = ref([])
  const demoMode = ref(false)
  const expired = ref(false)

  // In demo mode a rejected token is replaced by a fresh one for the same demo user
  // (the demo's signing key changes on every restart); a pasted JWT cannot be refreshed.
  setTokenSource(async ({ forceRefresh } = {}) => {
    const who = demoUser.value
    if (forceRefresh && who) {
      try {
        const res = await client.api.request('POST', '/api/demo/token', { json: { username: who }, auth: false })
        // A refresh that answers after the tab signed out (another request's 401 did it)
        // must not bring the session back.
        if (res?.token && demoUser.value === who) setToken(res.token)
      } catch {
        // keep the old token: the caller sees it rejected and signs out
      }
    }
    return token.value
  })
  client.on('unauthorized', () => {
    if (token.value) {
      signOut()
      expired.value = true
    }
  })

  const signedIn = computed(() => !!token.value && !!me.value)

  function setToken(t) {
    token.value = t
    if (t) sessionStorage.setItem(KEY, t)
    else sessionStorage.removeItem(KEY)
  }

  async function loadDemoUsers() {
    try {
      const res = await client.api.request('GET', '/api/demo/users', { auth: false })
      demoUsers.value = res?.users || []
      demoMode.value = true
    } catch {
      demoMode.value = false
      demoUsers.value = []
    }
  }

  async function signInWithToken(jwt, asDemoUser = '') {
    expired.value = false
    demoUser.value = asDemoUser
    setToken(jwt.trim())
    try {
      me.value = await client.api.me()
      if (asDemoUser) sessionStorage.setItem(DEMO_KEY, asDemoUser)
      else sessionStorage.removeItem(DEMO_KEY)
    } catch (err) {
      signOut()
      throw err
    }
  }

  async function signInAsDemoUser(username) {
    const res = await client.api.request('POST', '/api/demo/token', { json: { username }, auth: false })
    await signInWithToken(res.token, username)
  }

  async function restore() {
    if (!token.value) return false
    try {
      me.value = await client.api.me()
      return true
    } catch (err) {
      const wasRejected = err?.status === 401
      signOut()
      expired.value = wasRejected
      return false
    }
  }

  function signOut() {
    setToken('')
    demoUser.value = ''
    sessionStorage.removeItem(DEMO_KEY)
    me.value = null
    expired.value = false
  }

  return { token, me, demoUsers, demoMode, expired, signedIn, loadDemoUsers, signInWithToken, signInAsDemoUser, restore, signOut }
})
