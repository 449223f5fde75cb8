import type { DefineComponent, VNode } from 'vue'

export declare function safeHref(raw: string): string
export declare function renderMarkdown(md: unknown[], opts?: { me?: string; locale?: string }): Array<VNode | string | null>
export declare const MessageBody: DefineComponent<{ message: object; me?: string; locale?: string }>
