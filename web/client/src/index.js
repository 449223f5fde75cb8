// @rcgateway/client: the browser side of rcgateway for product frontends.
export { ChatClient, TARGETS } from './client.js'
export { ChatError, codeForStatus, isAuthRejection } from './errors.js'
export { newMessageId, fileUrl } from './rest.js'
