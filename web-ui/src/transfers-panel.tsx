import { useState, useSyncExternalStore } from 'react'
import { formatBytes, formatDuration, formatRate } from './format.ts'
import { Icon } from './icons.tsx'
import type { Transfer, Transfers } from './transfers.ts'

export function TransfersPanel({ transfers, onRetry }: { transfers: Transfers; onRetry?: (t: Transfer) => void }) {
  const list = useSyncExternalStore(transfers.subscribe, transfers.snapshot)
  const [collapsed, setCollapsed] = useState(false)
  if (list.length === 0) return null
  const active = list.filter((t) => t.state === 'running' || t.state === 'queued')
  const failed = list.filter((t) => t.state === 'failed').length
  const plural = (n: number) => `${n} transfer${n === 1 ? '' : 's'}`
  const title =
    active.length > 0
      ? `${plural(active.length)} in progress`
      : failed > 0
        ? `${plural(failed)} failed`
        : `${plural(list.length)} finished`
  return (
    <section className="transfers card" aria-label="Transfers">
      <header>
        <button type="button" className="transfers-title" onClick={() => setCollapsed(!collapsed)}>
          {title}
        </button>
        {active.length === 0 && (
          <button type="button" className="icon-button" title="Clear" onClick={() => transfers.clearFinished()}>
            <Icon name="x" size={16} />
          </button>
        )}
      </header>
      {!collapsed && (
        <ul>
          {list.map((t) => (
            <TransferRow key={t.id} t={t} onCancel={() => transfers.cancel(t.id)} onRetry={onRetry} />
          ))}
        </ul>
      )}
    </section>
  )
}

function TransferRow({
  t,
  onCancel,
  onRetry
}: {
  t: Transfer
  onCancel: () => void
  onRetry?: ((t: Transfer) => void) | undefined
}) {
  const pct = t.total === 0 ? (t.state === 'done' ? 100 : 0) : Math.min(100, (t.bytes / t.total) * 100)
  let status: string
  switch (t.state) {
    case 'queued':
      status = 'Waiting…'
      break
    case 'running':
      status =
        t.speed > 0 && t.remaining !== undefined
          ? `${formatBytes(t.bytes)} of ${formatBytes(t.total)} · ${formatRate(t.speed)} · ${formatDuration(t.remaining)} left`
          : `${formatBytes(t.bytes)} of ${formatBytes(t.total)} · starting…`
      break
    case 'done':
      // A transfer shorter than a second has no meaningful speed: show none rather than an absurd one.
      status = `${t.kind === 'upload' ? 'Uploaded' : 'Downloaded'} ${formatBytes(t.total)}${t.speed > 0 ? ` · ${formatRate(t.speed)}` : ''}`
      break
    case 'cancelled':
      status = 'Cancelled'
      break
    default:
      status = t.error ?? 'Failed'
  }
  return (
    <li className={`transfer ${t.state}`} data-state={t.state} data-kind={t.kind}>
      <Icon name={t.kind === 'upload' ? 'upload' : 'download'} size={16} className="transfer-kind" />
      <div className="transfer-body">
        <div className="transfer-name" title={t.name}>
          {t.name}
        </div>
        <div
          className="progress"
          role="progressbar"
          aria-valuenow={Math.round(pct)}
          aria-valuemin={0}
          aria-valuemax={100}
        >
          <div style={{ width: `${pct}%` }} />
        </div>
        <div className="transfer-status" title={t.state === 'failed' ? t.detail : undefined} data-detail={t.detail}>
          {status}
        </div>
        {t.note !== undefined && <div className="transfer-note">{t.note}</div>}
      </div>
      {(t.state === 'running' || t.state === 'queued') && (
        <button type="button" className="icon-button" title="Cancel" aria-label={`Cancel ${t.name}`} onClick={onCancel}>
          <Icon name="x" size={16} />
        </button>
      )}
      {t.state === 'failed' && onRetry !== undefined && t.kind === 'upload' && (
        <button
          type="button"
          className="icon-button"
          title="Retry"
          aria-label={`Retry ${t.name}`}
          onClick={() => onRetry(t)}
        >
          <Icon name="restore" size={16} />
        </button>
      )}
      {t.state === 'done' && <Icon name="check" size={16} className="transfer-done" />}
    </li>
  )
}
