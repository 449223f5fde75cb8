import { createApp } from 'vue'
import { createPinia } from 'pinia'
import 'element-plus/theme-chalk/dark/css-vars.css'
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import './style.css'
import App from './App.vue'
import { chatPlugin } from './chat'
import { locale } from './i18n'

// Dark mode follows the system: Element Plus's dark variables apply under html.dark.
const dark = window.matchMedia('(prefers-color-scheme: dark)')
const applyScheme = () => document.documentElement.classList.toggle('dark', dark.matches)
applyScheme()
dark.addEventListener('change', applyScheme)
document.documentElement.lang = locale.value

createApp(App).use(createPinia()).use(chatPlugin).mount('#app')
