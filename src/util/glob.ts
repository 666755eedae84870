/**
 * Shell-style globs for channel names (trunks) and phone numbers (webhook filters):
 * `*` matches any run of characters (including `/`), `?` exactly one; everything else is
 * literal and matching is case-sensitive. Path-oriented libraries (picomatch, minimatch)
 * stop `*` at `/`, which is wrong for channel names like `PJSIP/provider-0000001a`.
 */

function globToRegExpSource(pattern: string): string {
  let out = '';
  for (const ch of pattern) {
    if (ch === '*') out += '.*';
    else if (ch === '?') out += '.';
    else out += ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return out;
}

/** A predicate that is true when `s` matches any of `patterns` (false for an empty list). */
export function globMatcher(patterns: string[]): (s: string) => boolean {
  if (patterns.length === 0) return () => false;
  const re = new RegExp(`^(?:${patterns.map(globToRegExpSource).join('|')})$`, 's');
  return (s: string) => re.test(s);
}
