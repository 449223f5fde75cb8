// The web UI's layouts, languages, accessibility (axe-core), files and edge cases in Debian's Chromium, driven by
// playwright-core against `rcgateway demo`. Run by chat_test.go (TestUIInChromium);
// configured by environment:
//   RCGW_BASE_URL      the running demo (http://127.0.0.1:PORT)
//   RCGW_ARTIFACT_DIR  where the screenshots go
//   CHROMIUM_PATH      the browser (default /usr/bin/chromium)
// Prints "ui: ok" and exits 0 on success; prints the failure and exits 1 otherwise.
'use strict'

const fs = require('fs')
const path = require('path')
const assert = require('assert/strict')
const { chromium } = require('playwright-core')
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')

const base = process.env.RCGW_BASE_URL
const artifacts = process.env.RCGW_ARTIFACT_DIR
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const TIMEOUT = 20000
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

const step = (msg) => console.log(`ui: ${msg}`)
const PHONE = { width: 390, height: 844 }
const DESKTOP = { width: 1280, height: 800 }

let browser
const problems = []

async function page(label, { viewport = DESKTOP, locale = 'en-US', colorScheme = 'light' } = {}) {
  const ctx = await browser.newContext({ viewport, locale, colorScheme })
  ctx.setDefaultTimeout(TIMEOUT)
  const p = await ctx.newPage()
  p.on('console', (m) => {
    // A 401 or a cut request the test provokes is logged by Chromium as a failed resource load.
    if (m.type() === 'error' && !/status of 401|ERR_INTERNET_DISCONNECTED/.test(m.text())) problems.push(`${label} console error: ${m.text()}`)
  })
  p.on('pageerror', (e) => problems.push(`${label} page error: ${e.message}`))
  return { ctx, p }
}

async function signIn(p, username) {
  await p.goto(base + '/')
  await p.getByTestId(`demo-user-${username}`).click()
  await p.getByTestId('me').waitFor()
  await p.locator('[data-testid=connection-banner]').waitFor({ state: 'detached' })
}

// noOverflow fails when any element reaches past the viewport's right edge (the phone
// layout bug of issue 15: a 110 px chat pane and an unreachable Send button).
async function noOverflow(p, what) {
  const wide = await p.evaluate(() => {
    const vw = document.documentElement.clientWidth
    const out = []
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect()
      if (r.width === 0 && r.height === 0) continue
      if (r.right > vw + 1 || r.left < -1) out.push(`${el.tagName.toLowerCase()}.${String(el.className).split(' ')[0]} [${Math.round(r.left)}..${Math.round(r.right)}]`)
    }
    return { vw, sw: document.documentElement.scrollWidth, out: out.slice(0, 8) }
  })
  assert.deepEqual(wide.out, [], `${what}: elements wider than the ${wide.vw}px viewport`)
  assert.ok(wide.sw <= wide.vw, `${what}: page scrolls sideways (${wide.sw} > ${wide.vw})`)
}

