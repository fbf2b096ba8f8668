import { parentPort } from 'node:worker_threads'
import { serveCodec } from './codec-protocol.ts'

/** Node's codec worker thread (WorkerCodecEngine): the protocol lives in codec-protocol.ts. */
const port = parentPort
if (port === null) throw new Error('codec-worker must run as a worker thread')
serveCodec({
  postMessage: (response, transfer) => port.postMessage(response, transfer),
  onRequest: (handler) => port.on('message', handler)
})
