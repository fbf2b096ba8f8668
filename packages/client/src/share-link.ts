import { AccountKeyring, formatShareFragment, fromBase64Url } from '@shoal/core'
import type { ShoalClient } from './shoal-client.ts'

/**
 * The fragment of an existing share link without a password (`k=<content key>`), made again from the file's
 * wrapped key, so its owner can copy a link they created earlier. The key never left this device and still
 * does not: the tracker only ever stored the share id. A password link cannot be made again (its key is sealed
 * under a password the owner did not keep here); create a new link instead.
 */
export async function shareLinkFragment(client: ShoalClient, name: string, options: { signal?: AbortSignal } = {}) {
  const keyring = await AccountKeyring.fromMasterKey(fromBase64Url(client.session().masterKey))
  const info = await client.stat(name, options)
  return formatShareFragment({ kind: 'key', key: await keyring.unwrapContentKey(info.wrappedKey) })
}
