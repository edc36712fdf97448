import type { HostMetadata } from '../model/index.ts';

/**
 * Estimates of what CPU samples cost, the way Elastic's profiling app does it: samples ÷ sampling frequency
 * give core-seconds for the queried range; scaled to a year they give annual core-hours, which multiply a
 * per-core-hour price (cost) or per-core power × datacenter PUE × grid CO2 intensity (emissions). The default
 * factors are the published defaults of that app; all are configurable.
 */
export interface ImpactFactors {
  /** Agent sampling frequency in Hz (the agent's default is 20). */
  samplingFrequencyHz: number;
  costPerCoreHourUsd: number;
  co2TonsPerKwh: number;
  datacenterPue: number;
  wattsPerCoreX86: number;
  wattsPerCoreArm64: number;
  /**
   * Discounts (percent, 0–100) on the cost per core-hour for hosts that say they run on AWS or Azure
   * (`cloud.provider`), as with an AWS EDP or an Azure Enterprise Agreement. Other hosts pay the full price.
   */
  awsCostDiscountPercent: number;
  azureCostDiscountPercent: number;
}

export const DEFAULT_IMPACT_FACTORS: Readonly<ImpactFactors> = {
  samplingFrequencyHz: 20,
  costPerCoreHourUsd: 0.0425,
  co2TonsPerKwh: 0.000379069,
  datacenterPue: 1.7,
  wattsPerCoreX86: 7,
  wattsPerCoreArm64: 2.8,
  awsCostDiscountPercent: 0,
  azureCostDiscountPercent: 0,
};

const SECONDS_PER_HOUR = 3600;
const SECONDS_PER_YEAR = 365 * 24 * SECONDS_PER_HOUR;

/** Per-sample multipliers: a node's estimate is its sample count times these. */
export interface ImpactPerSample {
  cpuSeconds: number;
  annualCoreHours: number;
  annualCo2Tons: number;
  annualCostUsd: number;
}

function wattsPerCore(arch: string | undefined, factors: ImpactFactors): number {
  switch (arch?.toLowerCase()) {
    case 'arm64':
    case 'aarch64':
      return factors.wattsPerCoreArm64;
    default:
      // Unknown architectures are costed as x86, the more common and more expensive case.
      return factors.wattsPerCoreX86;
  }
}

/** What a host pays of the cost per core-hour after its cloud provider's discount. */
function costShare(host: HostMetadata, factors: ImpactFactors): number {
  switch (host.attributes['cloud.provider']?.toLowerCase()) {
    case 'aws':
      return 1 - factors.awsCostDiscountPercent / 100;
    case 'azure':
      return 1 - factors.azureCostDiscountPercent / 100;
    default:
      return 1;
  }
}

/**
 * The per-sample estimates for a range of `durationSeconds`. With hosts of several architectures the power
 * per core is the mean over the hosts seen (each host weighted equally): a per-host split would need the
 * counts per host, which doubles the store work for a figure that is an estimate anyway. Cloud discounts on
 * the cost are averaged over the hosts the same way.
 */
export function impactPerSample(
  durationSeconds: number,
  hosts: readonly HostMetadata[],
  factors: ImpactFactors = DEFAULT_IMPACT_FACTORS,
): ImpactPerSample {
  const duration = durationSeconds > 0 ? durationSeconds : 1;
  const cpuSeconds = 1 / factors.samplingFrequencyHz;
  const annualCoreHours = ((SECONDS_PER_YEAR / duration) * cpuSeconds) / SECONDS_PER_HOUR;
  const kilowatts =
    hosts.length === 0
      ? factors.wattsPerCoreX86 / 1000
      : hosts.reduce((sum, host) => sum + wattsPerCore(host.arch, factors), 0) / hosts.length / 1000;
  const costShareOfHosts =
    hosts.length === 0 ? 1 : hosts.reduce((sum, host) => sum + costShare(host, factors), 0) / hosts.length;
  return {
    cpuSeconds,
    annualCoreHours,
    annualCo2Tons: kilowatts * factors.co2TonsPerKwh * factors.datacenterPue * annualCoreHours,
    annualCostUsd: annualCoreHours * factors.costPerCoreHourUsd * costShareOfHosts,
  };
}
