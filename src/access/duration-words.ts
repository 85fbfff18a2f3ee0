/**
 * A window of seconds in words, in the largest unit it is a whole number of, to follow "within
 * the last": "hour", "2 hours", "minute", "10 minutes", "90 seconds". Never rounded, so a message
 * reads as the setting was meant.
 */
export function durationWords(seconds: number): string {
  const hours = seconds / 3600;
  const minutes = seconds / 60;
  if (seconds > 0 && Number.isInteger(hours)) return hours === 1 ? 'hour' : `${hours} hours`;
  if (seconds > 0 && Number.isInteger(minutes)) {
    return minutes === 1 ? 'minute' : `${minutes} minutes`;
  }
  return seconds === 1 ? 'second' : `${seconds} seconds`;
}
