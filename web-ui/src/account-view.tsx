import type { ShoalClient } from '@shoal/client'
import {
  type AccountView as Account,
  ErrorCode,
  errorFromCode,
  formatMicros,
  gibMonths,
  type Invoice,
  planLabel,
  ShoalError,
  type UsageResponse
} from '@shoal/core'
import { useCallback, useEffect, useState } from 'react'
import { explain } from './drive.ts'
import { formatBytes, formatDate } from './format.ts'
import { SecurityCard } from './recovery-key.tsx'
import { VersionsCard } from './versions-card.tsx'

/** A plan as GET /v1/plans lists it (prices in integer micro-units). */
interface Plan {
  id: string
  name: string
  quota: number
  storageMicrosPerGiBMonth: number
  egressMicrosPerGiB: number
}

/**
 * The plan routes (GET /v1/plans, PUT /v1/account/plan) have no method on the SDK's TrackerClient yet, so they
 * are called here with the session's token, errors mapped back to typed Shoal errors as the SDK does.
 */
async function trackerCall<T>(client: ShoalClient, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${client.tracker.token ?? ''}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(`${client.tracker.url}${path}`, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body)
    })
  } catch (cause) {
    // Network failures and CORS refusals look the same from here.
    throw new ShoalError(ErrorCode.TRACKER_UNREACHABLE, `cannot reach the tracker at ${client.tracker.url}`, { cause })
  }
  const json = (await response.json().catch(() => undefined)) as
    | { error?: { code?: unknown; message?: unknown; details?: unknown } }
    | undefined
  if (!response.ok) throw errorFromCode(json?.error?.code, json?.error?.message, json?.error?.details)
  return json as T
}

/** The last `n` billing periods ("YYYY-MM"), newest first. */
function recentPeriods(n: number): string[] {
  const now = new Date()
  return Array.from({ length: n }, (_, i) => {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1))
    return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`
  })
}

/** Plan, upgrade, usage by month and invoices: what `shoal usage` and `shoal invoice` show, in the browser. */
export function AccountPage({
  client,
  onChanged,
  onError
}: {
  client: ShoalClient
  onChanged: () => void
  onError: (text: string) => void
}) {
  const [account, setAccount] = useState<Account>()
  const [plans, setPlans] = useState<Plan[]>([])
  const [usage, setUsage] = useState<UsageResponse[]>([])
  const [invoices, setInvoices] = useState<Invoice[]>([])
  const [busy, setBusy] = useState<string>()

  const load = useCallback(async () => {
    try {
      const [a, p, i] = await Promise.all([
        client.usage(),
        trackerCall<{ plans: Plan[] }>(client, 'GET', '/v1/plans'),
        client.tracker.invoices().catch(() => ({ invoices: [] as Invoice[] }))
      ])
      setAccount(a)
      setPlans(p.plans)
      setInvoices(i.invoices)
      // Metering is optional on a tracker; months it cannot answer are left out.
      const months = await Promise.all(recentPeriods(3).map((m) => client.tracker.usage(m).catch(() => undefined)))
      setUsage(months.filter((m): m is UsageResponse => m !== undefined))
    } catch (err) {
      onError(explain(err))
    }
  }, [client, onError])

  useEffect(() => {
    void load()
  }, [load])

  const change = async (plan: Plan) => {
    setBusy(plan.id)
    try {
      await trackerCall(client, 'PUT', '/v1/account/plan', { plan: plan.id })
      await load()
      onChanged()
    } catch (err) {
      onError(explain(err))
    } finally {
      setBusy(undefined)
    }
  }

  if (account === undefined) return <div className="empty">Loading your account…</div>
  const current = account.plan ?? 'free'
  return (
    <div className="account-page">
      <section className="card account-card" aria-label="Plan">
        <h2>Plan</h2>
        <p data-testid="account-summary">
          {account.email} · <strong>{plans.find((p) => p.id === current)?.name ?? current}</strong> plan ·{' '}
          {formatBytes(account.used)} of {formatBytes(account.quota)} used
        </p>
        <div className="plans">
          {plans.map((p) => (
            <div key={p.id} className={`plan ${p.id === current ? 'current' : ''}`} data-plan={p.id}>
              <h3>{p.name}</h3>
              <p className="plan-quota">{formatBytes(p.quota)}</p>
              <p className="muted">
                {p.storageMicrosPerGiBMonth === 0 && p.egressMicrosPerGiB === 0
                  ? 'Free'
                  : `${formatMicros(p.storageMicrosPerGiBMonth)} per GiB-month stored · ${formatMicros(p.egressMicrosPerGiB)} per GiB downloaded`}
              </p>
              <p className="muted">Never throttled: every plan gets full speed.</p>
              {p.id === current ? (
                <span className="badge live">Current plan</span>
              ) : (
                <button
                  type="button"
                  className={`button small ${p.quota > account.quota ? 'primary' : ''}`}
                  disabled={busy !== undefined}
                  onClick={() => void change(p)}
                >
                  {busy === p.id ? 'Changing…' : `${p.quota > account.quota ? 'Upgrade' : 'Switch'} to ${p.name}`}
                </button>
              )}
            </div>
          ))}
        </div>
      </section>
      <section className="card account-card" aria-label="Usage">
        <h2>Usage</h2>
        {usage.length === 0 ? (
          <p className="muted">This tracker does not meter usage.</p>
        ) : (
          <table className="plain">
            <thead>
              <tr>
                <th>Month</th>
                <th>Plan</th>
                <th className="num">Stored (GiB-months)</th>
                <th className="num">Downloaded</th>
                <th className="num">Charges</th>
              </tr>
            </thead>
            <tbody>
              {usage.map((u) => (
                <tr key={u.period} data-period={u.period}>
                  <td>{u.period}</td>
                  <td>{planLabel(u)}</td>
                  <td className="num">{gibMonths(u.storageByteMs)}</td>
                  <td className="num">{formatBytes(u.egressBytes)}</td>
                  <td className="num">{formatMicros(u.totalMicros)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <p className="fineprint">Downloads count once the storage nodes have settled them, a few minutes later.</p>
      </section>
      <VersionsCard client={client} />
      <SecurityCard client={client} recovery={account.recovery === true} />
      <section className="card account-card" aria-label="Invoices">
        <h2>Invoices</h2>
        {invoices.length === 0 ? (
          <p className="muted" data-testid="no-invoices">
            No invoices yet: the first is issued after your first month.
          </p>
        ) : (
          <table className="plain">
            <thead>
              <tr>
                <th>Period</th>
                <th>Plan</th>
                <th>Issued</th>
                <th className="num">Total</th>
              </tr>
            </thead>
            <tbody>
              {invoices.map((i) => (
                <tr key={i.period}>
                  <td>{i.period}</td>
                  <td>{planLabel(i)}</td>
                  <td>{formatDate(i.issuedAt)}</td>
                  <td className="num">{formatMicros(i.totalMicros)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  )
}
