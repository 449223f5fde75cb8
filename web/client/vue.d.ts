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
  send(text: string): Promise<RcMessage | null>
  retry(m: ShownMessage): Promise<RcMessage>
  discard(m: ShownMessage): void
  edit(m: ShownMessage, text: string): Promise<RcMessage>
  remove(m: ShownMessage): Promise<void>
  upload(file: Blob, description?: string, opts?: UploadOptions): Promise<RcMessage>
  markRead(): Promise<void>
}
export declare function useConnectionState(store?: ChatStore): Readonly<Ref<ConnectionState>>
export declare const FROM_SELF: 'self'
export declare const FROM_OTHER: 'opposite'
export declare const FROM_SYSTEM: 'system'