// axeCheck runs axe-core in the page (evaluated through the DevTools protocol, so the
// gateway's CSP without inline scripts stays in force) and fails on any serious or
// critical violation of WCAG 2.x A/AA or axe's best practices.
async function axeCheck(p, what) {
  // A dialog fading in has the colours of half its opacity: measure once transitions end.
  await p.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'))
  if (!(await p.evaluate(() => typeof window.axe === 'object'))) await p.evaluate(axeSource)
  const violations = await p.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }, resultTypes: ['violations'] })
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 4).map((n) => n.target.join(' ') + (n.failureSummary ? ` (${n.failureSummary.split('\n').slice(1, 2).join('').trim()})` : '')).join('; ')}${v.nodes.length > 4 ? ` … ${v.nodes.length} nodes` : ''}`)
  })
  // Collected, not thrown, so one run lists every screen's violations.
  for (const v of violations) problems.push(`axe on ${what}: ${v}`)
  if (!violations.length) step(`axe: no serious or critical violations on ${what}`)
}

async function shot(p, name) {
  const file = path.join(artifacts, name)
  await p.screenshot({ path: file })
  step(`screenshot ${file}`)
}

async function openRoom(p, name) {
  await p.locator('button.room', { hasText: name }).first().click()
  await p.getByTestId('room-title').filter({ hasText: name }).waitFor()
}

async function layouts(users) {
  const { ctx, p } = await page('desktop')
  await signIn(p, users[0].username)
  await openRoom(p, 'general')
  assert.ok(await p.locator('nav.rooms').isVisible(), 'desktop shows the room list next to the room')
  await noOverflow(p, 'desktop')
  await shot(p, 'ui-desktop.png')
  await ctx.close()

  const ph = await page('phone', { viewport: PHONE })
  await signIn(ph.p, users[0].username)
  assert.ok(await ph.p.locator('nav.rooms').isVisible(), 'phone starts on the room list')
  await noOverflow(ph.p, 'phone room list')
  await shot(ph.p, 'ui-phone-list.png')
  await openRoom(ph.p, 'general')
  assert.ok(!(await ph.p.locator('nav.rooms').isVisible()), 'phone hides the list while a room is open')
  const send = ph.p.getByTestId('send')
  const box = await send.boundingBox()
  assert.ok(box && box.x + box.width <= PHONE.width && box.width >= 40, `Send is on screen and tappable: ${JSON.stringify(box)}`)
  const pane = await ph.p.locator('main.pane').boundingBox()
  assert.ok(pane.width >= PHONE.width - 1, `the room uses the whole width: ${pane.width}`)
  const text = `A phone message that is long enough to wrap over more than one line of the bubble ${Date.now()}`
  await ph.p.locator('.composer textarea').fill(text)
  await send.click()
  await ph.p.locator('.msg-self.msg-sent', { hasText: text }).waitFor()
  await noOverflow(ph.p, 'phone room')
  await shot(ph.p, 'ui-phone-room.png')
  await ph.p.getByTestId('back').click()
  await ph.p.locator('nav.rooms').waitFor()
  await ctx.close()
  await ph.ctx.close()
  step('desktop and phone layouts fit their viewports; the phone shows list and room as two screens')
}

// Rocket.Chat parses every message into `md` (@rocket.chat/message-parser); the demo's
// simulator sends only a plain-text paragraph, so this check adds one message whose md
// has the shapes of packages/message-parser/src/definitions.ts to the history answer.
async function markdown(users) {
  const { ctx, p } = await page('markdown')
  const T = (value) => ({ type: 'PLAIN_TEXT', value })
  const md = [
    { type: 'PARAGRAPH', value: [
      { type: 'BOLD', value: [T('Release')] }, T(' notes: '),
      { type: 'LINK', value: { src: T('https://example.com/notes'), label: T('the notes') } }, T(' and '),
      { type: 'LINK', value: { src: T('javascript:alert(1)'), label: T('a trap') } }, T(' '),
      { type: 'INLINE_CODE', value: T('<b>not html</b>') }, T(' '),
      { type: 'MENTION_USER', value: T(users[0].rcUsername || users[0].username) }, // mentions name the Rocket.Chat account
    ] },
    { type: 'UNORDERED_LIST', value: [{ type: 'LIST_ITEM', value: [T('first')] }, { type: 'LIST_ITEM', value: [{ type: 'ITALIC', value: [T('second')] }] }] },
    { type: 'CODE', language: 'sh', value: [{ type: 'CODE_LINE', value: T('make test') }] },
  ]
  await p.route('**/api/im/rooms/*/messages?*', async (route) => {
    const res = await route.fetch()
    const body = await res.json()
    const newest = body.messages?.[0]
    if (newest) body.messages.unshift({ ...newest, _id: 'mdTestMessage00001', msg: 'Release notes', md, u: { _id: 'x', username: 'robot', name: 'Robot' }, ts: new Date().toISOString() })
    await route.fulfill({ response: res, json: body })
  })
  await signIn(p, users[0].username)
  await openRoom(p, 'general')
  const msg = p.locator('.msg', { hasText: 'Release' })
  await msg.locator('strong', { hasText: 'Release' }).waitFor()
  const link = msg.locator('a', { hasText: 'the notes' })
  assert.equal(await link.getAttribute('href'), 'https://example.com/notes')
  assert.equal(await link.getAttribute('target'), '_blank')
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer')
  assert.equal(await msg.locator('a', { hasText: 'a trap' }).count(), 0, 'a javascript: link is not clickable')
  assert.equal(await msg.locator('code', { hasText: '<b>not html</b>' }).count(), 1, 'code shows its text')
  assert.equal(await msg.locator('code b').count(), 0, 'text is never parsed as HTML')
  assert.equal(await msg.locator('li').count(), 2)
  assert.equal(await msg.locator('li em', { hasText: 'second' }).count(), 1)
  assert.equal(await msg.locator('pre code', { hasText: 'make test' }).count(), 1)
  assert.equal(await msg.locator('.rc-md-mention-me').count(), 1, 'a mention of me is highlighted')
  await p.getByTestId('day-separator').first().waitFor()
  await ctx.close()
  step('markdown renders as elements, with safe links only')
}

// Every screen in both layouts, both color schemes and both languages (pairwise: each
// layout meets each scheme and each language once) passes axe.
async function accessibility(users) {
  const combos = [
    { viewport: DESKTOP, colorScheme: 'light', locale: 'en-US', name: 'desktop light en' },
    { viewport: DESKTOP, colorScheme: 'dark', locale: 'zh-CN', name: 'desktop dark zh' },
    { viewport: PHONE, colorScheme: 'light', locale: 'zh-CN', name: 'phone light zh' },
    { viewport: PHONE, colorScheme: 'dark', locale: 'en-US', name: 'phone dark en' },
  ]
  for (const c of combos) {
    const { ctx, p } = await page(c.name, c)
    await p.goto(base + '/')
    await p.getByTestId(`demo-user-${users[0].username}`).waitFor()
    await axeCheck(p, `${c.name} sign-in`)
    await p.getByTestId(`demo-user-${users[0].username}`).click()
    await p.getByTestId('me').waitFor()
    await p.locator('[data-testid=connection-banner]').waitFor({ state: 'detached' })
    await p.locator('button.room').first().waitFor()
    if (c.viewport === PHONE) await axeCheck(p, `${c.name} room list`)
    await openRoom(p, 'general')
    await p.locator('.msg').first().waitFor()
    await axeCheck(p, `${c.name} room`)
    await ctx.close()
  }
}

// A 2x3 PNG (red), small enough to inline.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAIAAAA2iEnWAAAAEElEQVR4nGP4z8AARAwoFABE0AX7pM/egAAAAABJRU5ErkJggg==', 'base64')

// Files: an image picked in the file input shows upload progress, then a thumbnail loaded
// through the gateway (a blob, never a Rocket.Chat URL or token in the page); a file
// dropped on the room and one pasted into the composer are sent; a download gives the
// file's bytes under its name.
async function files(users) {
  const { ctx, p } = await page('files')
  const direct = []
  p.on('request', (r) => { if (/\/file-upload\/|rc_token|rc_uid/.test(r.url())) direct.push(r.url()) })
  await signIn(p, users[0].username)
  await openRoom(p, 'dev')
  // The bar may live only milliseconds on a local gateway: a MutationObserver notes what
  // it showed (its label and the highest value the XHR's upload progress reached).
  await p.evaluate(() => {
    window.__progress = { labels: [], max: 0 }
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid=upload-progress]')
      if (!el) return
      const text = el.querySelector('.upload-name')?.textContent
      if (text && !window.__progress.labels.includes(text)) window.__progress.labels.push(text)
      window.__progress.max = Math.max(window.__progress.max, Number(el.querySelector('progress')?.value || 0))
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true })
  })
  await p.getByTestId('file-input').setInputFiles({ name: 'red.png', mimeType: 'image/png', buffer: PNG })
  await p.getByTestId('upload-progress').waitFor({ state: 'detached' })
  const seen = await p.evaluate(() => window.__progress)
  assert.deepEqual(seen.labels, ['Sending red.png'], 'the progress bar names the file')
  assert.equal(seen.max, 100, 'the progress bar reached 100%')
  const img = p.locator('.msg', { hasText: 'red.png' }).getByTestId('thumbnail')
  await img.waitFor()
  await p.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle())
  assert.deepEqual(await img.evaluate((el) => [el.naturalWidth, el.naturalHeight, el.src.slice(0, 5), el.alt]), [2, 3, 'blob:', 'red.png'])
  step('an image upload shows progress, then its thumbnail loads through the gateway')

  await p.evaluate(() => {
    const dt = new DataTransfer()
    dt.items.add(new File(['dropped content'], 'dropped.txt', { type: 'text/plain' }))
    const pane = document.querySelector('main.pane')
    pane.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }))
    pane.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
  })
  const dropped = p.locator('.msg', { hasText: 'dropped.txt' })
  await dropped.getByTestId('download').waitFor()
  await p.evaluate(() => {
    const dt = new DataTransfer()
    dt.items.add(new File(['pasted content'], 'pasted.txt', { type: 'text/plain' }))
    document.querySelector('.composer textarea').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
  })
  await p.locator('.msg', { hasText: 'pasted.txt' }).getByTestId('download').waitFor()
  assert.equal(await p.locator('.composer textarea').inputValue(), '', 'a pasted file does not land in the text')
  step('a dropped file and a pasted file are sent')

  const [download] = await Promise.all([p.waitForEvent('download'), dropped.getByTestId('download').click()])
  assert.equal(download.suggestedFilename(), 'dropped.txt')
  assert.equal(fs.readFileSync(await download.path(), 'utf8'), 'dropped content')
  assert.deepEqual(direct, [], 'the page never asks Rocket.Chat for a file or holds its token')
  await axeCheck(p, 'room with an image and files')
  await ctx.close()
  step('a download gives the file under its name')
}

// A DM in a background tab: the page is hidden (document.visibilityState emulated by an
// init script, which also wraps Notification and AudioContext to record what the page
// makes); the getNotification push becomes a desktop notification, the sound toggle beeps
// and the title counts the unread messages. A message to the room on screen in a visible
// tab notifies nobody.
async function notifications(users) {
  const [alice, bob] = users
  const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' })
  ctx.setDefaultTimeout(TIMEOUT)
  await ctx.grantPermissions(['notifications'], { origin: base })
  await ctx.addInitScript(() => {
    let vis = 'visible'
    Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => vis })
    Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => vis === 'hidden' })
    window.__setVisibility = (v) => {
      vis = v
      document.dispatchEvent(new Event('visibilitychange'))
    }
    window.__notes = []
    const Real = window.Notification
    window.Notification = class extends Real {
      constructor(title, opts) {
        window.__notes.push({ title, body: opts?.body || '', tag: opts?.tag || '' })
        super(title, opts)
      }
    }
    window.__beeps = 0
    const RealAudio = window.AudioContext
    window.AudioContext = class extends RealAudio {
      createOscillator() {
        window.__beeps++
        return super.createOscillator()
      }
    }
  })
  const p = await ctx.newPage()
  p.on('pageerror', (e) => problems.push(`notifications page error: ${e.message}`))
  await signIn(p, alice.username)
  await openRoom(p, 'general')
  assert.equal(await p.evaluate(() => Notification.permission), 'granted')
  await p.getByTestId('sound-toggle').click()
  assert.equal(await p.getByTestId('sound-toggle').getAttribute('aria-pressed'), 'true')
  await p.evaluate(() => window.__setVisibility('hidden'))

  const tok = (await (await fetch(base + '/api/demo/token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: bob.username }) })).json()).token
  const auth = { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' }
  const dmRoom = (await (await fetch(base + '/api/im/dm', { method: 'POST', headers: auth, body: JSON.stringify({ userId: alice.userId }) })).json()).room // the other user by product id
  const say = async (text) => {
    const res = await fetch(`${base}/api/im/rooms/${dmRoom.id}/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ text }) })
    assert.equal(res.status, 201, `bob's DM: ${res.status}`)
  }
  const text = `psst, a DM while you are away ${Date.now()}`
  await say(text)
  await p.waitForFunction((t) => window.__notes.some((n) => n.body.includes(t)), text)
  const note = (await p.evaluate(() => window.__notes)).find((n) => n.body.includes(text))
  assert.equal(note.tag, dmRoom.id, 'the notification is tagged with the room')
  assert.ok(note.title.includes(bob.username) || note.title.includes(bob.name), `the title names the sender: ${note.title}`)
  assert.ok(await p.evaluate(() => window.__beeps) >= 1, 'the sound toggle beeps')
  await p.waitForFunction(() => /^\(\d+\) rcgateway$/.test(document.title))
  step(`a DM in a hidden tab shows a desktop notification and beeps; title ${JSON.stringify(await p.title())}`)

  await p.evaluate(() => window.__setVisibility('visible'))
  await p.locator(`button.room[data-rid="${dmRoom.id}"]`).click()
  await p.locator(`button.room.active[data-rid="${dmRoom.id}"]`).waitFor()
  const before = await p.evaluate(() => window.__notes.length)
  const seen = `and now you are looking ${Date.now()}`
  await say(seen)
  await p.locator('.msg', { hasText: seen }).waitFor()
  assert.equal(await p.evaluate(() => window.__notes.length), before, 'no notification for the room on screen')
  await ctx.close()
  step('no notification for a message in the room on screen')
}

