import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { describeError } from '@shoal/core'
import type { AbuseReport, ModerationAction } from './store/store.ts'

export const ADMIN_USAGE = `Usage: shoal-tracker admin COMMAND [ID] --tracker URL [--reason TEXT] [--json]

The operator's side of abuse reports, through the tracker's admin API (docs/deploy.md). Nothing here reads
content or needs a key: a takedown disables a share link, never the owner's own copy.

Commands:
  takedown SHARE --reason TEXT     disable a share link; visitors see "removed by the operator"
  restore SHARE --reason TEXT      bring a taken-down link back as it was
  suspend ACCOUNT --reason TEXT    no logins, API keys or share links for the account; nothing is deleted
  unsuspend ACCOUNT --reason TEXT  lift a suspension
  reports [--limit N]              visitors' reports, newest first
  log [--limit N]                  what the operators did, newest first

Options:
  --tracker URL          the tracker's base URL (env SHOAL_TRACKER)
  --admin-token-file F   file holding the operator's token (default: env SHOAL_ADMIN_TOKEN)
  --json                 print the API's answer as JSON
`

class AdminUsageError extends Error {}

const ACTIONS = ['takedown', 'restore', 'suspend', 'unsuspend'] as const
type Action = (typeof ACTIONS)[number]
/** The admin command's own options, as they may stand where an action's id is expected. */
const OPTION = /^(--(tracker|reason|limit|admin-token-file|json|help)(=.*)?|-h)$/

/** `shoal-tracker admin ...`: returns the exit code (0 done, 1 refused or failed, 2 usage). */
export async function runAdminCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (text: string) => void,
  err: (text: string) => void
): Promise<number> {
  let request: { method: string; path: string; body?: unknown }
  let tracker: string
  let token: string
  let json: boolean
  let command: string
  try {
    // An action's id is taken before parseArgs sees it: ids are base64url, so one in 64 starts with "-" and
    // strict parsing refused it as an unknown option (CI met it: a takedown failed as a usage error).
    // (Options written before the id still work: then the id is an ordinary positional.)
    const first = argv[1]
    const idFirst = (ACTIONS as readonly string[]).includes(argv[0] ?? '') && first !== undefined && !OPTION.test(first)
    const { values, positionals } = parseArgs({
      args: idFirst ? [argv[0] as string, ...argv.slice(2)] : argv,
      allowPositionals: true,
      strict: true,
      options: {
        tracker: { type: 'string' },
        reason: { type: 'string' },
        limit: { type: 'string' },
        'admin-token-file': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
    if (values.help === true) {
      out(ADMIN_USAGE)
      return 0
    }
    command = positionals[0] ?? ''
    tracker = values.tracker ?? env.SHOAL_TRACKER ?? ''
    if (tracker === '') throw new AdminUsageError('--tracker URL is required (or SHOAL_TRACKER)')
    token = readToken(values['admin-token-file'], env)
    json = values.json === true
    if ((ACTIONS as readonly string[]).includes(command)) {
      const id = idFirst ? first : positionals[1]
      if (id === undefined || positionals.length !== (idFirst ? 1 : 2)) {
        throw new AdminUsageError(`${command} needs one id`)
      }
      if (values.reason === undefined || values.reason.trim() === '') {
        throw new AdminUsageError(`${command} needs --reason TEXT: it is kept in the moderation log`)
      }
      const kind = command === 'takedown' || command === 'restore' ? 'shares' : 'accounts'
      request = {
        method: 'POST',
        path: `/v1/admin/${kind}/${encodeURIComponent(id)}/${command}`,
        body: { reason: values.reason }
      }
    } else if (command === 'reports' || command === 'log') {
      const limit = values.limit === undefined ? '' : `?limit=${encodeURIComponent(values.limit)}`
      request = { method: 'GET', path: `/v1/admin/${command}${limit}` }
    } else {
      throw new AdminUsageError(command === '' ? 'missing command' : `unknown admin command "${command}"`)
    }
  } catch (e) {
    err(`shoal-tracker admin: ${(e as Error).message} (see shoal-tracker admin --help)\n`)
    return 2
  }

  let status: number
  let body: unknown
  try {
    const response = await fetch(new URL(request.path, tracker), {
      method: request.method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' })
      },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      signal: AbortSignal.timeout(30_000)
    })
    status = response.status
    body = await response.json().catch(() => undefined)
  } catch (e) {
    err(`shoal-tracker admin: cannot reach ${tracker}: ${describeError(e)}\n`)
    return 1
  }
  if (status >= 400) {
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error
    const what = status === 404 && error?.code === 'ERR_NOT_FOUND' && /no route/.test(error.message ?? '')
    err(
      `shoal-tracker admin: ${
        what
          ? 'this tracker has no admin API: start it with --admin-token-file'
          : `${error?.code ?? `HTTP ${status}`}: ${error?.message ?? 'refused'}`
      }\n`
    )
    return 1
  }
  if (json) {
    out(`${JSON.stringify(body, null, 2)}\n`)
    return 0
  }
  out(`${describe(command as Action | 'reports' | 'log', body)}\n`)
  return 0
}

function readToken(file: string | undefined, env: NodeJS.ProcessEnv): string {
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8').trim()
    } catch (e) {
      throw new AdminUsageError(`--admin-token-file ${file}: ${(e as Error).message}`)
    }
  }
  const token = env.SHOAL_ADMIN_TOKEN?.trim() ?? ''
  if (token === '') throw new AdminUsageError('give the operator token: --admin-token-file FILE or SHOAL_ADMIN_TOKEN')
  return token
}

/** One line per result, for a person. */
function describe(command: Action | 'reports' | 'log', body: unknown): string {
  if (command === 'reports') {
    const reports = (body as { reports: AbuseReport[] }).reports
    if (reports.length === 0) return 'no reports'
    return reports
      .map((r) => `${new Date(r.at).toISOString()}  share ${r.shareId}  from ${r.from}  ${JSON.stringify(r.reason)}`)
      .join('\n')
  }
  if (command === 'log') {
    const actions = (body as { actions: ModerationAction[] }).actions
    if (actions.length === 0) return 'nothing done yet'
    return actions
      .map((a) => `${new Date(a.at).toISOString()}  ${a.action} ${a.target}  by ${a.by}  ${JSON.stringify(a.reason)}`)
      .join('\n')
  }
  const result = body as { changed: boolean; target: string }
  const past = { takedown: 'taken down', restore: 'restored', suspend: 'suspended', unsuspend: 'unsuspended' }[command]
  return result.changed ? `${result.target}: ${past}` : `${result.target}: already ${past}, nothing changed`
}
