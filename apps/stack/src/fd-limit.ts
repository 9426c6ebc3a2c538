/**
 * `command args…` run through /bin/sh with the soft open-files limit raised to the hard one where the
 * system allows it (kept as it is where that fails): the usual soft 1,024 is too few for a service holding
 * many client connections (issue 17, finding 3). `exec` keeps the pid, signals and any IPC channel.
 */
export function withRaisedFdLimit(command: string, args: string[]): [string, string[]] {
  return ['/bin/sh', ['-c', 'ulimit -n "$(ulimit -H -n)" 2>/dev/null; exec "$@"', 'sh', command, ...args]];
}
