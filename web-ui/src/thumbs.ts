/**
 * Album thumbnails, made in this browser at upload: the image is decoded and scaled on the GPU/decoder thread
 * (createImageBitmap with a resize), encoded as a small JPEG and stored inside the file's sealed metadata, so the
 * album grid needs no download and the tracker sees only ciphertext.
 */
export const THUMB_EDGE = 320
/** Skip decoding huge files: the thumbnail is a nicety, never a reason to run out of memory. */
const MAX_SOURCE_BYTES = 64 * 1024 * 1024

export function isImage(mime: string | undefined): boolean {
  return mime !== undefined && /^image\/(jpeg|png|gif|webp|avif|bmp)$/.test(mime)
}

/** The thumbnail at upload: none for a file that is not an image, too big, or cannot be decoded here. */
export async function makeThumbnail(file: Blob): Promise<string | undefined> {
  if (!isImage(file.type) || file.size > MAX_SOURCE_BYTES) return undefined
  try {
    return await renderThumbnail(file)
  } catch {
    return undefined
  }
}

/** Decodes, scales and encodes `file` (base64 JPEG); throws when the browser cannot. */
export async function renderThumbnail(file: Blob): Promise<string> {
  const probe = await createImageBitmap(file)
  const scale = Math.min(1, THUMB_EDGE / Math.max(probe.width, probe.height))
  const width = Math.max(1, Math.round(probe.width * scale))
  const height = Math.max(1, Math.round(probe.height * scale))
  probe.close()
  const bitmap = await createImageBitmap(file, { resizeWidth: width, resizeHeight: height, resizeQuality: 'high' })
  const canvas = new OffscreenCanvas(width, height)
  const context = canvas.getContext('2d')
  if (context === null) throw new Error('no 2D canvas in this browser')
  context.fillStyle = '#fff'
  context.fillRect(0, 0, width, height)
  context.drawImage(bitmap, 0, 0)
  bitmap.close()
  const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.78 })
  const bytes = new Uint8Array(await blob.arrayBuffer())
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

export function thumbUrl(thumb: string): string {
  return `data:image/jpeg;base64,${thumb}`
}
