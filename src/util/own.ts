/**
 * A copy of `s` that does not keep alive the string it was sliced from. V8 keeps a slice of
 * a long string as a pointer into it, so a channel name the tracker keeps from an AMI frame
 * would pin the whole socket read it came in (up to 64 KiB per open call). Short strings are
 * copied by V8 anyway. Use it for what outlives the frame: ids, names, numbers, variables.
 */
export function own(s: string): string;
export function own(s: string | null): string | null;
export function own(s: string | null): string | null {
  // concatenation makes a new flat string once it is sliced; the slice then points into that
  return s === null || s.length < 13 ? s : (' ' + s).slice(1);
}
