import { execFile } from 'node:child_process'
import { createHash, X509Certificate } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** openssl req: a new P-256 key, unencrypted (test keys only). */
const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

export interface IssuedCertificate {
  /** PEM files: the leaf followed by the CA (a full chain, as certbot writes it), and its key. */
  cert: string
  key: string
  /** base64 SHA-256 of the leaf's public key: what Chromium's --ignore-certificate-errors-spki-list takes. */
  spki: string
  /** SHA-256 fingerprint of the leaf, as node:tls reports it. */
  fingerprint256: string
}

/**
 * A throwaway certificate authority made at run time with openssl, for tests of TLS (secure WebSockets, an
 * HTTPS web UI, a tracker behind TLS). Nothing is committed: keys live in the test's temporary folder.
 *
 * @example
 * ```ts
 * const ca = await TestCa.create(dir)
 * const node = await ca.issue('node-0', { ips: ['127.0.0.1'] })
 * ```
 */
export class TestCa {
  readonly dir: string
  /** The CA's certificate (PEM file): what a client trusts. */
  readonly cert: string
  readonly #key: string
  #serial = 1

  private constructor(dir: string) {
    this.dir = dir
    this.cert = join(dir, 'ca.pem')
    this.#key = join(dir, 'ca-key.pem')
  }

  static async create(dir: string): Promise<TestCa> {
    const ca = new TestCa(dir)
    await run('openssl', [
      'req',
      '-x509',
      ...NEW_EC_KEY,
      '-keyout',
      ca.#key,
      '-out',
      ca.cert,
      '-days',
      '2',
      '-subj',
      '/CN=Shoal test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign'
    ])
    return ca
  }

  /** A leaf certificate for these addresses and names, signed by this CA. */
  async issue(name: string, subject: { ips?: string[]; dns?: string[] }): Promise<IssuedCertificate> {
    const key = join(this.dir, `${name}-key.pem`)
    const csr = join(this.dir, `${name}.csr`)
    const leaf = join(this.dir, `${name}-leaf.pem`)
    const cert = join(this.dir, `${name}.pem`)
    const ext = join(this.dir, `${name}.ext`)
    const alt = [...(subject.ips ?? []).map((ip) => `IP:${ip}`), ...(subject.dns ?? []).map((d) => `DNS:${d}`)]
    await writeFile(
      ext,
      `subjectAltName=${alt.join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`
    )
    await run('openssl', ['req', ...NEW_EC_KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`])
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      this.cert,
      '-CAkey',
      this.#key,
      '-set_serial',
      String(this.#serial++),
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      leaf
    ])
    const leafPem = await readFile(leaf, 'utf8')
    await writeFile(cert, `${leafPem}${await readFile(this.cert, 'utf8')}`)
    const x509 = new X509Certificate(leafPem)
    const spkiDer = x509.publicKey.export({ type: 'spki', format: 'der' })
    return {
      cert,
      key,
      spki: createHash('sha256').update(spkiDer).digest('base64'),
      fingerprint256: x509.fingerprint256
    }
  }
}
