// Types of @rcgateway/client (docs/http-api.md is the contract they describe).

/** A Rocket.Chat message as the gateway passes it through (dates as ISO-8601 strings). */
export interface RcMessage {
  _id: string
  rid: string
  msg: string
  ts: string
  _updatedAt?: string
  editedAt?: string
  t?: string
  /** Thread reply: the thread's first message. */
  tmid?: string
  /** A thread reply also shown in the room. */
  tshow?: boolean
  /** Thread's first message: number of replies, last reply time, ids of who replied. */
  tcount?: number
  tlm?: string
  replies?: string[]
  /** Reactions by ":emoji:" name. */
  reactions?: Record<string, { usernames: string[]; names?: string[] }>
  u: { _id: string; username?: string; name?: string }
  md?: unknown[]
  attachments?: unknown[]
  file?: { _id: string; name?: string; type?: string }
  [key: string]: unknown
}

/** A Rocket.Chat subscription (unread counts and flags of one user in one room). */
export interface RcSubscription {
  rid: string
  t?: 'c' | 'p' | 'd'
  name?: string
  fname?: string
  unread?: number
  userMentions?: number
  alert?: boolean
  open?: boolean
  _updatedAt?: string
  [key: string]: unknown
}

/** The gateway's Room shape. */
export interface Room {
  id: string
  type: 'c' | 'p' | 'd'
  name: string
  displayName: string
  unread: number
  mentions: number
  alert: boolean
  open: boolean
  lastMessage?: RcMessage | null
  updatedAt: string
}

export interface Me { userId: string; username: string; name: string; rcUserId: string }

export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting'

/** Events by name: the push targets, then the client's own lifecycle events. */
export interface ChatEvents {
  /** getRoomMessageNotification: a new or edited message. */
  message: RcMessage
  /** getRoomSubscriptionChangedNotification. */
  subscription: { method: 'inserted' | 'updated' | 'removed'; msg: RcSubscription }
  /** getRoomMessageDeletedNotification. */
  messageDeleted: { rid: string; _id: string }
  /** getTypingNotification: another user (Rocket.Chat username) started or stopped typing. */
  typing: { rid: string; username: string; typing: boolean }
  /** getPresenceNotification: the status of an open direct room's partner (Rocket.Chat id and username). */
  presence: { userId: string; username: string; status: PresenceStatus }
  /** getNotification: Rocket.Chat's desktop-notification payload. */
  notification: { title: string; text: string; payload: { _id: string; rid: string; sender?: { _id: string; username?: string; name?: string }; type?: string; message?: { msg?: string } } }
  state: ConnectionState
  /** A new hub connection replaced a lost one: pushes of the gap may be missing. */
  reconnected: void
  /** The rooms refetched after a reconnect. */
  resync: { rooms: Room[] }
  /** The token was rejected even after a refresh: sign the user in again. */
  unauthorized: ChatError
  error: unknown
}

export type TokenFactory = (opts: { forceRefresh: boolean }) => string | Promise<string>

export interface ChatClientOptions {
  /** The product JWT, or a function returning it; called with forceRefresh after a 401. */
  token: string | TokenFactory
  /** Gateway origin, '' for the page's own. */
  baseUrl?: string
  /** Hub path, default '/signalr'. */
  hubPath?: string
  /** Reconnect delays in ms; the last repeats. Default [0, 1000, 2000, 5000, 10000, 15000, 30000]. */
  reconnectDelays?: number[]
  /** SignalR stateful reconnect (default true). */
  statefulReconnect?: boolean
  /** Custom hub targets to listen to from the start (on() adds more later). */
  targets?: string[]
  /** @microsoft/signalr LogLevel, default Warning. */
  logLevel?: number
  /** Injected @microsoft/signalr module (tests). */
  signalR?: unknown
  fetch?: typeof fetch
  /** Used for uploads with progress (default: the global XMLHttpRequest). */
  XMLHttpRequest?: typeof XMLHttpRequest
  setTimeout?: typeof setTimeout
  clearTimeout?: typeof clearTimeout
}

export declare class ChatError extends Error {
  constructor(code: string, status: number, message: string, opts?: { cause?: unknown; operation?: string })
  readonly code: string
  readonly status: number
  readonly operation: string
  readonly unauthorized: boolean
  readonly network: boolean
}

/** Upload progress: bytes sent and the request's total size (0 when unknown). */
export interface UploadProgress { loaded: number; total: number }
export interface UploadOptions { onProgress?: (p: UploadProgress) => void; signal?: AbortSignal }

