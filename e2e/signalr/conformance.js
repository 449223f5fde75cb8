// Conformance of the push hub with the official @microsoft/signalr client (and its
// MessagePack protocol), for every transport and protocol pair the transport allows.
// Usage: node conformance.js <base URL of the test server>
// The server under test serves the hub at /signalr and test controls at /ctl/*.
'use strict';
const signalR = require('@microsoft/signalr');
const { MessagePackHubProtocol } = require('@microsoft/signalr-protocol-msgpack');

const base = process.argv[2];
const T = signalR.HttpTransportType;
const cases = [
  { name: 'WebSockets/json', transport: T.WebSockets, msgpack: false },
  { name: 'WebSockets/messagepack', transport: T.WebSockets, msgpack: true },
  { name: 'ServerSentEvents/json', transport: T.ServerSentEvents, msgpack: false },
  { name: 'LongPolling/json', transport: T.LongPolling, msgpack: false },
  { name: 'LongPolling/messagepack', transport: T.LongPolling, msgpack: true },
  { name: 'WebSockets/json skipNegotiation', transport: T.WebSockets, msgpack: false, skip: true },
  { name: 'WebSockets/messagepack skipNegotiation', transport: T.WebSockets, msgpack: true, skip: true },
];

let passed = 0;
let failed = 0;
function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}
function within(ms, promise, what) {
  return Promise.race([promise, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout: ' + what)), ms))]);
}
async function ctl(path) {
  const r = await fetch(base + '/ctl/' + path, { method: 'POST' });
  check(r.ok, 'control ' + path + ' answered ' + r.status);
}
function build(c, token) {
  const b = new signalR.HubConnectionBuilder()
    .withUrl(base + '/signalr', { accessTokenFactory: () => token, transport: c.transport, skipNegotiation: !!c.skip })
    .withAutomaticReconnect([0, 50, 100, 200, 400])
    .configureLogging(signalR.LogLevel.None);
  if (c.msgpack) b.withHubProtocol(new MessagePackHubProtocol());
  return b.build();
}

// collectPushes records the seq of every 'push' the connection receives; waitFor(n)
// resolves once n have arrived.
function collectPushes(conn) {
  const got = [];
  let waiter = null;
  conn.on('push', (arg) => {
    got.push(arg.seq);
    if (waiter && got.length >= waiter.n) waiter.resolve();
  });
  const waitFor = (n) => new Promise((resolve) => {
    if (got.length >= n) return resolve();
    waiter = { n, resolve };
  });
  return { got, waitFor };
}

async function runCase(c, i) {
  const user = 'u' + i;
  const conn = build(c, 'tok-' + user);
  const { got, waitFor } = collectPushes(conn);
  await within(10000, conn.start(), 'start');
  if (c.skip) check(conn.connectionId === null, 'no connectionId without negotiate');
  else check(/^[A-Za-z0-9_-]{22}$/.test(conn.connectionId), 'connectionId ' + conn.connectionId);

  // 500 pushes, in order.
  await ctl(`push?user=${user}&n=500&from=0`);
  await within(20000, waitFor(500), '500 pushes');
  for (let k = 0; k < 500; k++) check(got[k] === k, `push ${k} in order (got ${got[k]})`);

  // A server method and its result.
  check((await within(5000, conn.invoke('add', 2, 3), 'invoke')) === 5, 'add(2,3) = 5');
  let invokeErr = null;
  try { await within(5000, conn.invoke('nope'), 'invoke unknown'); } catch (e) { invokeErr = String(e); }
  check(/Unknown hub method 'nope'/.test(invokeErr), 'unknown method rejects: ' + invokeErr);
  await within(5000, conn.send('add', 1, 1), 'send (non-blocking)');

  // The server drops the transport (Close allowReconnect:true): the client reconnects.
  const reconnected = new Promise((resolve) => conn.onreconnected(resolve));
  await ctl(`kick?user=${user}&reconnect=true`);
  await within(10000, reconnected, 'automatic reconnect');
  await ctl(`push?user=${user}&n=10&from=500`);
  await within(10000, waitFor(510), 'pushes after reconnect');
  check(got[509] === 509, 'push after reconnect');

  // The server drops the transport without any Close message: the client reconnects too.
  const reconnected2 = new Promise((resolve) => conn.onreconnected(resolve));
  await ctl(`abort?user=${user}`);
  await within(10000, reconnected2, 'automatic reconnect after a transport drop');
  await ctl(`push?user=${user}&n=10&from=510`);
  await within(10000, waitFor(520), 'pushes after the second reconnect');
  for (let k = 500; k < 520; k++) check(got[k] === k, `push ${k} after reconnects (got ${got[k]})`);

  // Close with allowReconnect:false stops the client for good.
  let reconnecting = false;
  conn.onreconnecting(() => { reconnecting = true; });
  const closed = new Promise((resolve) => conn.onclose(resolve));
  await ctl(`kick?user=${user}&reconnect=false`);
  const err = await within(10000, closed, 'final close');
  check(!reconnecting, 'no reconnect after a final Close');
  check(conn.state === signalR.HubConnectionState.Disconnected, 'disconnected');
  check(err && /Kicked for the test/.test(String(err)), 'close error carries the reason: ' + err);

  // A bad token makes start() reject.
  const bad = build(c, 'bad-token');
  let rejected = false;
  try {
    await within(10000, bad.start(), 'bad start');
  } catch (e) {
    rejected = !/timeout/.test(String(e));
  }
  check(rejected, 'start() with a bad token rejects');
}

// Stateful reconnect (WebSockets, hub protocol version 2): the server drops the socket
// without a close and pushes while it is down; the client resumes on the same connection
// and every push arrives once, in order.
async function runStateful(i, msgpack) {
  const user = 'u' + i;
  const b = new signalR.HubConnectionBuilder()
    .withUrl(base + '/signalr', { accessTokenFactory: () => 'tok-' + user, transport: T.WebSockets })
    .withStatefulReconnect()
    .configureLogging(signalR.LogLevel.None);
  if (msgpack) b.withHubProtocol(new MessagePackHubProtocol());
  const conn = b.build();
  const { got, waitFor } = collectPushes(conn);
  await within(10000, conn.start(), 'start');
  const id = conn.connectionId;
  await ctl(`push?user=${user}&n=20&from=0`);
  await within(10000, waitFor(20), 'first pushes');
  await ctl(`drop?user=${user}&n=30&from=20`);
  await within(15000, waitFor(50), 'pushes sent while the socket was down');
  check(got.length === 50, 'no duplicates: got ' + got.length);
  for (let k = 0; k < 50; k++) check(got[k] === k, `push ${k} in order (got ${got[k]})`);
  check(conn.connectionId === id, 'same connection after the resume');
  check((await within(5000, conn.invoke('add', 20, 22), 'invoke after resume')) === 42, 'invoke after resume');
  await conn.stop();
}

(async () => {
  for (const [k, msgpack] of [false, true].entries()) {
    const name = 'WebSockets/' + (msgpack ? 'messagepack' : 'json') + ' stateful reconnect';
    try {
      await runStateful(cases.length + k, msgpack);
      console.log('ok   ' + name);
      passed++;
    } catch (e) {
      console.log('FAIL ' + name + ': ' + (e && e.stack || e));
      failed++;
    }
  }
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    try {
      await runCase(c, i);
      console.log('ok   ' + c.name);
      passed++;
    } catch (e) {
      console.log('FAIL ' + c.name + ': ' + (e && e.stack || e));
      failed++;
    }
  }
  console.log(`signalr conformance: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})();
