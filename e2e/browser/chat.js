// Two people chat through rcgateway's web UI in Debian's Chromium, driven by
// playwright-core. Run by chat_test.go; configured by environment:
//   RCGW_BASE_URL   the running `rcgateway demo` (http://127.0.0.1:PORT)
//   RCGW_ARTIFACT   where to write the screenshot (PNG)
//   CHROMIUM_PATH   the browser (default /usr/bin/chromium)
// Prints "browser: ok" and exits 0 on success; prints the failure and exits 1 otherwise.
'use strict'

const fs = require('fs')
const os = require('os')
const path = require('path')
const { chromium } = require('playwright-core')

const base = process.env.RCGW_BASE_URL
const artifact = process.env.RCGW_ARTIFACT
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const TIMEOUT = 20000

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

const step = (msg) => console.log(`browser: ${msg}`)

async function open(label, username, problems, dirs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rcgw-chromium-${label}-`))
  dirs.push(dir)
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath,
    headless: true,
    args: ARGS,
    viewport: { width: 900, height: 620 },
    timeout: 60000,
  })
  ctx.setDefaultTimeout(TIMEOUT)
  const page = ctx.pages()[0] || (await ctx.newPage())
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${label} console error: ${m.text()}`)
  })
  page.on('pageerror', (e) => problems.push(`${label} page error: ${e.message}`))
  page.on('requestfailed', (r) => {
    const f = r.failure()?.errorText || ''
    // A hub connection cut when the page closes is not an error.
    if (!/ERR_ABORTED/.test(f)) problems.push(`${label} request failed: ${r.url()} ${f}`)
  })
  // The page must run under the gateway's Content-Security-Policy: any violation shows
  // as a console error and fails the run.
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) problems.push(`${label} CSP violation: ${m.text()}`)
  })
  const doc = await page.goto(base + '/')
  const csp = (await doc.allHeaders())['content-security-policy'] || ''
  if (!/script-src 'self'/.test(csp) || /unsafe-inline/.test(csp)) {
    throw new Error(`the UI is served without a strict Content-Security-Policy: ${JSON.stringify(csp)}`)
  }
  await page.getByTestId(`demo-user-${username}`).click()
  await page.getByTestId('me').waitFor()
  await page.locator('[data-testid=connection-banner]').waitFor({ state: 'detached' })
  step(`${label} signed in as ${username}`)
  return { ctx, page }
}

async function badgeCount(room) {
  if ((await room.count()) === 0) return 0
  const badge = room.locator('[data-testid=unread-badge]')
  if ((await badge.count()) === 0) return 0
  try {
    return parseInt(await badge.first().textContent({ timeout: 1000 }), 10) || 0
  } catch {
    return 0 // the badge went away between the two looks
  }
}

async function waitFor(cond, what) {
  const deadline = Date.now() + TIMEOUT
  while (Date.now() < deadline) {
    if (await cond()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function sendText(page, text) {
  const box = page.locator('.composer textarea')
  await box.fill(text)
  await box.press('Enter')
  await page.locator('.msg-self.msg-sent', { hasText: text }).waitFor()
}

async function dm(page, username) {
  await page.getByTestId('new-dm').click()
  const dialog = page.locator('.el-dialog', { hasText: 'Start a direct message' })
  await dialog.locator('.el-select').click()
  await page.locator('.el-select-dropdown__item', { hasText: `@${username}` }).click()
  await dialog.getByTestId('dm-start').click()
  await dialog.waitFor({ state: 'hidden' })
  await page.getByTestId('room-title').waitFor()
}

async function main() {
  if (!base || !artifact) throw new Error('RCGW_BASE_URL and RCGW_ARTIFACT must be set')
  const res = await fetch(base + '/api/demo/users')
  if (!res.ok) throw new Error(`GET /api/demo/users: HTTP ${res.status}`)
  const users = (await res.json()).users || []
  if (users.length < 2) throw new Error(`need two demo users, got ${users.length}`)
  const [ua, ub, uc] = users
  const problems = []
  const dirs = []
  const contexts = []
  try {
    const a = await open('A', ua.username, problems, dirs)
    contexts.push(a.ctx)
    const b = await open('B', ub.username, problems, dirs)
    contexts.push(b.ctx)

    // B's current badge on the DM with A (the room may already exist, or not yet).
    const bRoom = b.page.locator('.room', { hasText: ua.name || ua.username }).first()
    const before = await badgeCount(bRoom)

    // A opens a DM with B and writes.
    await dm(a.page, ub.username)
    const hello = `Hello ${ub.name || ub.username}, lunch at noon?`
    await sendText(a.page, hello)
    step('A sent a DM')

    // B sees the DM's unread badge rise, without reloading.
    await waitFor(async () => (await badgeCount(bRoom)) > before, 'B: unread badge to rise')
    step(`B sees the unread badge rise: ${before} -> ${await badgeCount(bRoom)}`)

    // B opens the room: the message is there, marked as someone else's, and the badge clears.
    await bRoom.click()
    await b.page.locator('.msg-opposite', { hasText: hello }).waitFor()
    await bRoom.locator('[data-testid=unread-badge]').waitFor({ state: 'detached' })
    step('B read the message; badge cleared')

    const reply = 'Sounds good, see you there!'
    await sendText(b.page, reply)
    await a.page.locator('.msg-opposite', { hasText: reply }).waitFor()
    step('A sees the reply')

    // A third user (when the demo has one) writes to A, so A's screenshot shows the
    // conversation and a room with an unread badge.
    if (uc) {
      const c = await open('C', uc.username, problems, dirs)
      contexts.push(c.ctx)
      await dm(c.page, ua.username)
      await sendText(c.page, 'Are you joining the standup?')
      const aRoom = a.page.locator('.room', { hasText: uc.name || uc.username }).first()
      await aRoom.locator('[data-testid=unread-badge]').filter({ hasText: /^[1-9]/ }).waitFor()
      step('A sees an unread badge from C while the conversation with B is open')
    } else {
      await sendText(b.page, 'One more thing…')
      const aRoom = a.page.locator('.room.active')
      // The open, focused room is marked read at once; leave it so the badge stays.
      await a.page.locator('.msg-opposite', { hasText: 'One more thing' }).waitFor()
      await aRoom.waitFor()
    }

    fs.mkdirSync(path.dirname(artifact), { recursive: true })
    await a.page.screenshot({ path: artifact })
    step(`screenshot ${artifact}`)

    // Let late console errors surface before judging.
    await a.page.evaluate(() => new Promise((r) => setTimeout(r, 300)))
    if (problems.length) throw new Error('browser problems:\n  ' + problems.join('\n  '))
  } finally {
    for (const c of contexts) await c.close().catch(() => {})
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
  }
  console.log('browser: ok')
}

main().catch((err) => {
  console.error(`browser: FAIL: ${err.stack || err}`)
  process.exit(1)
})
