import type { App, ComputedRef, Ref } from 'vue'
import type { ChatClient, ConnectionState, Me, RcMessage, Room, UploadOptions } from './index'

export type ShownMessage = RcMessage & { from: 'self' | 'opposite' | 'system'; status: 'pending' | 'sent' | 'failed'; error?: unknown }
export type ChatStore = ReturnType<typeof createChatStore>
export declare function createChatStore(client: ChatClient, opts?: { me?: Me; pageSize?: number }): any
export declare function createChat(client: ChatClient, opts?: { me?: Me; pageSize?: number }): { store: ChatStore; install(app: App): void }
export declare function useChatStore(store?: ChatStore): ChatStore
export declare function useRooms(store?: ChatStore): {
  rooms: ComputedRef<Room[]>
  totalUnread: ComputedRef<number>
  loading: Readonly<Ref<boolean>>
  byId(rid: string): Room | null
  refresh(): Promise<void>
  markRead(rid: string): Promise<void>
  openDM(username: string): Promise<Room>
  createRoom(type: 'c' | 'p', name: string, members?: string[]): Promise<Room>
}
export declare function useMessages(rid: string | Ref<string>, store?: ChatStore): {
  messages: ComputedRef<ShownMessage[]>
  hasMore: ComputedRef<boolean>
  loading: ComputedRef<boolean>
  error: Ref<unknown>
  loadOlder(): Promise<void>
  send(text: string, opts?: { tmid?: string }): Promise<RcMessage | null>
  /** Toggle the user's reaction (":name:" or "name") on a message. */
  react(m: ShownMessage, emoji: string): Promise<void>
  reactedByMe(m: RcMessage, emoji: string): boolean
  /** Search this room, newest first. */
  search(q: string, opts?: { count?: number; offset?: number }): Promise<(RcMessage & { from: ShownMessage['from'] })[]>
  /** Page back until message mid (sent at ts) is loaded; whether it is. */
  loadUntil(mid: string, ts: string): Promise<boolean>
  retry(m: ShownMessage): Promise<RcMessage>
  discard(m: ShownMessage): void
  edit(m: ShownMessage, text: string): Promise<RcMessage>
  remove(m: ShownMessage): Promise<void>
  upload(file: Blob, description?: string, opts?: UploadOptions): Promise<RcMessage>
  markRead(): Promise<void>
}
export declare function useThread(rid: string | Ref<string>, tmid: string | Ref<string>, store?: ChatStore): {
  messages: ComputedRef<ShownMessage[]>
  total: ComputedRef<number>
  hasMore: ComputedRef<boolean>
  loading: ComputedRef<boolean>
  error: Ref<unknown>
  loadMore(): Promise<unknown>
  send(text: string): Promise<RcMessage | null>
}
export declare function useTyping(rid: string | Ref<string>, store?: ChatStore): {
  /** Usernames of others typing in the room now. */
  typers: ComputedRef<string[]>
  typed(): void
  stopped(): void
}
export declare function typingOf(store: ChatStore, opts?: { tab?: string }): import('./index').Typing
export declare function usePresence(userIdOrUsername: string | Ref<string>, store?: ChatStore): ComputedRef<import('./index').PresenceStatus | undefined>
export declare function presenceOf(store: ChatStore): import('./index').Presence
export declare function useConnectionState(store?: ChatStore): Readonly<Ref<ConnectionState>>
export declare const FROM_SELF: 'self'
export declare const FROM_OTHER: 'opposite'
export declare const FROM_SYSTEM: 'system'
