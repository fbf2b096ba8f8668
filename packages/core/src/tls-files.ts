import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { createSecureContext } from 'node:tls'
import { describeError, ErrorCode, ShoalError } from './errors.ts'

export interface TlsFiles {
  /** PEM certificate chain (leaf first), e.g. certbot's fullchain.pem. */
  cert: string
  /** PEM private key, e.g. certbot's privkey.pem. */
  key: string
}

export interface TlsPair {
  cert: string
  key: string
}

export interface CertificateWatcherInit extends TlsFiles {
  /** How often the files' modification times are checked; default 60 s. */
  intervalMs?: number
  /** Called with a new pair that parsed as a certificate and its key (not on the first load). */
  onChange: (pair: TlsPair) => void
  /** Called when changed files do not load; the previous pair stays in use. */
  onError?: (err: ShoalError) => void
}

const DEFAULT_INTERVAL_MS = 60_000

/**
 * Reads a certificate and key from files and checks that they belong together; ERR_INVALID_INPUT naming the
 * file otherwise, so a typo fails at start-up with one line.
 */
export async function loadTlsFiles(files: TlsFiles): Promise<TlsPair> {
  const read = async (path: string, what: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8')
    } catch (cause) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `cannot read the TLS ${what} ${path}: ${describeError(cause)}`, {
        cause
      })
    }
  }
  const pair = { cert: await read(files.cert, 'certificate'), key: await read(files.key, 'key') }
  try {
    // createSecureContext alone takes an empty certificate (a file caught mid-write) and serves no certificate.
    if (!new X509Certificate(pair.cert).checkPrivateKey(createPrivateKey(pair.key))) {
      throw new Error('the key is not the certificate’s')
    }
    createSecureContext(pair)
  } catch (cause) {
    throw new ShoalError(
      ErrorCode.INVALID_INPUT,
      `the TLS certificate ${files.cert} and key ${files.key} do not load together: ${describeError(cause)}`,
      { cause }
    )
  }
  return pair
}

/**
 * Reloads a certificate when its files change, without a restart: certbot and other ACME clients replace the
 * files every few weeks, and a node or tracker should pick them up on its own. Polls modification times (file
 * watching misses the symlink swaps certbot does); a pair that fails to load is reported and skipped.
 */
export class CertificateWatcher {
  readonly #init: CertificateWatcherInit
  #timer: ReturnType<typeof setInterval> | undefined
  /** The files' state when the pair in use was loaded, and at the last check. */
  #loaded = ''
  #seen = ''
  #checking: Promise<void> | undefined

  constructor(init: CertificateWatcherInit) {
    this.#init = init
  }

  /** Loads the pair once and starts watching; the pair is what to serve now. */
  async start(): Promise<TlsPair> {
    const pair = await loadTlsFiles(this.#init)
    this.#loaded = await this.#stamp()
    this.#seen = this.#loaded
    this.#timer = setInterval(() => {
      this.#checking ??= this.check().finally(() => {
        this.#checking = undefined
      })
    }, this.#init.intervalMs ?? DEFAULT_INTERVAL_MS)
    this.#timer.unref()
    return pair
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#checking
  }

  /**
   * Checks the files now (the timer does this every interval). Changed files are loaded once they have stayed
   * the same for one check, so a renewal that writes the key and the certificate one after the other is
   * taken whole.
   */
  async check(): Promise<void> {
    const stamp = await this.#stamp().catch(() => this.#seen)
    const settled = stamp === this.#seen
    this.#seen = stamp
    if (!settled || stamp === this.#loaded) return
    this.#loaded = stamp
    try {
      this.#init.onChange(await loadTlsFiles(this.#init))
    } catch (err) {
      this.#init.onError?.(err as ShoalError)
    }
  }

  async #stamp(): Promise<string> {
    const [cert, key] = await Promise.all([stat(this.#init.cert), stat(this.#init.key)])
    return `${cert.mtimeMs}:${cert.size}:${key.mtimeMs}:${key.size}`
  }
}
