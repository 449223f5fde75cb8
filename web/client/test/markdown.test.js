import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createSSRApp, h } from 'vue'
import { renderToString } from 'vue/server-renderer'
import { MessageBody, safeHref } from '../src/markdown.js'

// Trees in the shape of @rocket.chat/message-parser's output
// (packages/message-parser/src/definitions.ts in RocketChat/Rocket.Chat).
const P = (...value) => ({ type: 'PARAGRAPH', value })
const T = (value) => ({ type: 'PLAIN_TEXT', value })
const link = (src, label) => ({ type: 'LINK', value: { src: T(src), label: label ? T(label) : T(src) } })

const render = (message, me = 'alice') => renderToString(createSSRApp({ render: () => h(MessageBody, { message, me }) }))

test('safeHref allows http, https and mailto only', () => {
  assert.equal(safeHref('https://example.com/a?b=1'), 'https://example.com/a?b=1')
  assert.equal(safeHref('mailto:bob@example.com'), 'mailto:bob@example.com')
  assert.equal(safeHref('example.com/docs'), 'https://example.com/docs')
  assert.equal(safeHref('//cdn.example.com/x'), 'https://cdn.example.com/x')
  assert.equal(safeHref('javascript:alert(1)'), '')
  assert.equal(safeHref(' JavaScript:alert(1)'), '')
  assert.equal(safeHref('data:text/html,<b>x</b>'), '')
  assert.equal(safeHref('vbscript:x'), '')
  assert.equal(safeHref('not a url'), '')
})

test('inline markup, mentions, emoji and safe links render as elements', async () => {
  const html = await render({ msg: 'x', md: [P(
    { type: 'BOLD', value: [T('bold')] }, T(' '),
    { type: 'ITALIC', value: [T('it')] }, T(' '),
    { type: 'STRIKE', value: [T('gone')] }, T(' '),
    { type: 'INLINE_CODE', value: T('a<b') }, T(' '),
    { type: 'MENTION_USER', value: T('alice') }, T(' '),
    { type: 'MENTION_USER', value: T('bob') }, T(' '),
    { type: 'MENTION_CHANNEL', value: T('dev') }, T(' '),
    { type: 'EMOJI', value: T('smile'), shortCode: 'smile' },
    { type: 'EMOJI', value: undefined, unicode: '🎉' }, T(' '),
    link('https://example.com/docs', 'the docs'),
  )] })
  assert.match(html, /<strong>bold<\/strong>/)
  assert.match(html, /<em>it<\/em>/)
  assert.match(html, /<del>gone<\/del>/)
  assert.match(html, /<code class="rc-md-code">a&lt;b<\/code>/)
  assert.match(html, /class="rc-md-mention rc-md-mention-me" data-mention="alice">@alice</)
  assert.match(html, /class="rc-md-mention" data-mention="bob">@bob</)
  assert.match(html, />#dev</)
  assert.match(html, /:smile:/)
  assert.match(html, /🎉/)
  assert.match(html, /<a href="https:\/\/example.com\/docs" target="_blank" rel="noopener noreferrer" class="rc-md-link">the docs<\/a>/)
})

test('an unsafe link is text, not an anchor; text is never parsed as HTML', async () => {
  const html = await render({ msg: 'x', md: [P(link('javascript:alert(1)', 'click'), T(' <img src=x onerror=alert(1)>'))] })
  assert.doesNotMatch(html, /<a /)
  assert.doesNotMatch(html, /<img/)
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/)
})

test('blocks: code, quote, lists, headings and line breaks', async () => {
  const html = await render({ msg: 'x', md: [
    { type: 'CODE', language: 'go', value: [{ type: 'CODE_LINE', value: T('func main() {') }, { type: 'CODE_LINE', value: T('}') }] },
    { type: 'QUOTE', value: [P(T('quoted'))] },
    { type: 'UNORDERED_LIST', value: [{ type: 'LIST_ITEM', value: [T('one')] }, { type: 'LIST_ITEM', value: [T('two')] }] },
    { type: 'ORDERED_LIST', value: [{ type: 'LIST_ITEM', number: 3, value: [T('three')] }] },
    { type: 'HEADING', level: 1, value: [T('Title')] },
    { type: 'LINE_BREAK', value: undefined },
    { type: 'SOMETHING_NEW', value: [T('future')] },
  ] })
  assert.match(html, /<pre class="rc-md-pre" data-language="go"><code>func main\(\) {\n}<\/code><\/pre>/)
  assert.match(html, /<blockquote class="rc-md-quote"><p class="rc-md-p">quoted<\/p><\/blockquote>/)
  assert.match(html, /<ul class="rc-md-list"><li>one<\/li><li>two<\/li><\/ul>/)
  assert.match(html, /<ol class="rc-md-list" start="3"><li>three<\/li><\/ol>/)
  assert.match(html, /<h3 class="rc-md-h">Title<\/h3>/)
  assert.match(html, /<br>/)
  assert.match(html, /future/)
})

test('a message without md (or still pending) shows its text as is', async () => {
  const html = await render({ msg: 'a *b*\nc', status: 'pending', md: [P({ type: 'BOLD', value: [T('b')] })] })
  assert.match(html, /<p class="rc-md-p">a \*b\*\nc<\/p>/)
})
