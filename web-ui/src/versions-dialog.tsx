import type { ShoalClient, VersionEntry } from '@shoal/client'
import { useCallback, useEffect, useState } from 'react'
import { Dialog, FormError } from './dialog.tsx'
import { explain } from './drive.ts'
import { formatBytes, formatDate } from './format.ts'
import { IconButton } from './icons.tsx'

/**
 * A file's versions (docs/versions.md): the current one and the older ones the tracker keeps after overwrites,
 * each downloadable; restoring one makes it current and keeps the one it replaces, so nothing is lost.
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
  onRestored: () => void
  onClose: () => void
}) {
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

  const restore = async (version: VersionEntry) => {
    setBusy(version.id)
    setError(undefined)
    try {
      await client.restore(path, version.id)
      await load()
      onRestored()
    } catch (err) {
      setError(explain(err))
    } finally {
      setBusy(undefined)
    }
  }

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
                    ) : (
                      <IconButton
                        icon="restore"
                        title={busy === v.id ? 'Restoring…' : 'Restore this version'}
                        label={`Restore the version of ${formatDate(v.createdAt)}`}
                        onClick={() => void restore(v)}
                      />
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
