/**
 * One series of Datadog's v1 series API (`POST /api/v1/series`), the unit every collector
 * produces and the forwarder ships.
 */
export interface Series {
  metric: string;
  /** `[[unix seconds, value]]`. */
  points: Array<[number, number]>;
  type: 'gauge' | 'count' | 'rate';
  /** Seconds the point covers (counts and rates). */
  interval?: number;
  host: string;
  tags: string[];
}

/** A `/api/v1/check_run` entry. */
export interface CheckRun {
  check: string;
  host_name: string;
  /** 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
  status: 0 | 1 | 2 | 3;
  timestamp: number;
  tags: string[];
  message?: string;
}
