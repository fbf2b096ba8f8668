import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { ErrorCode } from '@shoal/core'
import { afterEach, describe, expect, it } from 'vitest'
import { TrackerClient } from '../src/tracker-client.ts'
import { trackerRequest } from '../src/tracker-http.ts'

let server: Server | undefined

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      body += chunk
    })
    req.on('end', () => handler(req, res, body))
  })
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
  server = undefined
})

const init = (over: Partial<Parameters<typeof trackerRequest>[1]> = {}) => ({
  method: 'GET',
  headers: {},
  body: null,
  signal: AbortSignal.timeout(5000),
  ...over
})

describe('trackerRequest (node:http)', () => {
  it('sends the method, headers and body, and returns the status and text', async () => {
    const url = await serve((req, res, body) => {
      res.writeHead(201, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ method: req.method, auth: req.headers.authorization, body }))
    })
    const answer = await trackerRequest(
      `${url}/v1/x`,
      init({
        method: 'POST',
        headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
        body: '{"ü":1}'
      })
    )
    expect(answer.status).toBe(201)
    expect(JSON.parse(answer.text)).toEqual({ method: 'POST', auth: 'Bearer t', body: '{"ü":1}' })
  })

  it('reuses one connection and sends again once when the tracker closed it as it was reused', async () => {
    const served = new Map<Socket, number>()
    const url = await serve((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1
      served.set(req.socket, n)
      // The second request on a connection finds it closed, as when the server's keep-alive timer fired.
      if (n === 2) req.socket.destroy()
      else res.end(String(served.size))
    })
    expect((await trackerRequest(url, init())).text).toBe('1')
    expect((await trackerRequest(url, init({ method: 'POST', body: '{}' }))).text).toBe('2')
    expect([...served.values()]).toEqual([2, 1])
  })

  it('does not send again when a fresh connection fails', async () => {
    let requests = 0
    const url = await serve((req) => {
      requests++
      req.socket.destroy()
    })
    await expect(trackerRequest(url, init({ method: 'POST', body: '{}' }))).rejects.toMatchObject({
      code: 'ECONNRESET'
    })
    expect(requests).toBe(1)
  })

  it('stops at the signal, the body included', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200)
      res.write('part')
    })
    const controller = new AbortController()
    const pending = trackerRequest(url, init({ signal: controller.signal }))
    setTimeout(() => controller.abort(), 100)
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
  })
})

describe('TrackerClient over trackerRequest', () => {
  it('turns an error answer into the typed error and an unreachable tracker into ERR_TRACKER_UNREACHABLE', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { code: ErrorCode.OBJECT_NOT_FOUND, message: 'no file named "x"' } }))
    })
    const client = new TrackerClient({ url, token: 't' })
    await expect(client.account()).rejects.toMatchObject({ code: ErrorCode.OBJECT_NOT_FOUND })
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve))
    server = undefined
    await expect(client.account()).rejects.toMatchObject({ code: ErrorCode.TRACKER_UNREACHABLE })
  })

  it('answers ERR_PROTOCOL for an error without a body it can read', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(502)
      res.end('<html>bad gateway</html>')
    })
    await expect(new TrackerClient({ url }).info()).rejects.toMatchObject({ code: ErrorCode.PROTOCOL })
  })
})
