/**
 * A number of seconds in the largest unit it is a whole number of (`3600` → "1 h", `600` →
 * "10 min", `90` → "90 s"), so a report reads as the setting was meant, without rounding it.
 */
export function friendlyDuration(seconds: number): string {
  if (seconds > 0 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds > 0 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
