import type { Client } from '@elastic/elasticsearch';
import type { StoreLogger } from './options.ts';

/** What one `GET _cluster/health` said, or why it could not be asked. */
export type ClusterHealthReading =
  | { status: 'green' | 'yellow' | 'red'; nodes: number; unassignedShards: number }
  | { status: 'unreachable'; reason: string };

/**
 * Asks the cluster for its health every `intervalMs` (the `monitor` privilege the store needs anyway), so the
 * collector can say when it writes to a cluster that has lost copies of shards (yellow: a node is gone and its
 * replicas are not yet rebuilt; red: some primaries are missing) before that costs data or writes.
 */
export class ClusterHealthWatch {
  private latest: ClusterHealthReading | undefined;
  private timer: NodeJS.Timeout | undefined;
  private asking = false;

  constructor(
    private readonly client: Client,
    private readonly intervalMs: number,
    private readonly logger: StoreLogger,
  ) {}

  get reading(): ClusterHealthReading | undefined {
    return this.latest;
  }

  start(): void {
    if (this.timer) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A sentence for an operator when the cluster is not green, else undefined. */
  describe(): string | undefined {
    const reading = this.latest;
    if (!reading || reading.status === 'green') return undefined;
    if (reading.status === 'unreachable') return `Elasticsearch cluster health unknown: ${reading.reason}`;
    return (
      `Elasticsearch cluster is ${reading.status}: ${reading.unassignedShards} shard copies unassigned, ` +
      `${reading.nodes} nodes`
    );
  }

  private async poll(): Promise<void> {
    if (this.asking) return;
    this.asking = true;
    try {
      const health = await this.client.cluster.health(
        {},
        // A dead node in the client's list must not make the cluster look unreachable: try the others.
        { maxRetries: 2, requestTimeout: Math.max(this.intervalMs, 5_000) },
      );
      const status = String(health.status).toLowerCase();
      this.record({
        status: status === 'green' || status === 'yellow' ? status : 'red',
        nodes: health.number_of_nodes,
        unassignedShards: health.unassigned_shards,
      });
    } catch (error) {
      this.record({ status: 'unreachable', reason: (error as Error).message });
    } finally {
      this.asking = false;
    }
  }

  private record(reading: ClusterHealthReading): void {
    const before = this.latest?.status;
    this.latest = reading;
    if (before === reading.status) return;
    const fields = { cluster: reading };
    if (reading.status === 'green') {
      if (before !== undefined) this.logger.info(fields, 'Elasticsearch cluster health is green again');
    } else this.logger.warn(fields, `Elasticsearch cluster health: ${reading.status}`);
  }
}
