import { type ObjectEntry, type ShoalClient, shareLinkFragment } from '@shoal/client'
import type { ShareView } from '@shoal/core'
import { useCallback, useEffect, useState } from 'react'
import { Dialog } from './dialog.tsx'
import { explain } from './drive.ts'
import { formatDate } from './format.ts'
import { Icon } from './icons.tsx'
import { ShareLinkResult, shareLink } from './share-dialog.tsx'

function status(share: ShareView): { text: string; live: boolean } {
  if (share.revokedAt !== undefined) return { text: 'Revoked', live: false }
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
