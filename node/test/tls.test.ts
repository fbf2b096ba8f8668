import { copyFile, readFile } from 'node:fs/promises'
import { connect } from 'node:tls'
import { ErrorCode, ShoalError } from '@shoal/core'
import { afterEach, describe, expect, it } from 'vitest'
import { TestCa } from '../../test/src/test-ca.ts'
import { createNode } from '../src/index.ts'
import { startNode, Teardown, tempDir, waitFor } from './helpers.ts'

const teardown = new Teardown()
afterEach(() => teardown.run())

/** The SHA-256 fingerprint of the certificate a TLS server presents, verified against `ca`. */
function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: '' }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256
      socket.destroy()
      resolve(fingerprint)
    })
    socket.once('error', reject)
  })
}

describe('secure WebSockets', () => {
  it('serves /tls/ws with the operator’s certificate and picks up a renewed one without a restart', async () => {
    const dir = await tempDir(teardown.defer, 'shoal-tls-')
    const ca = await TestCa.create(dir)
    const first = await ca.issue('first', { ips: ['127.0.0.1'] })
    const renewed = await ca.issue('renewed', { ips: ['127.0.0.1'] })
    // The files the node is told about, as certbot's live/ folder: replaced in place on renewal.
    const live = { cert: `${dir}/live-cert.pem`, key: `${dir}/live-key.pem` }
    await copyFile(first.cert, live.cert)
    await copyFile(first.key, live.key)

    const { node } = await startNode(teardown.defer, {
      listen: ['/ip4/127.0.0.1/tcp/0/tls/ws'],
      tls: { ...live, reloadIntervalMs: 50 }
    })
    const wss = node.multiaddrs.find((ma) => ma.toString().includes('/tls/ws'))
    expect(wss?.toString()).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/tls\/ws\/p2p\//)
    const port = Number(/\/tcp\/(\d+)\//.exec(wss?.toString() ?? '')?.[1])
    const caPem = await readFile(ca.cert, 'utf8')
    expect(await servedFingerprint(port, caPem)).toBe(first.fingerprint256)

    await copyFile(renewed.key, live.key)
    await copyFile(renewed.cert, live.cert)
    await waitFor(
      // Every handshake during the renewal succeeds: a file read half-written is never served.
      async () => (await servedFingerprint(port, caPem)) === renewed.fingerprint256,
      'the renewed certificate to be served'
    )
  })

  it('refuses a /tls/ws listen address without a certificate, and a certificate that does not match its key', async () => {
    const dir = await tempDir(teardown.defer, 'shoal-tls-')
    const noCert = await createNode({ dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0/tls/ws'] }).catch((e) => e)
    expect(noCert).toBeInstanceOf(ShoalError)
    expect((noCert as ShoalError).code).toBe(ErrorCode.INVALID_INPUT)

    const ca = await TestCa.create(dir)
    const a = await ca.issue('a', { ips: ['127.0.0.1'] })
    const b = await ca.issue('b', { ips: ['127.0.0.1'] })
    const mismatched = await createNode({
      dataDir: dir,
      listen: ['/ip4/127.0.0.1/tcp/0/tls/ws'],
      tls: { cert: a.cert, key: b.key }
    }).catch((e) => e)
    expect((mismatched as ShoalError).code).toBe(ErrorCode.INVALID_INPUT)
    expect((mismatched as ShoalError).message).toContain(a.cert)
  })
})
