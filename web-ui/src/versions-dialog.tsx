import type { ShoalClient, VersionEntry } from '@shoal/client'
import { useCallback, useEffect, useState } from 'react'
import { Dialog, FormError } from './dialog.tsx'
import { explain } from './drive.ts'
import { formatBytes, formatDate } from './format.ts'
import { IconButton } from './icons.tsx'

/**
 * A file's versions (docs/versions.md): the current one and the older ones the tracker keeps after overwrites,
 * each downloadable; restoring one makes it current and keeps the one it replaces, so nothing is lost. An older
 * version can be deleted for good (asked again first): it stops counting toward storage at once.
 */
export function VersionsDialog({
  client,
  path,
  name,
  onDownload,
  onRestored,
  onClose
}: {
  client: ShoalClient
  path: string
  name: string
  onDownload: (version: VersionEntry) => void
  /** After a restore or a delete: the listing and usage change. */
  onRestored: () => void
  onClose: () => void
}) {
  const [confirming, setConfirming] = useState<string>()
  const [versions, setVersions] = useState<VersionEntry[]>()
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState<string>()

  const load = useCallback(async () => {
    try {
      setVersions(await client.versions(path))
    } catch (err) {
      setError(explain(err))
    }
  }, [client, path])

  useEffect(() => {
    void load()
  }, [load])

  /** Runs a change to one version, then lists again; a refusal stays on screen and changes nothing here. */
  const change = async (version: VersionEntry, run: () => Promise<unknown>) => {
    setBusy(version.id)
    setError(undefined)
    try {
      await run()
      await load()
      onRestored()
    } catch (err) {
      setError(explain(err))
    } finally {
      setBusy(undefined)
      setConfirming(undefined)
    }
  }
  const restore = (version: VersionEntry) => change(version, () => client.restore(path, version.id))
  const remove = (version: VersionEntry) => change(version, () => client.deleteVersion(path, version.id))

  return (
    <Dialog title={`Versions of “${name}”`} onClose={onClose}>
      <FormError error={error} />
      {versions === undefined ? (
        <p className="muted">Loading versions…</p>
      ) : (
        <>
          <table className="plain versions" data-testid="versions">
            <thead>
              <tr>
                <th>Saved</th>
                <th className="num">Size</th>
                <th />
                <th className="actions" aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v.id} data-version={v.id} data-current={v.current ? 'true' : 'false'}>
                  <td>{formatDate(v.createdAt)}</td>
                  <td className="num">{formatBytes(v.size)}</td>
                  <td>{v.current ? <span className="badge live">Current</span> : null}</td>
                  <td className="actions">
                    <IconButton
                      icon="download"
                      title="Download this version"
                      label={`Download the version of ${formatDate(v.createdAt)}`}
                      onClick={() => onDownload(v)}
                    />
                    {v.current ? (
                      <span className="icon-spacer" />
                    ) : confirming === v.id ? (
                      <span className="confirm-inline">
                        <button
                          type="button"
                          className="button danger small"
                          disabled={busy === v.id}
                          onClick={() => void remove(v)}
                        >
                          {busy === v.id ? 'Deleting…' : 'Delete for good'}
                        </button>
                        <button type="button" className="button small" onClick={() => setConfirming(undefined)}>
                          Keep
                        </button>
                      </span>
                    ) : (
                      <>
                        <IconButton
                          icon="restore"
                          title={busy === v.id ? 'Restoring…' : 'Restore this version'}
                          label={`Restore the version of ${formatDate(v.createdAt)}`}
                          onClick={() => void restore(v)}
                        />
                        <IconButton
                          icon="trash"
                          title="Delete this version for good"
                          label={`Delete the version of ${formatDate(v.createdAt)}`}
                          onClick={() => setConfirming(v.id)}
                        />
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="fineprint">
            {versions.length === 1
              ? 'No older versions yet: uploading a file with the same name keeps this one here.'
              : 'Older versions count toward your storage until your version policy (Account) removes them.'}
          </p>
        </>
      )}
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  )
}
