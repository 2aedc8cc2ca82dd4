// What processes cost, read from /proc (Linux): CPU time and context switches (each a wake-up or
// a preemption) of a process and all its threads and descendants. Latency on a shared 2-core VM
// swings from run to run; these counts per request move much less, so the bench prints them too.

/** CPU time and context switches, summed over processes and their threads. */
export interface ProcStats {
  cpuMs: number;
  switches: number;
}

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const TICKS_PER_S = 100;

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null; // The process or thread has gone.
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces). */
function statFields(path: string): string[] | null {
  const stat = readText(path);
  return stat === null ? null : stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** `pid` and every process below it (a `deno task` wrapper's real process, say). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const ppid = Number(statFields(`/proc/${entry.name}/stat`)?.[1]);
    if (Number.isFinite(ppid)) children.set(ppid, [...(children.get(ppid) ?? []), Number(entry.name)]);
  }
  const tree: number[] = [];
  const walk = (p: number) => {
    tree.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return tree;
}

/** CPU time and context switches so far of `pids` (all their threads). */
export function readProcStats(pids: number[]): ProcStats {
  let ticks = 0;
  let switches = 0;
  for (const pid of pids) {
    const f = statFields(`/proc/${pid}/stat`);
    if (!f) continue;
    ticks += Number(f[11]) + Number(f[12]); // utime + stime, all threads
    let tasks: Deno.DirEntry[] = [];
    try {
      tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
    } catch { /* gone */ }
    for (const t of tasks) {
      const status = readText(`/proc/${pid}/task/${t.name}/status`) ?? "";
      for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) {
        switches += Number(m[1]);
      }
    }
  }
  return { cpuMs: (ticks * 1000) / TICKS_PER_S, switches };
}

/** What `pids` cost between two readings, per request. */
export function perRequest(before: ProcStats, after: ProcStats, requests: number): ProcStats {
  return {
    cpuMs: (after.cpuMs - before.cpuMs) / requests,
    switches: (after.switches - before.switches) / requests,
  };
}
