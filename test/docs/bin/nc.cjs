// A stand-in for OpenBSD netcat's `nc -N host port`, used by the README tests (test/docs/readme.ts)
// only where nc is not installed: a fresh machine has no netcat, and the README's line-protocol
// lines should still run as written rather than be skipped. What it does is what those lines need
// of nc: send stdin, shut the write side at its end (-N), print what the server says until it
// closes. Any other use is refused, so a README line that needs more of nc fails loudly.
'use strict';
const net = require('node:net');
const args = process.argv.slice(2);
if (args.length !== 3 || args[0] !== '-N' || !/^\d+$/.test(args[2])) {
  process.stderr.write(`nc (test stand-in): only \`nc -N host port\` is supported, not: nc ${args.join(' ')}\n`);
  process.exit(2);
}
const socket = net.connect({ host: args[1], port: Number(args[2]) });
socket.on('error', (err) => {
  process.stderr.write(`nc: connect to ${args[1]} port ${args[2]} failed: ${err.message}\n`);
  process.exit(1);
});
socket.on('connect', () => process.stdin.pipe(socket));
socket.pipe(process.stdout);
socket.on('close', () => process.exit(0));
