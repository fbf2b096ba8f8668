import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomId } from '../ids.ts'

/** One plain-text message to one address. */
export interface Mail {
  to: string
  subject: string
  text: string
}

/**
 * Where the tracker's mail goes. The tracker only needs `send`: an SMTP or HTTP-API sender for a real deployment
 * implements it (and is passed as `TrackerInit.mailer`); a send that fails rejects, and the request that caused
 * it answers an error.
 */
export interface MailSender {
  send(mail: Mail): Promise<void>
}

/**
 * Writes each mail as a JSON file (`{ to, subject, text, at }`) into a folder, for local operators and tests to
 * read: Shoal ships no SMTP client. A file appears whole (written beside it, then renamed), named so that a
 * listing sorts by time.
 */
export class OutboxMailSender implements MailSender {
  readonly dir: string
  readonly #now: () => number

  constructor(dir: string, now: () => number = Date.now) {
    this.dir = dir
    this.#now = now
  }

  async send(mail: Mail): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const at = this.#now()
    const name = `${String(at).padStart(16, '0')}-${randomId()}.json`
    const temp = join(this.dir, `.${name}.tmp`)
    await writeFile(temp, `${JSON.stringify({ ...mail, at }, null, 2)}\n`, { mode: 0o600 })
    await rename(temp, join(this.dir, name))
  }
}
