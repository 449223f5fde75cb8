// @rcgateway/client: the browser side of rcgateway for product frontends.
export { ChatClient, TARGETS } from './client.js'
export { ChatError, codeForStatus, isAuthRejection } from './errors.js'
export { newMessageId, fileUrl } from './rest.js'
export { createTyping, TYPING_TIMEOUT, TYPING_THROTTLE, TYPING_IDLE, OPEN_REFRESH } from './typing.js'
export { createPresence, STATUSES } from './presence.js'
