import { type ObjectEntry, type ShoalClient, shareLinkFragment } from '@shoal/client'
import type { ShareView } from '@shoal/core'
import { type FormEvent, useCallback, useEffect, useState } from 'react'
import { Dialog, DialogActions, FormError } from './dialog.tsx'
import { explain } from './drive.ts'
import { formatDate } from './format.ts'
import { Icon } from './icons.tsx'
import { ShareLinkResult, shareLink } from './share-dialog.tsx'

function status(share: ShareView): { text: string; live: boolean } {
  if (share.revokedAt !== undefined) return { text: 'Revoked', live: false }
  if (share.removedAt !== undefined) return { text: 'Removed by the operator', live: false }
  if (share.expiresAt !== undefined && share.expiresAt <= Date.now()) return { text: 'Expired', live: false }
  if (share.expiresAt !== undefined) return { text: `Until ${formatDate(share.expiresAt)}`, live: true }
  return { text: 'Active', live: true }
}

export function SharesView({
  client,
  entries,
  version,
  onError
}: {
  client: ShoalClient
  entries: readonly ObjectEntry[]
  version: number
  onError: (text: string) => void
}) {
  const [shares, setShares] = useState<ShareView[]>()
  const [shown, setShown] = useState<{ name: string; link: string }>()
  const [editing, setEditing] = useState<ShareView>()
  const load = useCallback(async () => {
    try {
      setShares(await client.listShares())
    } catch (err) {
      onError(explain(err))
    }
  }, [client, onError])
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` reloads after a share is created elsewhere
  useEffect(() => {
    void load()
  }, [load, version])

  const names = new Map(entries.map((e) => [e.id, e.name]))
  const revoke = async (share: ShareView) => {
    try {
      await client.revokeShare(share.id)
      await load()
    } catch (err) {
      onError(explain(err))
    }
  }

  const showLink = async (share: ShareView, name: string) => {
    try {
      setShown({ name, link: shareLink(share.id, await shareLinkFragment(client, name)) })
    } catch (err) {
      onError(explain(err))
    }
  }

  if (shares === undefined) return <div className="empty">Loading your links…</div>
  if (shares.length === 0) {
    return (
      <div className="empty">
        <div className="empty-icon">
          <Icon name="link" size={40} />
        </div>
        <h2>No shared links</h2>
        <p>Share a file from My files to get a link anyone can open, with an optional password and expiry.</p>
      </div>
    )
  }
  return (
    <>
      <table className="files">
        <thead>
          <tr>
            <th>File</th>
            <th>Created</th>
            <th>Status</th>
            <th className="num">Downloads</th>
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {shares.map((share) => {
            const s = status(share)
            const name = names.get(share.objectId)
            return (
              <tr key={share.id} data-share={share.id} data-status={s.text}>
                <td className="name">
                  <span>
                    <Icon name={share.passwordProtected ? 'lock' : 'link'} className="file-icon" />
                    {name === undefined ? <em>Deleted file</em> : name.replace(/^\.trash\/[^/]+\//, '')}
                  </span>
                </td>
                <td>{formatDate(share.createdAt)}</td>
                <td>
                  <span className={`badge ${s.live ? 'live' : ''}`}>{s.text}</span>
                </td>
                <td className="num" data-testid="share-downloads">
                  {share.downloads ?? 0}
                </td>
                <td className="actions">
                  <span className="row-actions">
                    {s.live && name !== undefined && !share.passwordProtected && (
                      <button
                        type="button"
                        className="button small"
                        aria-label={`Copy link to ${name.replace(/^\.trash\/[^/]+\//, '')}`}
                        onClick={() => void showLink(share, name)}
                      >
                        <Icon name="copy" size={16} /> Copy link
                      </button>
                    )}
                    {s.live && share.passwordProtected && (
                      <span className="muted fineprint" title="Its key is sealed under the password, which is not kept">
                        Password link: share again to get a new one
                      </span>
                    )}
                    {share.revokedAt === undefined && (
                      <button type="button" className="button small" onClick={() => setEditing(share)}>
                        Expiry…
                      </button>
                    )}
                    {s.live && (
                      <button type="button" className="button danger small" onClick={() => void revoke(share)}>
                        Revoke
                      </button>
                    )}
                  </span>
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
      {editing !== undefined && (
        <ExpiryDialog
          share={editing}
          onSave={async (expiresAt) => {
            await client.setShareExpiry(editing.id, expiresAt)
            setEditing(undefined)
            await load()
          }}
          onClose={() => setEditing(undefined)}
        />
      )}
      {shown !== undefined && (
        <Dialog
          title={`Link to “${shown.name.slice(shown.name.lastIndexOf('/') + 1)}”`}
          onClose={() => setShown(undefined)}
        >
          <ShareLinkResult link={shown.link} password={false} onClose={() => setShown(undefined)} />
        </Dialog>
      )}
    </>
  )
}

/** A date input (the link works through that day, local time) or "never expires". */
function ExpiryDialog({
  share,
  onSave,
  onClose
}: {
  share: ShareView
  onSave: (expiresAt: number | null) => Promise<void>
  onClose: () => void
}) {
  const initial = share.expiresAt === undefined ? '' : localDate(share.expiresAt)
  const [date, setDate] = useState(initial)
  const [never, setNever] = useState(share.expiresAt === undefined)
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    let expiresAt: number | null = null
    if (!never) {
      const [y, m, d] = date.split('-').map(Number)
      if (y === undefined || m === undefined || d === undefined || Number.isNaN(y + m + d)) {
        return setError('Pick a date, or "Never expires".')
      }
      expiresAt = new Date(y, m - 1, d, 23, 59, 59, 999).getTime()
      if (expiresAt <= Date.now()) return setError('Pick a date from today on.')
    }
    setBusy(true)
    try {
      await onSave(expiresAt)
    } catch (err) {
      setError(explain(err))
      setBusy(false)
    }
  }
  return (
    <Dialog title="Link expiry" onClose={onClose}>
      <form onSubmit={submit}>
        <label>
          Works through
          <input type="date" value={date} disabled={never} onChange={(e) => setDate(e.target.value)} />
        </label>
        <label className="check">
          <input type="checkbox" checked={never} onChange={(e) => setNever(e.target.checked)} />
          Never expires
        </label>
        <FormError error={error} />
        <DialogActions onCancel={onClose}>
          <button type="submit" className="button primary" disabled={busy}>
            Save
          </button>
        </DialogActions>
      </form>
    </Dialog>
  )
}

function localDate(ms: number): string {
  const d = new Date(ms)
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`
}
