// A small dictionary for the UI's two languages, chosen from the browser: Simplified
// Chinese when the browser prefers any Chinese, English otherwise.
import { ref } from 'vue'

const en = {
  'app.loading': 'Loading…',
  'app.signOut': 'Sign out',
  'app.back': 'Back to rooms',
  'login.title': 'rcgateway chat',
  'login.hint': "Rocket.Chat behind your product's own sign-in.",
  'login.demo': 'Sign in as a demo user',
  'login.jwt': 'Sign in with a product JWT',
  'login.jwtLabel': 'Product JWT',
  'login.submit': 'Sign in',
  'login.expired': 'Your session has ended. Please sign in again.',
  'conn.connecting': 'Connecting…',
  'conn.reconnecting': 'Connection lost — reconnecting…',
  'conn.reconnected': 'Reconnected — messages refreshed.',
  'conn.disconnected': 'Offline. Live updates are paused; we keep trying to reconnect.',
  'rooms.label': 'Rooms',
  'rooms.newDM': 'New DM',
  'rooms.newChannel': 'New channel',
  'rooms.empty': 'No rooms yet. Start a DM.',
  'rooms.unread': '{n} unread',
  'rooms.mentions': '{n} mentions',
  'rooms.file': 'File: {name}',
  'rooms.system': 'System message',
  'rooms.kind.d': 'direct message',
  'rooms.kind.p': 'private channel',
  'rooms.kind.c': 'channel',
  'dm.title': 'Start a direct message',
  'dm.user': 'Username',
  'dm.start': 'Start',
  'channel.title': 'Create a channel',
  'channel.name': 'Name',
  'channel.visibility': 'Visibility',
  'channel.public': 'Public',
  'channel.private': 'Private',
  'channel.members': 'Members',
  'channel.membersHint': 'Usernames',
  'channel.create': 'Create',
  'common.cancel': 'Cancel',
  'common.save': 'Save',
  'pane.empty': 'Pick a room, or start a DM.',
  'pane.older': 'Load older messages',
  'pane.messages': 'Messages',
  'msg.you': 'You',
  'msg.edited': '(edited)',
  'msg.sending': 'Sending…',
  'msg.notSent': 'Not sent',
  'msg.retry': 'Retry',
  'msg.discard': 'Discard',
  'msg.edit': 'Edit',
  'msg.delete': 'Delete',
  'msg.editLabel': 'Edit message',
  'msg.file': 'File',
  'delete.title': 'Delete message',
  'delete.confirm': 'Delete this message for everyone? This cannot be undone.',
  'composer.label': 'Message',
  'composer.placeholder': 'Message (Enter to send, Shift+Enter for a new line)',
  'composer.send': 'Send',
  'composer.attach': 'Attach a file',
  'day.today': 'Today',
  'day.yesterday': 'Yesterday',
  'sys.uj': '{who} joined',
  'sys.ul': '{who} left',
  'sys.au': '{who} added {what}',
  'sys.ru': '{who} removed {what}',
  'sys.r': '{who} renamed the room to {what}',
  'sys.rm': 'Message removed',
  'sys.other': 'System message',
  'sys.someone': 'someone',
  'err.sendFailed': 'Your message was not sent: {reason}',
  'err.editFailed': 'The message was not changed: {reason}',
  'err.deleteFailed': 'The message was not deleted: {reason}',
  'err.uploadFailed': 'The file was not sent: {reason}',
  'err.loadFailed': 'Could not load: {reason}',
  'err.network': 'The chat server cannot be reached. Check your connection.',
  'err.unauthorized': 'Your session has ended. Please sign in again.',
  'err.forbidden': 'You are not allowed to do that.',
  'err.not_found': 'That room or message no longer exists.',
  'err.bad_request': 'That request was not accepted.',
  'err.too_large': 'The file is too large.',
  'err.rate_limited': 'Too many requests. Wait a moment and try again.',
  'err.upstream_error': 'The chat service had a problem. Try again shortly.',
  'err.upstream_timeout': 'The chat service took too long to answer. Try again.',
  'err.unavailable': 'The chat service is unavailable right now. Try again shortly.',
  'err.internal': 'Something went wrong on the server. Try again.',
  'err.invalid_user': 'There is no user with that name.',
  'err.invalid_room': 'That room name is not allowed or already taken.',
  'err.duplicate': 'That name is already taken.',
  'err.generic': 'Something went wrong. Try again.',
}

