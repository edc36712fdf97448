/** CPU time and memory of a process, read from /proc while it runs. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const clockTicksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
}

export function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return kib ? Number(kib[1]) * 1024 : 0;
}

export interface ResourceUse {
  cpuSeconds: number;
  wallSeconds: number;
  /** Average share of one core over the window. */
  cpuCores: number;
  maxRssBytes: number;
  lastRssBytes: number;
}

/** Samples a process's CPU and RSS until stopped. */
export class ResourceMonitor {
  private readonly startCpu: number;
  private readonly startWall = Date.now();
  private maxRss = 0;
  private lastRss = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.startCpu = cpuSeconds(pid);
    this.sample();
    this.timer = setInterval(() => this.sample(), 500);
  }

  private sample(): void {
    try {
      this.lastRss = residentBytes(this.pid);
      this.maxRss = Math.max(this.maxRss, this.lastRss);
    } catch {
      // The process ended; keep what was measured.
    }
  }

  stop(): ResourceUse {
    clearInterval(this.timer);
    this.sample();
    const cpu = cpuSeconds(this.pid) - this.startCpu;
    const wall = (Date.now() - this.startWall) / 1000;
    return {
      cpuSeconds: cpu,
      wallSeconds: wall,
      cpuCores: cpu / wall,
      maxRssBytes: this.maxRss,
      lastRssBytes: this.lastRss,
    };
  }
}