async function chinese(users) {
  const { ctx, p } = await page('zh', { locale: 'zh-CN' })
  await signIn(p, users[0].username)
  assert.equal(await p.evaluate(() => document.documentElement.lang), 'zh-CN')
  assert.equal((await p.getByTestId('sign-out').textContent()).trim(), '退出登录')
  await openRoom(p, 'general')
  const box = p.locator('.composer textarea')
  assert.equal(await box.getAttribute('aria-label'), '消息')
  assert.match(await p.getByTestId('send').textContent(), /发送/)
  await p.getByTestId('day-separator').filter({ hasText: '今天' }).first().waitFor()
  await ctx.close()
  step('a zh-CN browser gets the Chinese UI')
}

async function darkMode(users) {
  const { ctx, p } = await page('dark', { colorScheme: 'dark' })
  await signIn(p, users[0].username)
  assert.ok(await p.evaluate(() => document.documentElement.classList.contains('dark')), 'html.dark is set')
  const lum = await p.evaluate(() => {
    const [r, g, b] = getComputedStyle(document.querySelector('nav.rooms')).backgroundColor.match(/\d+/g).map(Number)
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
  })
  assert.ok(lum < 0.2, `the room list is dark (luminance ${lum.toFixed(2)})`)
  await shot(p, 'ui-dark.png')
  await ctx.close()
  step('dark mode follows the system')
}

