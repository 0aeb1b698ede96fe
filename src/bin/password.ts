// --hash-password's input: on a terminal, a prompt on stderr and the characters read in raw
// mode, so the password is never echoed (asked twice, as passwd does); otherwise one line of
// stdin, so `echo … | safesphere-edge --hash-password` keeps working in scripts.

/** The password, or null when it was cancelled or the two entries differ (the reason is on stderr). */
export async function readPassword(input: NodeJS.ReadStream = process.stdin, err: NodeJS.WriteStream = process.stderr): Promise<string | null> {
  if (!input.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of input) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  // Raw mode (no echo) before the first prompt and until the last answer: a fast typist (or a
  // script on a pty) must never type into a moment where the terminal still echoes. One reader
  // for both answers, so keys typed ahead are kept for the second prompt.
  input.setRawMode(true);
  input.setEncoding('utf8');
  const lines: (string | null)[] = [];
  let value = '';
  let wake: (() => void) | null = null;
  const onData = (chunk: string) => {
    for (const ch of chunk) {
      if (ch === '\r' || ch === '\n') {
        lines.push(value);
        value = '';
      } else if (ch === '\u0003' || ch === '\u0004') lines.push(null); // Ctrl-C, Ctrl-D
      else if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
      else if (ch >= ' ') value += ch;
    }
    wake?.();
  };
  const ask = async (question: string): Promise<string | null> => {
    err.write(question);
    while (lines.length === 0) await new Promise<void>((r) => (wake = r));
    err.write('\n');
    return lines.shift()!;
  };
  input.on('data', onData);
  input.resume();
  let first: string | null;
  let second: string | null = null;
  try {
    first = await ask('Password: ');
    if (first !== null) second = await ask('Again: ');
  } finally {
    input.off('data', onData);
    input.setRawMode(false);
    input.pause();
  }
  if (first === null || second === null) return null;
  if (first !== second) {
    err.write('safesphere-edge: the two passwords differ\n');
    return null;
  }
  return first;
}