export interface ChatApi {
  request<T = unknown>(method: string, path: string, opts?: { json?: unknown; form?: FormData; auth?: boolean; blob?: boolean; onProgress?: (p: UploadProgress) => void; signal?: AbortSignal }): Promise<T>
  me(): Promise<Me>
  rooms(): Promise<{ rooms: Room[] }>
  unread(): Promise<{ total: number; mentions: number }>
  messages(rid: string, opts?: { before?: string; count?: number }): Promise<{ messages: RcMessage[]; hasMore: boolean }>
  /** Send a message; with tmid, a reply in that thread. */
  send(rid: string, text: string, id?: string, opts?: { tmid?: string }): Promise<{ message: RcMessage }>
  /** Toggle (on undefined) or set the caller's reaction; emoji with or without colons. */
  react(rid: string, mid: string, emoji: string, on?: boolean): Promise<null>
  /** A thread's replies, oldest first. */
  thread(rid: string, tmid: string, opts?: { count?: number; offset?: number }): Promise<{ messages: RcMessage[]; total: number; hasMore: boolean }>
  /** Search a room (Rocket.Chat's syntax: words, from:username, /regex/), newest first. */
  search(rid: string, q: string, opts?: { count?: number; offset?: number }): Promise<{ messages: RcMessage[] }>
  /** The user's own typing in rid (best effort: 409 when the user's upstream is elsewhere). */
  typing(rid: string, typing: boolean): Promise<null>
  /** The rooms this tab shows (repeat within 60 s while open; [] closes them). */
  openRooms(tab: string, rooms: string[]): Promise<null>
  edit(rid: string, mid: string, text: string): Promise<{ message: RcMessage }>
  deleteMessage(rid: string, mid: string): Promise<null>
  markRead(rid: string): Promise<null>
  /** Upload a file; onProgress (sent over XMLHttpRequest) reports the bytes sent. */
  upload(rid: string, file: Blob, description?: string, opts?: UploadOptions): Promise<{ message: RcMessage }>
  /** A message's file (/file-upload/<id>/<name> link) through the gateway, with the user's own token. */
  file(link: string, opts?: { signal?: AbortSignal }): Promise<Blob>
  openDM(username: string): Promise<{ room: Room }>
  createRoom(type: 'c' | 'p', name: string, members?: string[]): Promise<{ room: Room }>
  addMember(rid: string, username: string): Promise<null>
  removeMember(rid: string, username: string): Promise<null>
}

export declare class ChatClient {
  constructor(options: ChatClientOptions)
  readonly api: ChatApi
  readonly state: ConnectionState
  on<K extends keyof ChatEvents>(event: K, fn: (arg: ChatEvents[K]) => void): () => void
  on(customTarget: string, fn: (arg: any) => void): () => void
  start(): Promise<void>
  stop(): Promise<void>
  resync(): Promise<Room[]>
  invoke<T = unknown>(method: string, ...args: unknown[]): Promise<T>
}

export declare const TARGETS: Readonly<{ message: string; subscription: string; messageDeleted: string; notification: string; typing: string; presence: string }>
export type PresenceStatus = 'online' | 'away' | 'busy' | 'offline'
export interface Presence {
  /** The last status pushed for a Rocket.Chat user id or username; undefined when unknown. */
  status(userIdOrUsername: string): PresenceStatus | undefined
  onChange(fn: (p: { userId: string; username: string; status: PresenceStatus }) => void): () => void
  dispose(): void
}
export declare function createPresence(client: ChatClient): Presence
export declare const STATUSES: readonly PresenceStatus[]
export interface Typing {
  tab: string
  /** The tab shows rid (the gateway then follows its typing); returns a function that closes it. */
  open(rid: string): () => void
  /** A keystroke in rid's composer (reported at most every TYPING_THROTTLE ms). */
  typed(rid: string): void
  /** The text was sent or cleared. */
  stopped(rid: string): void
  /** Usernames typing in rid now. */
  typers(rid: string): string[]
  onChange(fn: (rid: string) => void): () => void
  dispose(): void
}
export declare function createTyping(client: ChatClient, opts?: { tab?: string }): Typing
export declare const TYPING_TIMEOUT: number
export declare const TYPING_THROTTLE: number
export declare const TYPING_IDLE: number
export declare const OPEN_REFRESH: number
export declare function codeForStatus(status: number): string
export declare function isAuthRejection(err: unknown): boolean
export declare function newMessageId(): string
/** The gateway path (/api/im/files/<id>/<name>) of a message's /file-upload/<id>/<name> link, or null. */
export declare function fileUrl(link: string): string | null