async function keyboard(users) {
  const { ctx, p } = await page('keyboard')
  await signIn(p, users[0].username)
  const focused = () => p.evaluate(() => {
    const e = document.activeElement
    return { tag: e?.tagName, cls: String(e?.className || ''), label: e?.getAttribute('aria-label') || '', rid: e?.dataset?.rid || '' }
  })
  // Tab into the room list, arrow down to the second room, Enter opens it.
  let f
  for (let i = 0; i < 15; i++) {
    await p.keyboard.press('Tab')
    f = await focused()
    if (f.cls.includes('room')) break
  }
  assert.ok(f.cls.includes('room'), 'Tab reaches the room list')
  await p.keyboard.press('ArrowDown')
  const second = await focused()
  assert.ok(second.cls.includes('room') && second.rid && second.rid !== f.rid, 'ArrowDown moves to the next room')
  await p.keyboard.press('Enter')
  await p.locator(`button.room.active[data-rid="${second.rid}"]`).waitFor()
  // Tab to the composer (it has a label), type, Enter sends. Every file download, reaction
  // and thread link of the shown messages is a stop on the way.
  for (let i = 0; i < 40; i++) {
    await p.keyboard.press('Tab')
    f = await focused()
    if (f.tag === 'TEXTAREA') break
  }
  assert.equal(f.tag, 'TEXTAREA', 'Tab reaches the composer')
  assert.equal(f.label, 'Message')
  const text = `typed without a mouse ${Date.now()}`
  await p.keyboard.type(text)
  await p.keyboard.press('Enter')
  await p.locator('.msg-self.msg-sent', { hasText: text }).waitFor()
  await ctx.close()
  step('keyboard only: room list navigation and sending')
}

