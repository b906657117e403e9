/**
 * Reading an undici response body with a size bound, shared by every HTTP client of the core
 * (the validate call, the revocation feed's audit and credential calls).
 */
import type { Dispatcher } from 'undici'

/**
 * The body as UTF-8 text, or `null` when it is larger than `maxBytes` (the body is then destroyed
 * and nothing more is read).
 */
export async function readBoundedText(
  body: Dispatcher.ResponseData['body'],
  maxBytes: number,
): Promise<string | null> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += (chunk as Buffer).length
    if (size > maxBytes) {
      body.destroy()
      return null
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}
