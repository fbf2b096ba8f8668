import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  type Credentials,
  checkPath,
  degradedNote,
  isResumable,
  type SavedSession,
  ShoalClient,
  TrackerClient
} from '@shoal/client'
import { downloadFile, isInterruption, writeToStream } from '@shoal/client/files'
import {
  describeError,
  ErrorCode,
  formatBytes,
  formatMicros,
  invoiceCsv,
  isShoalError,
  ShoalError,
  type VersionPolicyResponse
} from '@shoal/core'
import { BackupInterruptedError, nextChange, runBackup, summaryLine } from './backup.ts'
import { invoiceLines, usageLines } from './billing-view.ts'
import { dropCheckpoint, findCheckpoint, saveCheckpoint } from './checkpoints.ts'
import { clearSession, configDir, loadNodeRates, loadSession, saveNodeRates, saveSession } from './config.ts'
import { progressBar, speedLine } from './progress-bar.ts'
import { ask } from './prompt.ts'

export interface CliIo {
  env: NodeJS.ProcessEnv
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  stdout: NodeJS.WriteStream
  stderr: NodeJS.WriteStream
  signal?: AbortSignal
}

export const USAGE = `usage: shoal <command> [options]

commands:
  signup [--code CODE]   create an account (asks for email and password). When the tracker verifies emails,
                         it mails a code: typed at the prompt, or given in a second run with --code
  login                  sign in on this device
  logout [--all]         end this device's session (--all: every session of the account, on every device)
  passwd                 change your password (every other device is logged out)
  recover                set a new password with your recovery key, after forgetting the old one
  recovery-key           make a new recovery key (the old one stops working)
  put FILE [NAME]        upload FILE, stored as NAME (default: the file's name; "a/b" puts b in folder a)
  backup DIR [--to FOLDER] [--watch]
                         copy DIR into FOLDER (default: DIR's name), only what is new or changed; --watch
                         keeps going and backs up changes as they happen. Never deletes from the drive
  get NAME [OUT]         download NAME to OUT (default: its base name; "-" writes to stdout); run it
                         again after an interruption to continue where it stopped
  ls [--json]            list your files
  rm NAME                delete a file and its older versions
  versions NAME [--json] list a file's versions: id, size, date, the current one marked "*"
  versions NAME --delete ID  delete one older version (its pieces go, it stops being billed)
  versions --policy [--keep N|none] [--days D|none]
                         show or set how many older versions of each file are kept, and for how many days
                         (default: 10 versions, 30 days; older ones are purged and stop being billed)
  restore NAME --version ID  make an older version current again (the current one becomes a version)
  shares [--json]        list your share links: status, expiry and how many downloads each had
  share-expiry ID WHEN   change a link's expiry: a date (YYYY-MM-DD, end of that day UTC), a number of days
                         (7d), or "never"
  usage [--period YYYY-MM]  storage used and quota, plan, and the month's metered usage and charges
  invoice [YYYY-MM] [--csv]  list your invoices, or show one (as CSV with --csv)

options:
  --tracker URL          tracker to use (env SHOAL_TRACKER; default: the one you logged in to)
  --overwrite            put: replace an existing file of the same name
  --force                get: replace an existing local file
  --version ID           get, restore: that version of the file (see "shoal versions NAME")
  --json                 machine-readable output
  --csv                  invoice: CSV for a spreadsheet
  --period YYYY-MM       usage: another month (default: this one, to date)
  --to FOLDER            backup: the drive folder to copy into
  --watch                backup: keep watching DIR and back up changes
  -h, --help             show this help

environment:
  SHOAL_EMAIL, SHOAL_PASSWORD   credentials for signup/login without prompts (passwd, recovery-key: the
                                current password)
  SHOAL_NEW_PASSWORD            passwd, recover: the new password without prompts
  SHOAL_RECOVERY_KEY            recover: the recovery key without a prompt
  SHOAL_HOME                    where the session and backup state are kept (default ~/.shoal)`

