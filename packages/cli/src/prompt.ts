import { createInterface } from 'node:readline/promises'
import { Writable } from 'node:stream'

/** Asks on the terminal; `secret` hides what is typed. */
export async function ask(
  question: string,
  io: { stdin: NodeJS.ReadableStream; stderr: NodeJS.WritableStream },
  secret = false
): Promise<string> {
  let muted = false
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) io.stderr.write(chunk)
      done()
    }
  })
  const rl = createInterface({ input: io.stdin, output, terminal: true })
  try {
    const answer = rl.question(question)
    muted = secret
    const value = await answer
    if (secret) io.stderr.write('\n')
    return value
  } finally {
    rl.close()
  }
}
