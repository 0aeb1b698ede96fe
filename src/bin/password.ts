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
  const first = await prompt(input, err, 'Password: ');
  if (first === null) return null;
  const second = await prompt(input, err, 'Again: ');
  if (second === null) return null;
  if (first !== second) {
    err.write('safesphere-edge: the two passwords differ\n');
    return null;
  }
  return first;
}

function prompt(input: NodeJS.ReadStream, err: NodeJS.WriteStream, question: string): Promise<string | null> {
  return new Promise((resolve) => {
    err.write(question);
    input.setRawMode(true);
    input.resume();
    input.setEncoding('utf8');
    let value = '';
    const done = (result: string | null) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      err.write('\n');
      resolve(result);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(value);
        if (ch === '\u0003' || ch === '\u0004') return done(null); // Ctrl-C, Ctrl-D
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}
