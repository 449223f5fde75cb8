// Renders Rocket.Chat's parsed message (`md`, the AST of @rocket.chat/message-parser,
// packages/message-parser/src/definitions.ts) as Vue vnodes: never HTML strings, so no
// message text is ever parsed as markup. Links are clickable only for http, https and
// mailto, open in a new tab, and carry rel="noopener noreferrer".
import { defineComponent, h } from 'vue'

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:'])

/** The href to use for a link target, or '' when it is not a safe http/https/mailto URL. */
export function safeHref(raw) {
  let s = String(raw ?? '').trim()
  if (!s) return ''
  if (s.startsWith('//')) s = 'https:' + s
  else if (!/^[a-z][a-z0-9+.-]*:/i.test(s)) {
    // Rocket.Chat links bare domains ("example.com/x"); they mean https.
    if (/^[\w-]+(\.[\w-]+)+([/?#:]|$)/.test(s)) s = 'https://' + s
    else return ''
  }
  let url
  try {
    url = new URL(s)
  } catch {
    return ''
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : ''
}

const plain = (node) => (node && typeof node === 'object' ? (typeof node.value === 'string' ? node.value : '') : String(node ?? ''))

function textOf(node) {
  if (node == null) return ''
  if (Array.isArray(node)) return node.map(textOf).join('')
  if (typeof node !== 'object') return String(node)
  if (typeof node.value === 'string') return node.value
  if (node.type === 'LINK') return textOf(node.value?.label) || plain(node.value?.src)
  if (node.type === 'EMOJI') return node.unicode || (node.shortCode ? `:${node.shortCode}:` : '')
  return textOf(node.value)
}

function formatTimestamp(v, locale) {
  const ms = Number(v?.timestamp) * 1000
  if (!Number.isFinite(ms)) return ''
  const d = new Date(ms)
  const f = v.format
  const o = f === 't' ? { timeStyle: 'short' } : f === 'T' ? { timeStyle: 'medium' } : f === 'd' ? { dateStyle: 'short' }
    : f === 'D' ? { dateStyle: 'long' } : f === 'F' ? { dateStyle: 'full', timeStyle: 'short' } : { dateStyle: 'long', timeStyle: 'short' }
  try {
    return new Intl.DateTimeFormat(locale, o).format(d)
  } catch {
    return d.toISOString()
  }
}

/**
 * renderMarkdown turns an `md` tree into vnodes.
 * @param {unknown[]} md
 * @param {{me?: string, locale?: string, onMention?: (kind: 'user'|'channel', name: string) => void}} [opts]
 */
export function renderMarkdown(md, opts = {}) {
  const kids = (list) => (Array.isArray(list) ? list.map(node) : list && typeof list === 'object' ? [node(list)] : [])
  function node(n) {
    if (n == null) return null
    if (typeof n !== 'object') return String(n)
    const v = n.value
    switch (n.type) {
      case 'PARAGRAPH':
        return h('p', { class: 'rc-md-p' }, kids(v))
      case 'PLAIN_TEXT':
        return typeof v === 'string' ? v : ''
      case 'BOLD':
        return h('strong', kids(v))
      case 'ITALIC':
        return h('em', kids(v))
      case 'STRIKE':
        return h('del', kids(v))
      case 'INLINE_CODE':
        return h('code', { class: 'rc-md-code' }, plain(v))
      case 'CODE':
        return h('pre', { class: 'rc-md-pre', 'data-language': n.language || undefined },
          [h('code', (Array.isArray(v) ? v : []).map((line) => plain(line?.value)).join('\n'))])
      case 'CODE_LINE':
        return plain(v)
      case 'HEADING': {
        const level = Math.min(Math.max(Number(n.level) || 1, 1), 4)
        return h(`h${level + 2}`, { class: 'rc-md-h' }, kids(v))
      }
      case 'QUOTE':
      case 'BLOCKQUOTE':
        return h('blockquote', { class: 'rc-md-quote' }, kids(v))
      case 'UNORDERED_LIST':
        return h('ul', { class: 'rc-md-list' }, kids(v))
      case 'ORDERED_LIST': {
        const items = Array.isArray(v) ? v : []
        const start = Number(items[0]?.number)
        return h('ol', { class: 'rc-md-list', start: Number.isFinite(start) && start !== 1 ? start : undefined }, kids(items))
      }
      case 'LIST_ITEM':
        return h('li', kids(v))
      case 'TASKS':
        return h('ul', { class: 'rc-md-tasks' }, kids(v))
      case 'TASK':
        return h('li', [h('input', { type: 'checkbox', checked: !!n.status, disabled: true, 'aria-label': n.status ? 'done' : 'to do' }), ' ', ...kids(v)])
      case 'LINE_BREAK':
        return h('br')
      case 'LINK': {
        const src = plain(v?.src)
        const label = v?.label
        const labelNodes = Array.isArray(label) ? kids(label) : label ? [node(label)] : []
        const content = labelNodes.length && textOf(label) ? labelNodes : [src]
        const href = safeHref(src)
        if (!href) return h('span', { class: 'rc-md-unsafe-link' }, content)
        return h('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'rc-md-link' }, content)
      }
      case 'IMAGE': {
        // Shown as a link: loading third-party images would leak the reader's address.
        const src = plain(v?.src)
        const href = safeHref(src)
        const label = textOf(v?.label) || src
        return href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'rc-md-link' }, label) : label
      }
      case 'MENTION_USER': {
        const name = plain(v)
        const self = !!opts.me && name === opts.me
        const special = name === 'all' || name === 'here'
        return h('span', { class: ['rc-md-mention', { 'rc-md-mention-me': self || special }], 'data-mention': name }, `@${name}`)
      }
      case 'MENTION_CHANNEL':
        return h('span', { class: 'rc-md-channel', 'data-channel': plain(v) }, `#${plain(v)}`)
      case 'EMOJI':
        if (n.unicode) return h('span', { class: 'rc-md-emoji' }, n.unicode)
        return h('span', { class: 'rc-md-emoji', title: n.shortCode ? `:${n.shortCode}:` : undefined }, n.shortCode ? `:${n.shortCode}:` : plain(v))
      case 'BIG_EMOJI':
        return h('p', { class: 'rc-md-big-emoji' }, kids(v))
      case 'SPOILER':
        return h('span', { class: 'rc-md-spoiler' }, kids(v))
      case 'SPOILER_BLOCK':
        return h('div', { class: 'rc-md-spoiler' }, kids(v))
      case 'TIMESTAMP': {
        const text = formatTimestamp(v, opts.locale)
        return text ? h('time', { class: 'rc-md-time', datetime: new Date(Number(v.timestamp) * 1000).toISOString() }, text) : textOf(n.fallback)
      }
      case 'COLOR':
        return h('span', { class: 'rc-md-color' }, textOf(n) || '')
      case 'KATEX':
        return h('pre', { class: 'rc-md-pre' }, [h('code', plain(n))])
      case 'INLINE_KATEX':
        return h('code', { class: 'rc-md-code' }, plain(n))
      default:
        // A node type this renderer does not know: its text, never its markup.
        return textOf(n)
    }
  }
  return kids(md)
}

/**
 * MessageBody renders a Rocket.Chat message's text: its `md` tree when there is one,
 * otherwise `msg` as plain text.
 */
export const MessageBody = defineComponent({
  name: 'RcMessageBody',
  props: {
    message: { type: Object, required: true },
    me: { type: String, default: '' },
    locale: { type: String, default: undefined },
  },
  setup(props) {
    return () => {
      const m = props.message
      const hasMd = Array.isArray(m.md) && m.md.length > 0 && m.status !== 'pending' && m.status !== 'failed'
      return h('div', { class: 'rc-md' }, hasMd ? renderMarkdown(m.md, { me: props.me, locale: props.locale }) : [h('p', { class: 'rc-md-p' }, m.msg || '')])
    }
  },
})
