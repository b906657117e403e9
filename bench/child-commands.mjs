/**
 * The child side of the bench's parent ↔ child IPC: answer `{ id, cmd, args }` messages with
 * `commands[cmd](args)`, exit when the parent goes away, and say ready.
 * @param {Record<string, (args: any) => unknown>} commands
 */
export function serveCommands(commands) {
  process.on('message', async ({ id, cmd, args }) => {
    try {
      process.send({ id, result: await commands[cmd](args ?? {}) })
    } catch (err) {
      process.send({ id, error: String(err?.stack ?? err) })
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ ready: true })
}
