// Sizes as people read them, in binary units (KiB = 1024 bytes): the CLI, the server and the web app all say KiB/MiB.

/** One decimal, none when whole: "512 B", "15.3 KiB", "2 MiB". */
export function formatBytes(n: number): string {
  const fmt = (v: number, digits: number) => (Number.isInteger(v) ? String(v) : v.toFixed(digits));
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${fmt(n / 1024, 1)} KiB`;
  if (n < 1024 ** 3) return `${fmt(n / 1024 ** 2, 1)} MiB`;
  return `${fmt(n / 1024 ** 3, 2)} GiB`;
}