/** Runs one command; returns the exit code. Errors reach the user as one line: "shoal: message (CODE)". */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (err) {
    io.stderr.write(`shoal: ${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  const { values, positionals } = parsed
  const [command, ...args] = positionals
  if (values.help === true || command === undefined || command === 'help') {
    io.stdout.write(`${USAGE}\n`)
    return command === undefined && values.help !== true ? 2 : 0
  }
  const dir = configDir(io.env)
  let client: ShoalClient | undefined
  try {
    const tracker = values.tracker ?? io.env.SHOAL_TRACKER
    switch (command) {
      case 'signup':
      case 'login': {
        if (tracker === undefined) throw usage('set --tracker URL or SHOAL_TRACKER')
        const email = io.env.SHOAL_EMAIL ?? (await prompt(io, 'Email: '))
        const password = io.env.SHOAL_PASSWORD ?? (await prompt(io, 'Password: ', true))
        if (command === 'signup' && io.env.SHOAL_PASSWORD === undefined && values.code === undefined) {
          const again = await prompt(io, 'Repeat password: ', true)
          if (again !== password) throw new ShoalError(ErrorCode.INVALID_INPUT, 'the passwords do not match')
        }
        checkPasswordLength(password)
        const credentials = { tracker, email, password }
        if (command === 'signup') {
          client = await signup(io, credentials, values.code)
          if (client === undefined) return 0
        } else {
          client = await ShoalClient.login(credentials)
        }
        await saveSession(dir, client.session())
        io.stderr.write(`${command === 'signup' ? 'Signed up' : 'Logged in'} as ${client.email} at ${tracker}\n`)
        if (client.recoveryKey !== undefined) showRecoveryKey(io, client.recoveryKey)
        return 0
      }
      case 'passwd': {
        expectArgs(args, 0, 0, 'passwd')
        client = await signedIn(dir, tracker)
        const current = io.env.SHOAL_PASSWORD ?? (await prompt(io, 'Current password: ', true))
        const next = await newPassword(io)
        await client.changePassword(current, next)
        await saveSession(dir, client.session())
        io.stderr.write('Password changed; every other device is logged out\n')
        return 0
      }
      case 'recover': {
        expectArgs(args, 0, 0, 'recover')
        if (tracker === undefined) throw usage('set --tracker URL or SHOAL_TRACKER')
        const email = io.env.SHOAL_EMAIL ?? (await prompt(io, 'Email: '))
        const recoveryKey = io.env.SHOAL_RECOVERY_KEY ?? (await prompt(io, 'Recovery key: ', true))
        const next = await newPassword(io)
        client = await ShoalClient.recover({ tracker, email, recoveryKey, newPassword: next })
        await saveSession(dir, client.session())
        io.stderr.write(
          `New password set for ${client.email}; logged in here, logged out everywhere else. The recovery key still works.\n`
        )
        return 0
      }
      case 'recovery-key': {
        expectArgs(args, 0, 0, 'recovery-key')
        client = await signedIn(dir, tracker)
        const password = io.env.SHOAL_PASSWORD ?? (await prompt(io, 'Password: ', true))
        showRecoveryKey(io, await client.newRecoveryKey(password))
        io.stderr.write('The previous recovery key no longer works.\n')
        return 0
      }
      case 'logout': {
        expectArgs(args, 0, 0, 'logout [--all]')
        const everywhere = values.all === true
        const saved = await loadSession(dir)
        if (saved === undefined) {
          if (everywhere) throw new ShoalError(ErrorCode.UNAUTHORIZED, 'not logged in: log in to log out everywhere')
          io.stderr.write('Not logged in\n')
          return 0
        }
        try {
          await new TrackerClient({ url: saved.tracker, token: saved.token }).logout(everywhere)
        } catch (err) {
          // An expired session is as good as ended; anything else means the tracker may still accept it.
          if (!isShoalError(err, ErrorCode.UNAUTHORIZED)) {
            if (everywhere) throw err
            io.stderr.write(`warning: the tracker did not end the session (${describeError(err)}); forgotten here\n`)
          }
        }
        await clearSession(dir)
        io.stderr.write(everywhere ? 'Logged out on every device\n' : 'Logged out\n')
        return 0
      }
      case 'put': {
        const [file, name] = expectArgs(args, 1, 2, 'put FILE [NAME]')
        client = await signedIn(dir, tracker)
        const info = await stat(file!).catch((cause: unknown) => {
          throw new ShoalError(ErrorCode.INVALID_INPUT, `cannot read ${file}: ${(cause as Error).message}`, { cause })
        })
        if (!info.isFile()) throw new ShoalError(ErrorCode.INVALID_INPUT, `${file} is not a regular file`)
        const target = checkPath(name ?? basename(file!))
        const bar = progressBar(`put ${target}`, io.stderr)
        const started = performance.now()
        const previous = await findCheckpoint(dir, file!, target, info.size, info.mtimeMs)
        const upload = (resume: string | undefined) =>
          client!.put(target, createReadStream(file!, { highWaterMark: 1024 * 1024 }), info.size, {
            overwrite: values.overwrite === true,
            onProgress: bar.update,
            onStarted: (uploadId) => {
              void saveCheckpoint(dir, { uploadId, file: file!, name: target, size: info.size, mtimeMs: info.mtimeMs })
            },
            ...(resume === undefined ? {} : { resume }),
            ...(io.signal === undefined ? {} : { signal: io.signal })
          })
        let object: Awaited<ReturnType<typeof upload>>
        try {
          if (previous !== undefined) io.stderr.write(`Resuming the interrupted upload of ${target}\n`)
          object = await upload(previous?.uploadId).catch((err: unknown) => {
            // The tracker forgot the upload (expired or aborted): start over.
            if (previous !== undefined && isShoalError(err, ErrorCode.UPLOAD_NOT_FOUND)) return upload(undefined)
            throw err
          })
        } catch (err) {
          bar.done()
          if (isResumable(err, io.signal)) {
            io.stderr.write(`The upload was interrupted: run the same command again to resume it.\n`)
          } else {
            await dropCheckpoint(dir, file!, target, info.size, info.mtimeMs)
          }
          throw err
        }
        await dropCheckpoint(dir, file!, target, info.size, info.mtimeMs)
        bar.done()
        if (values.json === true) {
          const { degraded } = object
          io.stdout.write(
            `${JSON.stringify({ name: target, id: object.id, size: object.size, ...(degraded === undefined ? {} : { degraded }) })}\n`
          )
        } else io.stderr.write(`Uploaded ${target}: ${speedLine(info.size, performance.now() - started)}\n`)
        if (object.degraded !== undefined) io.stderr.write(`warning: ${target} ${degradedNote(object.degraded)}\n`)
        return 0
      }
      case 'get': {
        const [name, outArg] = expectArgs(args, 1, 2, 'get NAME [OUT] [--version ID]')
        client = await signedIn(dir, tracker)
        const version = values.version === undefined ? {} : { version: values.version }
        const out = outArg ?? basename(name!)
        if (out !== '-' && values.force !== true && (await exists(out))) {
          throw new ShoalError(ErrorCode.CONFLICT, `${out} already exists: pass --force to replace it`)
        }
        const bar = progressBar(`get ${name}`, io.stderr)
        const started = performance.now()
        if (out === '-') {
          const { stream } = await client.get(name!, {
            ...version,
            onProgress: bar.update,
            ...(io.signal === undefined ? {} : { signal: io.signal })
          })
          await writeToStream(stream, io.stdout)
          bar.done()
          return 0
        }
        // Written beside the target and renamed at the end: a failed download never leaves a wrong file, and
        // an interrupted one continues where it stopped on the next run (@shoal/client/files).
        let offset = 0
        let size = 0
        try {
          const { object, resumedFrom } = await downloadFile(client, name!, out, {
            ...version,
            onProgress: bar.update,
            onResume: (from, total) =>
              io.stderr.write(
                `Resuming the interrupted download of ${name} at ${formatBytes(from)} of ${formatBytes(total)}\n`
              ),
            ...(io.signal === undefined ? {} : { signal: io.signal })
          })
          offset = resumedFrom
          size = object.size
        } catch (err) {
          bar.done()
          if (isInterruption(err, io.signal))
            io.stderr.write('The download was interrupted: run the same command again to continue it.\n')
          throw err
        }
        bar.done()
        io.stderr.write(
          `Downloaded ${name} to ${out}: ${speedLine(size - offset, performance.now() - started)}${offset > 0 ? ' (resumed)' : ''}\n`
        )
        return 0
      }
      case 'ls': {
        expectArgs(args, 0, 0, 'ls [--json]')
        client = await signedIn(dir, tracker)
        const entries = await client.list()
        if (values.json === true) {
          io.stdout.write(`${JSON.stringify(entries)}\n`)
        } else if (entries.length === 0) {
          io.stderr.write('No files yet: upload one with "shoal put FILE"\n')
        } else {
          const width = Math.max(...entries.map((e) => formatBytes(e.size).length))
          for (const e of entries) {
            const when = new Date(e.createdAt).toISOString().replace('T', ' ').slice(0, 16)
            io.stdout.write(`${formatBytes(e.size).padStart(width)}  ${when}  ${e.name}\n`)
          }
        }
        return 0
      }
      case 'rm': {
        const [name] = expectArgs(args, 1, 1, 'rm NAME')
        client = await signedIn(dir, tracker)
        const result = await client.remove(name!)
        io.stderr.write(`Deleted ${name}${piecesLeft(result)}\n`)
        return 0
      }
      case 'versions': {
        client = await signedIn(dir, tracker)
        if (values.policy === true) {
          expectArgs(args, 0, 0, 'versions --policy [--keep N|none] [--days D|none]')
          const current = await client.versionPolicy()
          const policy =
            values.keep === undefined && values.days === undefined
              ? current
              : await client.setVersionPolicy({
                  keep: values.keep === undefined ? current.keep : policyLimit('--keep', values.keep),
                  days: values.days === undefined ? current.days : policyLimit('--days', values.days)
                })
          if (values.json === true) io.stdout.write(`${JSON.stringify(policy)}\n`)
          else io.stdout.write(`${policyLine(policy)}\n`)
          return 0
        }
        const [name] = expectArgs(args, 1, 1, 'versions NAME [--json] | versions NAME --delete ID | versions --policy')
        if (values.delete !== undefined) {
          const result = await client.deleteVersion(name!, values.delete)
          io.stderr.write(`Deleted version ${values.delete} of ${name}${piecesLeft(result)}\n`)
          return 0
        }
        const versions = await client.versions(name!)
        if (values.json === true) {
          io.stdout.write(`${JSON.stringify(versions)}\n`)
          return 0
        }
        const width = Math.max(...versions.map((v) => formatBytes(v.size).length))
        for (const v of versions) {
          const when = new Date(v.createdAt).toISOString().replace('T', ' ').slice(0, 16)
          io.stdout.write(`${v.current ? '*' : ' '} ${v.id}  ${formatBytes(v.size).padStart(width)}  ${when}\n`)
        }
        if (versions.length === 1) io.stderr.write(`${name} has no older versions\n`)
        return 0
      }
      case 'restore': {
        const [name] = expectArgs(args, 1, 1, 'restore NAME --version ID')
        if (values.version === undefined)
          throw usage('usage: shoal restore NAME --version ID (see "shoal versions NAME")')
        client = await signedIn(dir, tracker)
        const restored = await client.restore(name!, values.version)
        io.stderr.write(`Restored ${name} to version ${restored.id}; the version it replaced is kept\n`)
        return 0
      }
      case 'shares': {
        expectArgs(args, 0, 0, 'shares [--json]')
        client = await signedIn(dir, tracker)
        const [shares, entries] = await Promise.all([client.listShares(), client.list()])
        const names = new Map(entries.map((e) => [e.id, e.name]))
        if (values.json === true) {
          io.stdout.write(`${JSON.stringify(shares.map((s) => ({ ...s, name: names.get(s.objectId) ?? null })))}\n`)
        } else if (shares.length === 0) {
          io.stderr.write('No share links yet\n')
        } else {
          for (const s of shares) {
            const downloads = `${s.downloads ?? 0} download${s.downloads === 1 ? '' : 's'}`
            io.stdout.write(
              `${s.id}  ${shareStatus(s).padEnd(22)}  ${downloads.padStart(13)}  ${names.get(s.objectId) ?? '(deleted file)'}\n`
            )
          }
        }
        return 0
      }
      case 'share-expiry': {
        const [id, when] = expectArgs(args, 2, 2, 'share-expiry ID (YYYY-MM-DD | 7d | never)')
        client = await signedIn(dir, tracker)
        const share = await client.setShareExpiry(id!, parseExpiry(when!, Date.now()))
        io.stderr.write(`Link ${share.id}: ${shareStatus(share)}\n`)
        return 0
      }
      case 'usage': {
        client = await signedIn(dir, tracker)
        const [account, metered, versions] = await Promise.all([
          client.usage(),
          client.tracker.usage(values.period),
          client.versionPolicy()
        ])
        if (values.json === true) io.stdout.write(`${JSON.stringify({ ...account, metered, versions })}\n`)
        else {
          io.stdout.write(
            `${account.email}: ${formatBytes(account.used)} of ${formatBytes(account.quota)} used, ${account.objects} files\n`
          )
          io.stdout.write(`${policyLine(versions)}\n`)
          io.stdout.write(`${usageLines(metered)}\n`)
        }
        return 0
      }
      case 'invoice': {
        const [period] = expectArgs(args, 0, 1, 'invoice [YYYY-MM] [--csv]')
        client = await signedIn(dir, tracker)
        if (period === undefined) {
          const { invoices } = await client.tracker.invoices()
          if (values.json === true) io.stdout.write(`${JSON.stringify(invoices)}\n`)
          else if (invoices.length === 0)
            io.stderr.write('No invoices yet: the first is issued after your first month\n')
          else
            for (const i of invoices)
              io.stdout.write(`${i.period}  ${i.plan.padEnd(5)}  ${formatMicros(i.totalMicros)}\n`)
          return 0
        }
        const invoice = await client.tracker.invoice(period)
        if (values.csv === true) io.stdout.write(invoiceCsv(invoice))
        else if (values.json === true) io.stdout.write(`${JSON.stringify(invoice)}\n`)
        else io.stdout.write(`${invoiceLines(invoice)}\n`)
        return 0
      }
      case 'backup': {
        const [source] = expectArgs(args, 1, 1, 'backup DIR [--to FOLDER] [--watch]')
        const dirPath = resolve(source!)
        const info = await stat(dirPath).catch(() => undefined)
        if (info?.isDirectory() !== true) throw new ShoalError(ErrorCode.INVALID_INPUT, `${source} is not a folder`)
        const folder = (values.to ?? basename(dirPath)).replace(/^\/+|\/+$/g, '')
        checkPath(folder)
        client = await signedIn(dir, tracker)
        for (;;) {
          let summary: Awaited<ReturnType<typeof runBackup>>
          try {
            summary = await runBackup({
              client,
              home: dir,
              dir: dirPath,
              folder,
              log: io.stderr,
              ...(io.signal === undefined ? {} : { signal: io.signal })
            })
          } catch (err) {
            if (!(err instanceof BackupInterruptedError) || values.watch !== true || io.signal?.aborted === true)
              throw err
            // Watching: a lost network is retried at the next change instead of ending the watch.
            io.stderr.write(`${err.message}\n`)
            if (!(await nextChange(dirPath, io.signal))) return 0
            continue
          }
          if (values.json === true) io.stdout.write(`${JSON.stringify({ dir: dirPath, folder, ...summary })}\n`)
          io.stderr.write(`${summaryLine(source!, folder, summary)}\n`)
          if (values.watch !== true) return summary.failed.length > 0 ? 1 : 0
          io.stderr.write(`Watching ${source} for changes (Ctrl-C to stop)\n`)
          if (!(await nextChange(dirPath, io.signal))) return 0
        }
      }
      default:
        throw usage(`unknown command "${command}"`)
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`shoal: ${err.message}\n`)
      return 2
    }
    io.stderr.write(`shoal: ${describeError(err)}\n`)
    return 1
  } finally {
    if (client !== undefined) await saveNodeRates(dir, client.nodeRates)
    // The command's work is done: stopping libp2p (closing connections politely) gets a bounded time.
    await stopWithin(client, CLIENT_STOP_MS)
  }
}

/** How long `shoal` waits for the client to close its connections before it exits anyway. */
const CLIENT_STOP_MS = 3_000

async function stopWithin(client: { stop(): Promise<void> } | undefined, ms: number): Promise<void> {
  if (client === undefined) return
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([
    client.stop().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms)
    })
  ])
  clearTimeout(timer)
}

/** What a delete left for offline nodes to do, as a suffix of its message. */
function piecesLeft(result: { piecesPending: number }): string {
  return result.piecesPending > 0 ? ` (${result.piecesPending} pieces will be removed when their nodes come back)` : ''
}

/** Options whose value is an id: ids are base64url, so one may start with "-". */
const ID_OPTIONS = new Set(['--version', '--delete'])

/**
 * `--version -x1Ab…` as `--version=-x1Ab…`: parseArgs would take a value starting with "-" for an option and
 * refuse it as ambiguous, so one id in 64 could not be given the way "shoal versions" prints it.
 */
export function joinIdValues(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const value = argv[i + 1]
    if (ID_OPTIONS.has(arg) && value !== undefined) {
      out.push(`${arg}=${value}`)
      i++
    } else out.push(arg)
  }
  return out
}

/** Commands whose first argument is an id (base64url: it may start with "-", which parseArgs takes for an option). */
const ID_FIRST_COMMANDS = new Set(['share-expiry'])

function parse(argv: string[]) {
  const id = argv[1]
  const idFirst = ID_FIRST_COMMANDS.has(argv[0] ?? '') && id !== undefined && !isOption(id)
  const parsed = parseArgs({
    args: joinIdValues(idFirst ? [argv[0] as string, ...argv.slice(2)] : argv),
    allowPositionals: true,
    options: CLI_OPTIONS
  })
  if (idFirst) parsed.positionals.splice(1, 0, id)
  return parsed
}

/** Whether `arg` is one of the command's own options (then it is not an id that happens to start with "-"). */
function isOption(arg: string): boolean {
  return arg === '-h' || (arg.startsWith('--') && Object.hasOwn(CLI_OPTIONS, arg.slice(2).split('=')[0] as string))
}

const CLI_OPTIONS = {
  tracker: { type: 'string' },
  overwrite: { type: 'boolean' },
  force: { type: 'boolean' },
  version: { type: 'string' },
  delete: { type: 'string' },
  policy: { type: 'boolean' },
  keep: { type: 'string' },
  days: { type: 'string' },
  json: { type: 'boolean' },
  csv: { type: 'boolean' },
  all: { type: 'boolean' },
  period: { type: 'string' },
  to: { type: 'string' },
  code: { type: 'string' },
  watch: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

class UsageError extends Error {}

function usage(message: string): UsageError {
  return new UsageError(message)
}

function expectArgs(args: string[], min: number, max: number, form: string): (string | undefined)[] {
  if (args.length < min || args.length > max) throw usage(`usage: shoal ${form}`)
  return args
}

async function prompt(io: CliIo, question: string, secret = false): Promise<string> {
  if (io.stdin.isTTY !== true) {
    throw new ShoalError(ErrorCode.INVALID_INPUT, 'no terminal to ask on: set SHOAL_EMAIL and SHOAL_PASSWORD')
  }
  return ask(question, io, secret)
}

/** `--keep 5`, `--days 30`, or `none` for no limit. */
function policyLimit(flag: string, value: string): number | null {
  if (value === 'none') return null
  if (!/^(0|[1-9][0-9]{0,5})$/.test(value)) throw usage(`${flag} takes a whole number or "none", not "${value}"`)
  return Number(value)
}

function policyLine(p: VersionPolicyResponse): string {
  const keep = p.keep === null ? 'every older version' : `the last ${p.keep} older version${p.keep === 1 ? '' : 's'}`
  const days = p.days === null ? 'for ever' : `for ${p.days} day${p.days === 1 ? '' : 's'}`
  return `Versions: keeping ${keep} of each file ${days}; ${p.versions} kept now, ${formatBytes(p.bytes)} (counted in used)`
}

function shareStatus(share: { revokedAt?: number; removedAt?: number; expiresAt?: number }): string {
  if (share.revokedAt !== undefined) return 'revoked'
  if (share.removedAt !== undefined) return 'removed by the operator'
  if (share.expiresAt === undefined) return 'active, no expiry'
  const until = new Date(share.expiresAt).toISOString().replace('T', ' ').slice(0, 16)
  return share.expiresAt <= Date.now() ? `expired ${until}` : `until ${until}`
}

/** "never" (null), "7d" (days from now) or "YYYY-MM-DD" (the end of that day, UTC). */
export function parseExpiry(text: string, now: number): number | null {
  if (text === 'never') return null
  const days = /^(\d{1,4})d$/.exec(text)
  if (days !== null && Number(days[1]) > 0) return now + Number(days[1]) * 86_400_000
  const date = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T23:59:59.999Z`) : Number.NaN
  if (Number.isFinite(date) && date > now) return date
  throw new ShoalError(
    ErrorCode.INVALID_INPUT,
    `"${text}" is not a future expiry: give a date (YYYY-MM-DD), a number of days (7d) or "never"`
  )
}