async function editAndDelete(users) {
  const { ctx, p } = await page('edit')
  await signIn(p, users[0].username)
  await openRoom(p, 'random')
  const original = `to be edited ${Date.now()}`
  await p.locator('.composer textarea').fill(original)
  await p.locator('.composer textarea').press('Enter')
  const msg = p.locator('.msg-self.msg-sent', { hasText: original })
  await msg.waitFor()
  await msg.hover()
  await axeCheck(p, 'desktop room with a message\'s actions shown')
  await msg.getByTestId('edit').click()
  const box = p.locator('textarea[data-testid=edit-input]')
  await box.fill('')
  await box.type('line one')
  await box.press('Shift+Enter')
  await box.type('line two')
  await box.press('Enter')
  const edited = p.locator('.msg-self.msg-sent', { hasText: 'line two' })
  await edited.locator('.edited').waitFor()
  const shown = await edited.locator('.rc-md').innerText()
  assert.match(shown, /line one\nline two/, `the edit keeps its lines: ${JSON.stringify(shown)}`)

  await edited.hover()
  await edited.getByTestId('delete').click()
  const dialog = p.locator('.confirm-delete')
  await dialog.waitFor()
  await axeCheck(p, 'delete confirmation')
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  await dialog.waitFor({ state: 'hidden' })
  assert.equal(await edited.count(), 1, 'cancel keeps the message')
  await edited.hover()
  await edited.getByTestId('delete').click()
  await dialog.waitFor()
  await dialog.getByRole('button', { name: 'Delete' }).click()
  await edited.waitFor({ state: 'detached' })
  await ctx.close()
  step('multi-line edit keeps its lines; delete asks first')
}

async function rejectedToken(users) {
  const { ctx, p } = await page('expired')
  await signIn(p, users[1].username)
  // The gateway now rejects every token (as after a restart with a new signing key, for
  // a token that cannot be refreshed): the tab must return to sign-in, not retry forever.
  const reject = (route) => route.fulfill({ status: 401, json: { error: 'unauthorized', message: 'a valid bearer token is required' } })
  await p.route('**/api/im/**', reject)
  await p.route('**/signalr/**', reject)
  await p.locator('button.room').first().click()
  await p.getByTestId('session-expired').waitFor()
  assert.equal(await p.getByTestId('me').count(), 0)
  assert.equal(await p.evaluate(() => sessionStorage.getItem('rcgateway.token')), null, 'the dead token is forgotten')
  await p.unroute('**/api/im/**')
  await p.unroute('**/signalr/**')
  await signIn(p, users[1].username)
  await ctx.close()
  step('a rejected token returns to sign-in; signing in again works')
}

async function humanErrors(users) {
  const { ctx, p } = await page('errors')
  await signIn(p, users[0].username)
  await openRoom(p, 'dev')
  const failing = `will fail ${Date.now()}`
  await p.route('**/api/im/rooms/*/messages', (route) => route.request().method() === 'POST' ? route.abort('internetdisconnected') : route.continue())
  await p.locator('.composer textarea').fill(failing)
  await p.locator('.composer textarea').press('Enter')
  const banner = p.getByTestId('send-error')
  await banner.waitFor()
  const text = await banner.innerText()
  assert.doesNotMatch(text, /Failed to fetch|TypeError|network/i, `a human text: ${text}`)
  assert.match(text, /not sent/)
  await p.locator('.msg-failed', { hasText: failing }).waitFor()
  await p.unroute('**/api/im/rooms/*/messages')
  await p.getByTestId('retry').click()
  await p.locator('.msg-self.msg-sent', { hasText: failing }).waitFor()
  await banner.waitFor({ state: 'detached' })
  await ctx.close()
  step('a failed send shows a human notice and a Retry that works')
}

