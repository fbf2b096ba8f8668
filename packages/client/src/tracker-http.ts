import http from 'node:http'
import https from 'node:https'

/** What the tracker answered: its status and its body as text. */
export interface TrackerAnswer {
  status: number
  text: string
}

export interface TrackerRequestInit {
  method: string
  headers: Record<string, string>
  body: string | null
  signal: AbortSignal
}

/**
 * One HTTP exchange with the tracker, on node:http(s) with kept-alive connections. Not `fetch`: Node loads its
 * fetch (undici) on first use, and that first call cost 68-81 ms against 9-12 ms for node:http here, in every
 * `shoal` command's start (docs/transport-tuning.md; the CLI's bundle also keeps node:http's import from loading
 * it). The browser build uses `fetch` (tracker-http.browser.ts). Rejects on a network failure or when `signal`
 * aborts, the body included.
 */
export async function trackerRequest(url: string, init: TrackerRequestInit): Promise<TrackerAnswer> {
  try {
    return await exchange(url, init)
  } catch (err) {
    // A kept-alive connection the tracker closed just as it was reused: the request never reached it, so it is
    // sent once more on a new connection (Node's documented remedy for this race).
    if (!(err instanceof StaleConnectionError)) throw err
    return exchange(url, init)
  }
}

class StaleConnectionError extends Error {}

function exchange(url: string, init: TrackerRequestInit): Promise<TrackerAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const secure = target.protocol === 'https:'
    if (!secure && target.protocol !== 'http:') {
      reject(new TypeError(`unsupported protocol ${target.protocol}`))
      return
    }
    const body = init.body === null ? undefined : Buffer.from(init.body)
    const headers = body === undefined ? init.headers : { ...init.headers, 'content-length': String(body.byteLength) }
    const options = { method: init.method, headers, signal: init.signal }
    let answered = false
    const answer = (res: http.IncomingMessage): void => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
    }
    const req = secure
      ? https.request(target, { ...options, agent: httpsAgent }, answer)
      : http.request(target, { ...options, agent: httpAgent }, answer)
    req.on('error', (err: NodeJS.ErrnoException) => {
      const stale = req.reusedSocket && !answered && (err.code === 'ECONNRESET' || err.code === 'EPIPE')
      reject(stale ? new StaleConnectionError(err.message, { cause: err }) : err)
    })
    req.end(body)
  })
}

// Kept-alive connections: a transfer asks the tracker for grants and commits many times. Idle sockets do not
// keep the process alive, and Node stops reusing one a second before the server's Keep-Alive timeout.
const httpAgent = new http.Agent({ keepAlive: true })
const httpsAgent = new https.Agent({ keepAlive: true })