function checkPasswordLength(password: string): void {
  if (password.length < 8) throw new ShoalError(ErrorCode.INVALID_INPUT, 'the password must have at least 8 characters')
}

/** The new password for passwd and recover: SHOAL_NEW_PASSWORD, or asked twice. */
async function newPassword(io: CliIo): Promise<string> {
  const next = io.env.SHOAL_NEW_PASSWORD ?? (await prompt(io, 'New password: ', true))
  if (io.env.SHOAL_NEW_PASSWORD === undefined) {
    const again = await prompt(io, 'Repeat new password: ', true)
    if (again !== next) throw new ShoalError(ErrorCode.INVALID_INPUT, 'the passwords do not match')
  }
  checkPasswordLength(next)
  return next
}

/** The key alone on stdout (a script can keep it), the advice on stderr. */
/**
 * Signs up; with a tracker that verifies emails, asks for the mailed code on a terminal, or (no terminal, or
 * `--code` to finish an earlier run) says how to finish. Undefined: the code was sent and the run is done.
 */
async function signup(io: CliIo, credentials: Credentials, code: string | undefined): Promise<ShoalClient | undefined> {
  if (code !== undefined) return ShoalClient.confirmSignup(credentials, code)
  const interactive = io.stdin.isTTY === true
  try {
    return await ShoalClient.signup({
      ...credentials,
      ...(interactive
        ? { code: (pending) => prompt(io, `Code mailed to ${pending.email} (valid for ${minutesLeft(pending)} min): `) }
        : {})
    })
  } catch (err) {
    if (!isShoalError(err, ErrorCode.VERIFICATION_REQUIRED)) throw err
    const details = err.details as { email?: string; expiresAt?: number } | undefined
    io.stderr.write(
      `A code was mailed to ${details?.email ?? credentials.email}. Finish the sign-up within ` +
        `${minutesLeft({ expiresAt: details?.expiresAt ?? Date.now() })} min: shoal signup --code CODE ` +
        '(with the same email and password)\n'
    )
    return undefined
  }
}

function minutesLeft(pending: { expiresAt: number }): number {
  return Math.max(0, Math.round((pending.expiresAt - Date.now()) / 60_000))
}

function showRecoveryKey(io: CliIo, key: string): void {
  io.stderr.write(
    'Your recovery key resets a forgotten password ("shoal recover"). Write it down and keep it apart from this\n' +
      'device: it is shown only now, and nobody, not the service either, can recover your files without it or\n' +
      'your password.\n'
  )
  io.stdout.write(`${key}\n`)
}

async function signedIn(dir: string, tracker: string | undefined): Promise<ShoalClient> {
  const saved: SavedSession | undefined = await loadSession(dir)
  if (saved === undefined)
    throw new ShoalError(ErrorCode.UNAUTHORIZED, 'not logged in: run "shoal signup" or "shoal login"')
  if (tracker !== undefined && tracker.replace(/\/+$/, '') !== saved.tracker) {
    throw new ShoalError(
      ErrorCode.UNAUTHORIZED,
      `logged in to ${saved.tracker}, not ${tracker}: run "shoal login" again`
    )
  }
  return ShoalClient.resume(saved, { nodeRates: await loadNodeRates(dir) })
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false
  )
}
