import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, setTokenSource } from '../api'

const KEY = 'rcgateway.token'

// useAuthStore owns who is signed in: the product JWT (kept per tab in sessionStorage)
// and the profile the gateway returns for it.
export const useAuthStore = defineStore('auth', () => {
  const token = ref(sessionStorage.getItem(KEY) || '')
  const me = ref(null)
  const demoUsers = ref([])
  const demoMode = ref(false)

  setTokenSource(() => token.value)

  const signedIn = computed(() => !!token.value && !!me.value)

  async function loadDemoUsers() {
    try {
      const res = await api.demoUsers()
      demoUsers.value = res?.users || []
      demoMode.value = true
    } catch {
      demoMode.value = false
      demoUsers.value = []
    }
  }

  async function signInWithToken(jwt) {
    token.value = jwt.trim()
    try {
      me.value = await api.me()
      sessionStorage.setItem(KEY, token.value)
    } catch (err) {
      token.value = ''
      me.value = null
      sessionStorage.removeItem(KEY)
      throw err
    }
  }

  async function signInAsDemoUser(username) {
    const res = await api.demoToken(username)
    await signInWithToken(res.token)
  }

  async function restore() {
    if (!token.value) return false
    try {
      me.value = await api.me()
      return true
    } catch {
      signOut()
      return false
    }
  }

  function signOut() {
    token.value = ''
    me.value = null
    sessionStorage.removeItem(KEY)
  }

  return { token, me, demoUsers, demoMode, signedIn, loadDemoUsers, signInWithToken, signInAsDemoUser, restore, signOut }
})
