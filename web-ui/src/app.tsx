import type { ShoalClient } from '@shoal/client'
import { useEffect, useState } from 'react'
import { AuthScreen } from './auth-screen.tsx'
import { resumeSession, signOut } from './drive.ts'
import { DriveScreen } from './drive-screen.tsx'
import { Logo } from './icons.tsx'
import { loadConfig, type UiConfig } from './runtime.ts'
import { prepareDownloads } from './save.ts'
import { SharePage } from './share-page.tsx'

export function App() {
  const [config, setConfig] = useState<UiConfig>()
  const [client, setClient] = useState<ShoalClient>()
  const [resuming, setResuming] = useState(true)
  const share = location.pathname.startsWith('/s/')

  useEffect(() => {
    void prepareDownloads()
    void loadConfig().then(async (c) => {
      setConfig(c)
      if (!share) {
        const resumed = await resumeSession(c.tracker)
        if (resumed !== undefined) setClient(resumed)
      }
      setResuming(false)
    })
  }, [share])

  if (config === undefined || resuming) {
    return (
      <div className="splash">
        <Logo size={40} />
      </div>
    )
  }
  if (share) return <SharePage tracker={config.tracker} />
  if (client === undefined) return <AuthScreen tracker={config.tracker} onSignedIn={setClient} />
  return (
    <DriveScreen
      client={client}
      onSignOut={async () => {
        await signOut(client)
        setClient(undefined)
      }}
    />
  )
}