const zh = {
  'app.loading': '加载中…',
  'app.signOut': '退出登录',
  'app.back': '返回会话列表',
  'login.title': 'rcgateway 聊天',
  'login.hint': '使用产品自己的登录，背后是 Rocket.Chat。',
  'login.demo': '以演示用户登录',
  'login.jwt': '使用产品 JWT 登录',
  'login.jwtLabel': '产品 JWT',
  'login.submit': '登录',
  'login.expired': '登录已失效，请重新登录。',
  'conn.connecting': '正在连接…',
  'conn.reconnecting': '连接已断开，正在重连…',
  'conn.reconnected': '已重新连接，消息已刷新。',
  'conn.disconnected': '已离线，实时更新已暂停，正在尝试重新连接。',
  'rooms.label': '会话',
  'rooms.newDM': '发起私聊',
  'rooms.newChannel': '新建频道',
  'rooms.empty': '还没有会话，发起一个私聊吧。',
  'rooms.unread': '{n} 条未读',
  'rooms.mentions': '{n} 条提及',
  'rooms.file': '文件：{name}',
  'rooms.system': '系统消息',
  'rooms.kind.d': '私聊',
  'rooms.kind.p': '私有频道',
  'rooms.kind.c': '频道',
  'dm.title': '发起私聊',
  'dm.user': '用户名',
  'dm.start': '开始',
  'channel.title': '新建频道',
  'channel.name': '名称',
  'channel.visibility': '可见性',
  'channel.public': '公开',
  'channel.private': '私有',
  'channel.members': '成员',
  'channel.membersHint': '用户名',
  'channel.create': '创建',
  'common.cancel': '取消',
  'common.save': '保存',
  'pane.empty': '选择一个会话，或发起私聊。',
  'pane.older': '加载更早的消息',
  'pane.messages': '消息',
  'msg.you': '我',
  'msg.edited': '（已编辑）',
  'msg.sending': '发送中…',
  'msg.notSent': '未发送',
  'msg.retry': '重试',
  'msg.discard': '丢弃',
  'msg.edit': '编辑',
  'msg.delete': '删除',
  'msg.editLabel': '编辑消息',
  'msg.file': '文件',
  'delete.title': '删除消息',
  'delete.confirm': '要为所有人删除这条消息吗？删除后无法恢复。',
  'composer.label': '消息',
  'composer.placeholder': '输入消息（Enter 发送，Shift+Enter 换行）',
  'composer.send': '发送',
  'composer.attach': '添加文件',
  'day.today': '今天',
  'day.yesterday': '昨天',
  'sys.uj': '{who} 加入了',
  'sys.ul': '{who} 离开了',
  'sys.au': '{who} 添加了 {what}',
  'sys.ru': '{who} 移除了 {what}',
  'sys.r': '{who} 将会话改名为 {what}',
  'sys.rm': '消息已删除',
  'sys.other': '系统消息',
  'sys.someone': '有人',
  'err.sendFailed': '消息未发送：{reason}',
  'err.editFailed': '消息未修改：{reason}',
  'err.deleteFailed': '消息未删除：{reason}',
  'err.uploadFailed': '文件未发送：{reason}',
  'err.loadFailed': '加载失败：{reason}',
  'err.network': '无法连接聊天服务器，请检查网络。',
  'err.unauthorized': '登录已失效，请重新登录。',
  'err.forbidden': '你没有权限执行此操作。',
  'err.not_found': '该会话或消息已不存在。',
  'err.bad_request': '请求未被接受。',
  'err.too_large': '文件太大。',
  'err.rate_limited': '请求过于频繁，请稍后再试。',
  'err.upstream_error': '聊天服务出现问题，请稍后再试。',
  'err.upstream_timeout': '聊天服务响应超时，请重试。',
  'err.unavailable': '聊天服务暂不可用，请稍后再试。',
  'err.internal': '服务器出错了，请重试。',
  'err.invalid_user': '没有这个用户名的用户。',
  'err.invalid_room': '该会话名称不可用或已被占用。',
  'err.duplicate': '该名称已被占用。',
  'err.generic': '出错了，请重试。',
}

export const dictionaries = { en, 'zh-CN': zh }

/** The UI language for a browser's preference list: 'zh-CN' for any Chinese, else 'en'. */
export function pickLocale(languages) {
  for (const l of languages || []) {
    const tag = String(l).toLowerCase()
    if (tag.startsWith('zh')) return 'zh-CN'
    if (tag.startsWith('en')) return 'en'
  }
  return 'en'
}

export const locale = ref(pickLocale(typeof navigator !== 'undefined' ? navigator.languages || [navigator.language] : []))

/** t looks a key up in the current language, filling {name} placeholders. */
export function t(key, params) {
  const s = dictionaries[locale.value]?.[key] ?? en[key] ?? key
  return params ? s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m)) : s
}

// Codes the gateway and Rocket.Chat answer with, by the text key that explains them.
const CODE_KEYS = {
  network: 'err.network',
  unauthorized: 'err.unauthorized',
  forbidden: 'err.forbidden',
  'error-not-allowed': 'err.forbidden',
  'error-action-not-allowed': 'err.forbidden',
  not_found: 'err.not_found',
  'error-room-not-found': 'err.not_found',
  bad_request: 'err.bad_request',
  too_large: 'err.too_large',
  'error-file-too-large': 'err.too_large',
  rate_limited: 'err.rate_limited',
  'error-too-many-requests': 'err.rate_limited',
  upstream_error: 'err.upstream_error',
  upstream_timeout: 'err.upstream_timeout',
  unavailable: 'err.unavailable',
  internal: 'err.internal',
  'error-invalid-user': 'err.invalid_user',
  'error-invalid-username': 'err.invalid_user',
  'error-invalid-room': 'err.invalid_room',
  'error-invalid-room-name': 'err.invalid_room',
  'error-duplicate-channel-name': 'err.duplicate',
  conflict: 'err.duplicate',
}

/** errorText explains an error to a person, in their language: never a raw code or "Failed to fetch". */
export function errorText(err) {
  const code = err?.code || ''
  if (CODE_KEYS[code]) return t(CODE_KEYS[code])
  const status = err?.status
  if (status === 0 || err instanceof TypeError) return t('err.network')
  if (status === 401) return t('err.unauthorized')
  if (status === 403) return t('err.forbidden')
  if (status === 404) return t('err.not_found')
  if (status === 413) return t('err.too_large')
  if (status === 429) return t('err.rate_limited')
  if (status >= 500) return t('err.unavailable')
  return t('err.generic')
}
