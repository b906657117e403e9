/**
 * Foreign load (Linux), shared by the bench scripts: the machine's user + nice + steal CPU time
 * (/proc/stat) minus the user time (/proc/<pid>/stat) of this process and the bench's own helper
 * processes, in cores. Kernel time is left out: the loopback traffic a bench generates is mostly
 * accounted there (softirq).
 */
import { existsSync, readFileSync } from 'node:fs'

/** Whether /proc/stat is there: without it there is no foreign-load figure. */
export const HAS_PROC = existsSync('/proc/stat')
const TICKS_PER_S = 100 // USER_HZ

function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).map(Number)
  // cpu user nice system idle iowait irq softirq steal
  return f[1] + f[2] + (f[8] || 0)
}
function pidTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[11]) // utime
  } catch {
    return 0 // gone
  }
}
function ourTicks(pids) {
  let n = pidTicks(process.pid)
  for (const pid of pids()) if (pid !== undefined) n += pidTicks(pid)
  return n
}

/**
 * Start measuring foreign load; the returned function gives the cores used by other processes
 * since. `pids` lists the bench's helper processes (children, a redis-server …), read at the start
 * and again at each reading. Without /proc the probe gives `unavailable`.
 * @param {() => Iterable<number | undefined>} pids
 * @param {number} [unavailable]
 * @returns {() => number}
 */
export function loadProbe(pids, unavailable = 0) {
  if (!HAS_PROC) return () => unavailable
  const m0 = machineTicks()
  const o0 = ourTicks(pids)
  const w0 = performance.now()
  return () =>
    Math.max(
      0,
      (machineTicks() - m0 - (ourTicks(pids) - o0)) / TICKS_PER_S / ((performance.now() - w0) / 1000),
    )
}