// apiAs answers a fetch helper that calls the gateway's /api/im as a demo user.
async function apiAs(username) {
  const tok = (await (await fetch(base + '/api/demo/token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username }) })).json()).token
  return async (method, path, body) => {
    const res = await fetch(base + path, { method, headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null }
  }
}

// pairInRoom opens alice's page and bob's (with bobOpts), signs each in and opens room on both.
async function pairInRoom(label, [alice, bob], room, bobOpts) {
  const a = await page(`${label}-alice`)
  const b = await page(`${label}-bob`, bobOpts)
  await signIn(a.p, alice.username)
  await signIn(b.p, bob.username)
  await openRoom(a.p, room)
  await openRoom(b.p, room)
  return { a, b }
}

// Reactions between two users: bob picks 👍 from the picker on alice's message, both see
// the chip with its count and who reacted; alice's click on the chip adds hers (2), a second
// click takes it back (1).
async function reactions(users) {
  const [alice, bob] = users
  const { a, b } = await pairInRoom('react', users, 'random')
  const text = `react to this ${Date.now()}`
  await a.p.locator('.composer textarea').fill(text)
  await a.p.locator('.composer textarea').press('Enter')
  const onBob = b.p.locator('.msg', { hasText: text })
  await onBob.waitFor()
  await onBob.hover()
  await onBob.getByTestId('react').click()
  await onBob.getByTestId('reaction-picker').waitFor()
  await axeCheck(b.p, 'room with the reaction picker open')
  await onBob.locator('.reaction-choice[data-emoji=":+1:"]').click()
  const chipOf = (p) => p.locator('.msg', { hasText: text }).locator('[data-testid=reaction][data-emoji=":+1:"]')
  await chipOf(a.p).filter({ hasText: '1' }).waitFor()
  await chipOf(b.p).filter({ hasText: '1' }).waitFor()
  assert.equal(await chipOf(b.p).getAttribute('aria-pressed'), 'true', "bob's own reaction is marked")
  assert.equal(await chipOf(a.p).getAttribute('aria-pressed'), 'false')
  assert.match(await chipOf(a.p).getAttribute('title'), new RegExp(bob.rcUsername || bob.username))
  await chipOf(a.p).click()
  await chipOf(b.p).filter({ hasText: '2' }).waitFor()
  const who = await chipOf(b.p).getAttribute('title')
  assert.ok(who.includes(alice.rcUsername || alice.username) && who.includes(bob.rcUsername || bob.username), `who reacted: ${who}`)
  await axeCheck(a.p, 'room with reactions')
  await chipOf(a.p).filter({ hasText: '2' }).click()
  await chipOf(b.p).filter({ hasText: '1' }).waitFor()
  assert.equal(await chipOf(a.p).getAttribute('aria-pressed'), 'false', 'a second click takes the reaction back')
  await a.ctx.close()
  await b.ctx.close()
  step('reactions: picker, chips with counts and who reacted, toggling, live for both users')
}

// A thread: bob (on a phone) replies in a thread from the message's "Reply in thread"; the
// thread is a screen of its own there. Alice (desktop) sees "1 reply" under the parent,
// not the reply in the room, opens the thread as a second pane and answers; bob's thread
// gets the answer live.
async function threads(users) {
  const [alice, bob] = users
  const { a, b } = await pairInRoom('thread', users, 'general', { viewport: PHONE })
  const parent = `start a thread ${Date.now()}`
  await a.p.locator('.composer textarea').fill(parent)
  await a.p.locator('.composer textarea').press('Enter')
  const onBob = b.p.locator('.msg', { hasText: parent })
  await onBob.waitFor()
  await onBob.getByTestId('reply').click()
  await b.p.getByTestId('thread-panel').waitFor()
  assert.ok(!(await b.p.locator('main.pane').isVisible()), 'on a phone the thread replaces the room')
  assert.ok(await b.p.getByTestId('thread-parent').filter({ hasText: parent }).isVisible())
  await noOverflow(b.p, 'phone thread')
  const reply = `a reply in the thread ${Date.now()}`
  await b.p.getByTestId('thread-composer').fill(reply)
  await b.p.getByTestId('thread-composer').press('Enter')
  await b.p.getByTestId('thread-reply').filter({ hasText: reply }).locator('xpath=self::*[contains(@class,"msg-sent")]').waitFor()
  await axeCheck(b.p, 'phone thread')

  const onAlice = a.p.locator('.msg', { hasText: parent })
  await onAlice.getByTestId('thread-open').filter({ hasText: '1 reply' }).waitFor()
  assert.equal(await a.p.locator('main.pane .msg', { hasText: reply }).count(), 0, 'the reply stays out of the room')
  await onAlice.getByTestId('thread-open').click()
  await a.p.getByTestId('thread-reply').filter({ hasText: reply }).waitFor()
  assert.ok(await a.p.locator('main.pane').isVisible(), 'on a desktop the thread is a second pane')
  await noOverflow(a.p, 'desktop thread')
  const answer = `answer in the thread ${Date.now()}`
  await a.p.getByTestId('thread-composer').fill(answer)
  await a.p.getByTestId('thread-send').click()
  await b.p.getByTestId('thread-reply').filter({ hasText: answer }).waitFor()
  await onAlice.getByTestId('thread-open').filter({ hasText: '2 replies' }).waitFor()
  await axeCheck(a.p, 'desktop room with a thread pane')
  await shot(a.p, 'ui-thread.png')
  await b.p.getByTestId('thread-close').click()
  await b.p.locator('main.pane').waitFor()
  await a.ctx.close()
  await b.ctx.close()
  step('threads: reply from a phone screen, "N replies" opens a desktop pane, replies live both ways')
}

// Search in a room: a word from a message 60 messages back (beyond the first page) is
// found from the header's search box; clicking the hit loads older pages until it is there
// and scrolls it into view.
async function searchRoom(users) {
  const [alice, bob] = users
  const api = await apiAs(alice.username)
  const name = `search-${Date.now()}`
  const made = await api('POST', '/api/im/rooms', { type: 'c', name, members: [bob.rcUsername || bob.username] })
  assert.equal(made.status, 201, `create room: ${JSON.stringify(made.body)}`)
  const rid = made.body.room.id
  const word = `needle${Date.now()}`
  assert.equal((await api('POST', `/api/im/rooms/${rid}/messages`, { text: `the ${word} is here` })).status, 201)
  for (let i = 0; i < 60; i++) assert.equal((await api('POST', `/api/im/rooms/${rid}/messages`, { text: `filler ${i}` })).status, 201)
  const { ctx, p } = await page('search')
  await signIn(p, bob.username)
  await openRoom(p, name)
  await p.locator('.msg', { hasText: 'filler 59' }).waitFor()
  assert.equal(await p.locator('.msg', { hasText: word }).count(), 0, 'the old message is not loaded yet')
  await p.getByTestId('search-toggle').click()
  await p.getByTestId('search-input').fill(word.toUpperCase())
  await p.getByTestId('search-input').press('Enter')
  const hit = p.getByTestId('search-hit').filter({ hasText: word })
  await hit.waitFor()
  assert.equal(await p.getByTestId('search-hit').count(), 1)
  await axeCheck(p, 'room search results')
  await hit.click()
  const found = p.locator('.msg.msg-found', { hasText: word })
  await found.waitFor()
  await p.waitForFunction((el) => {
    const r = el.getBoundingClientRect()
    const box = document.querySelector('[data-testid=messages]').getBoundingClientRect()
    return r.top >= box.top && r.bottom <= box.bottom
  }, await found.elementHandle())
  await p.getByTestId('search-toggle').click()
  await p.getByTestId('search-input').fill('nothing-like-this-anywhere')
  await p.getByTestId('search-input').press('Enter')
  await p.locator('.search-none').waitFor()
  await ctx.close()
  step('search: a hit 60 messages back is found, loaded and scrolled into view; no hit says so')
}

// Typing between two users: bob types in random and alice (desktop, then in Chinese) sees
// "Bob is typing…" under the messages; sending clears it; bob never sees his own.
async function typing(users) {
  const [alice, bob] = users
  const { a, b } = await pairInRoom('typing', users, 'random')
  // A message of bob's first, so the indicator can show his display name.
  const hello = `typing check ${Date.now()}`
  await b.p.locator('.composer textarea').fill(hello)
  await b.p.locator('.composer textarea').press('Enter')
  await a.p.locator('.msg', { hasText: hello }).waitFor()
  const indicator = (p) => p.getByTestId('typing')
  // The first keystrokes may come before alice's upstream follows the room: keep typing
  // (the client reports at most every 3 s) until the indicator shows.
  const deadline = Date.now() + TIMEOUT
  for (let i = 0; ; i++) {
    await b.p.locator('.composer textarea').pressSequentially('ab', { delay: 20 })
    try {
      await indicator(a.p).filter({ hasText: `${bob.name} is typing…` }).waitFor({ timeout: 3500 })
      break
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`alice never saw bob typing: ${await indicator(a.p).textContent()}`)
    }
  }
  assert.equal(await a.p.getByTestId('typing').getAttribute('role'), 'status')
  assert.equal((await indicator(b.p).textContent()).trim(), '', 'bob does not see his own typing')
  await axeCheck(a.p, 'room with a typing indicator')
  await b.p.locator('.composer textarea').press('Enter')
  await a.p.waitForFunction(() => document.querySelector('[data-testid=typing]').textContent.trim() === '')
  // The same in Chinese.
  const z = await page('typing-zh', { locale: 'zh-CN' })
  await signIn(z.p, alice.username)
  await openRoom(z.p, 'random')
  for (;;) {
    await b.p.locator('.composer textarea').pressSequentially('cd', { delay: 20 })
    try {
      await indicator(z.p).filter({ hasText: `${bob.name} 正在输入…` }).waitFor({ timeout: 3500 })
      break
    } catch (err) {
      if (Date.now() > deadline + TIMEOUT) throw new Error(`the Chinese UI never showed bob typing: ${await indicator(z.p).textContent()}`)
    }
  }
  await b.p.locator('.composer textarea').fill('')
  await z.p.waitForFunction(() => document.querySelector('[data-testid=typing]').textContent.trim() === '')
  await a.ctx.close()
  await b.ctx.close()
  await z.ctx.close()
  step('typing: bob typing shows for alice (en and zh-CN), clears on send and on clearing the text, never for bob himself')
}

// Presence: alice opens her DM with bob; the header and the room list show bob's status dot
// with its name for screen readers. Bob signs in in another browser → online; he sets away
// (POST /api/demo/status) → away, then online again; his tab closes → offline once the
// gateway's linger (5 s in the demo) ends his upstream. Both languages.
async function presence(users) {
  const [alice, bob] = users
  const bobRC = bob.rcUsername || bob.username
  const api = await apiAs(alice.username)
  const dm = await api('POST', '/api/im/dm', { username: bobRC })
  assert.ok(dm.status < 300, `open the DM: ${dm.status} ${JSON.stringify(dm.body)}`)
  const a = await page('presence-alice')
  await signIn(a.p, alice.username)
  await a.p.getByTestId(`room-${bobRC}`).click()
  await a.p.getByTestId('room-title').waitFor()
  const headerDot = (p) => p.locator('.pane-header [data-testid=presence-dot]')
  const listDot = (p) => p.getByTestId(`room-${bobRC}`).locator('[data-testid=presence-dot]')
  const waitStatus = async (p, status) => {
    await headerDot(p).and(p.locator(`[data-status=${status}]`)).waitFor()
    await listDot(p).and(p.locator(`[data-status=${status}]`)).waitFor()
  }
  // Whatever bob was before (another check may have left his upstream lingering), he is
  // offline once no tab of his is open and the linger ended.
  await waitStatus(a.p, 'offline')
  assert.equal(await headerDot(a.p).getAttribute('role'), 'img')
  assert.equal(await headerDot(a.p).getAttribute('aria-label'), 'Offline')
  assert.match(await a.p.getByTestId(`room-${bobRC}`).textContent(), /Offline/, 'the room list says the status to screen readers')
  const b = await page('presence-bob')
  await signIn(b.p, bob.username)
  await waitStatus(a.p, 'online')
  assert.equal(await headerDot(a.p).getAttribute('aria-label'), 'Online')
  await axeCheck(a.p, 'DM with a presence dot')
  // bob sets himself away (the demo's stand-in for Rocket.Chat's users.setStatus), then back.
  const setStatus = async (status) => {
    const res = await fetch(base + '/api/demo/status', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: bob.username, status }) })
    assert.equal(res.status, 204, `demo status ${status}`)
  }
  await setStatus('away')
  await waitStatus(a.p, 'away')
  assert.equal(await headerDot(a.p).getAttribute('aria-label'), 'Away')
  await setStatus('online')
  await waitStatus(a.p, 'online')
  const z = await page('presence-zh', { locale: 'zh-CN' })
  await signIn(z.p, alice.username)
  await z.p.getByTestId(`room-${bobRC}`).click()
  await waitStatus(z.p, 'online')
  assert.equal(await headerDot(z.p).getAttribute('aria-label'), '在线')
  await axeCheck(z.p, 'DM with a presence dot (zh-CN)')
  await b.ctx.close()
  await waitStatus(a.p, 'offline')
  await waitStatus(z.p, 'offline')
  assert.equal(await headerDot(z.p).getAttribute('aria-label'), '离线')
  await a.ctx.close()
  await z.ctx.close()
  step('presence: bob\'s dot in alice\'s DM header and room list follows him signing in (online), setting away and back, and leaving (offline), labelled in en and zh-CN')
}

async function main() {
  if (!base || !artifacts) throw new Error('RCGW_BASE_URL and RCGW_ARTIFACT_DIR must be set')
  fs.mkdirSync(artifacts, { recursive: true })
  const users = (await (await fetch(base + '/api/demo/users')).json()).users || []
  if (users.length < 2) throw new Error(`need two demo users, got ${users.length}`)
  browser = await chromium.launch({ executablePath, args: ARGS, timeout: 60000 })
  try {
    // RCGW_UI_ONLY=reactions,threads runs only those checks (while working on them).
    const only = (process.env.RCGW_UI_ONLY || '').split(',').filter(Boolean)
    const checks = { layouts, accessibility, markdown, files, notifications, chinese, darkMode, keyboard, editAndDelete, rejectedToken, humanErrors, reactions, threads, searchRoom, typing, presence }
    for (const [name, check] of Object.entries(checks)) if (!only.length || only.includes(name)) await check(users)
    if (problems.length) throw new Error('browser problems:\n  ' + problems.join('\n  '))
  } finally {
    await browser.close().catch(() => {})
  }
  console.log('ui: ok')
}

main().catch((err) => {
  console.error(`ui: FAIL: ${err.stack || err}`)
  process.exit(1)
})
