import { Writable } from 'node:stream';

/**
 * A stream for a logger (createServerLogger's `stream`) that appends each line it is given to
 * `lines`, so a test can assert on every line a server logged — above all that no secret
 * reached one.
 */
export function logLinesSink(lines: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((line) => line !== ''),
      );
      done();
    },
  });
}
