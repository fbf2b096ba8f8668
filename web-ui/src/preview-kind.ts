import { isStreamable } from './media.ts'
import { isImage } from './thumbs.ts'

/**
 * What the viewer can show for a file, from its sealed MIME type (and, for text files uploaded without one,
 * its extension). Anything else gets a card with a Download button: opening a file never starts a download
 * by itself.
 */
export type PreviewKind = 'image' | 'media' | 'text' | 'pdf' | 'none'

/** Full images and PDFs are decrypted into memory; beyond this they are offered as a download. */
export const MAX_IN_MEMORY_PREVIEW = 64 * 1024 * 1024
/** A text preview shows the start of the file only. */
export const TEXT_PREVIEW_BYTES = 256 * 1024

const TEXT_EXTENSIONS =
  /\.(txt|md|markdown|csv|tsv|log|json|ya?ml|toml|ini|conf|cfg|xml|html?|css|js|mjs|ts|tsx|jsx|py|rb|go|rs|c|h|cpp|hpp|java|kt|sh|sql|srt|vtt|tex)$/i

export function previewKind(mime: string | undefined, name: string): PreviewKind {
  if (isImage(mime)) return 'image'
  if (isStreamable(mime)) return 'media'
  if (mime === 'application/pdf' || /\.pdf$/i.test(name)) return 'pdf'
  if (
    mime?.startsWith('text/') === true ||
    /^application\/(json|xml|x-yaml|yaml|javascript|x-sh|toml)$/.test(mime ?? '') ||
    TEXT_EXTENSIONS.test(name)
  ) {
    return 'text'
  }
  return 'none'
}
