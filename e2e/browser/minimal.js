// The guide's example app (web/examples/minimal, docs/vue-guide.md) in Debian's Chromium
// against `rcgateway demo`: it lists the rooms, shows a room's messages, sends one that
// comes back as sent, and shows a message another user posts through the gateway.
// Run by minimal_test.go (TestMinimalExampleInChromium); configured by environment:
//   RCGW_BASE_URL      the running demo (http://127.0.0.1:PORT)
//   RCGW_EXAMPLE_DIST  the example built with base /minimal/
//   CHROMIUM_PATH      the browser (default /usr/bin/chromium)
// Prints "minimal: ok" and exits 0 on success.
'use strict'

const fs = require('fs')
const path = require('path')
const assert = require('assert/strict')
const { chromium } = require('playwright-core')

const base = process.env.RCGW_BASE_URL
const dist = process.env.RCGW_EXAMPLE_DIST
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // The example's pages are fulfilled by the test (no address space of their own), so
  // Chromium would treat their WebSocket to 127.0.0.1 as a public page reaching a local one.
  '--disable-features=LocalNetworkAccessChecks']
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }

async function token(username) {
  const res = await fetch(base + '/api/demo/token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username }) })
  return (await res.json()).token
}

async function main() {
  if (!base || !dist) throw new Error('RCGW_BASE_URL and RCGW_EXAMPLE_DIST must be set')
  const users = (await (await fetch(base + '/api/demo/users')).json()).users || []
  if (users.length < 2) throw new Error(`need two demo users, got ${users.length}`)
  const [me, other] = users
  const browser = await chromium.launch({ executablePath, args: ARGS, timeout: 60000 })
  const problems = []
  try {
    const ctx = await browser.newContext()
    ctx.setDefaultTimeout(20000)
    // The example's build is served under the gateway's own origin, as a product serves
    // its app next to the gateway: /api and /signalr reach the real demo.
    await ctx.route(base + '/minimal/**', (route) => {
      const rel = new URL(route.request().url()).pathname.replace(/^\/minimal\/?/, '') || 'index.html'
      const file = path.join(dist, path.normalize(rel))
      if (!file.startsWith(dist) || !fs.existsSync(file)) return route.fulfill({ status: 404, body: 'not found' })
      return route.fulfill({ status: 200, contentType: TYPES[path.extname(file)] || 'application/octet-stream', body: fs.readFileSync(file) })
    })
    const p = await ctx.newPage()
    p.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`) })
    p.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
    await p.goto(`${base}/minimal/?user=${encodeURIComponent(me.username)}`)
    await p.locator('.state', { hasText: 'connected' }).filter({ hasNotText: 'disconnected' }).waitFor()
    await p.locator('.rooms button', { hasText: 'general' }).click()
    await p.locator('.messages .msg').first().waitFor()
    console.log('minimal: rooms and the history of general are shown')

    const text = `from the minimal example ${Date.now()}`
    await p.getByLabel('Message').fill(text)
    await p.getByRole('button', { name: 'Send' }).click()
    await p.locator('.msg.self.sent', { hasText: text }).waitFor()
    console.log('minimal: a sent message comes back from the gateway as sent')

    // Another user posts through the gateway's REST API: the example gets it pushed.
    const jwt = await token(other.username)
    const auth = { Authorization: `Bearer ${jwt}`, 'Content-Type': 'application/json' }
    const rooms = (await (await fetch(base + '/api/im/rooms', { headers: auth })).json()).rooms
    const general = rooms.find((r) => r.name === 'general')
    assert.ok(general, `${other.username} is in general`)
    const reply = `reply from ${other.username} ${Date.now()}`
    const res = await fetch(`${base}/api/im/rooms/${general.id}/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ text: reply }) })
    assert.equal(res.status, 201, `post as ${other.username}: ${res.status}`)
    await p.locator('.msg.opposite', { hasText: reply }).waitFor()
    console.log('minimal: a message from another user is pushed to the example')
    if (problems.length) throw new Error('browser problems:\n  ' + problems.join('\n  '))
  } finally {
    await browser.close().catch(() => {})
  }
  console.log('minimal: ok')
}

main().catch((err) => {
  console.error(`minimal: FAIL: ${err.stack || err}`)
  process.exit(1)
})
