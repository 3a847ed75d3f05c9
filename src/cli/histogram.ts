/**
 * Latencies for `wsx bench`, in fixed memory whatever the number of
 * samples: microsecond values in log-linear buckets (exact below 128 us,
 * then 64 buckets per power of two, so a percentile is within 1.6% of the
 * true value). The maximum is kept exactly.
 */

const LINEAR = 128;
const PER_OCTAVE = 64;
const OCTAVES = 32;

function bucketOf(us: number): number {
  if (us < LINEAR) return us;
  const exponent = 31 - Math.clz32(us); // >= 7
  const shift = exponent - 6;
  return LINEAR + (exponent - 7) * PER_OCTAVE + ((us >>> shift) - PER_OCTAVE);
}

/** The middle of a bucket's range, in microseconds. */
function valueOf(bucket: number): number {
  if (bucket < LINEAR) return bucket;
  const octave = Math.floor((bucket - LINEAR) / PER_OCTAVE);
  const shift = octave + 1;
  const low = (PER_OCTAVE + ((bucket - LINEAR) % PER_OCTAVE)) * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(LINEAR + OCTAVES * PER_OCTAVE);
  private total = 0;
  private sum = 0;
  private maxUs = 0;

  /** Record one latency in milliseconds. */
  record(ms: number): void {
    const us = Math.min(Math.max(Math.round(ms * 1000), 0), 2 ** 31 - 1);
    this.counts[bucketOf(us)]!++;
    this.total++;
    this.sum += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  get count(): number {
    return this.total;
  }

  /** The latency at or below which `p` percent of the samples lie, in ms (NaN without samples). */
  percentile(p: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let bucket = 0; bucket < this.counts.length; bucket++) {
      seen += this.counts[bucket]!;
      if (seen >= rank) return Math.min(valueOf(bucket), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }

  get max(): number {
    return this.total === 0 ? Number.NaN : this.maxUs / 1000;
  }

  get mean(): number {
    return this.total === 0 ? Number.NaN : this.sum / this.total / 1000;
  }
}
