// Conformance check of the rctest simulator with Rocket.Chat's own DDP client
// (@rocket.chat/ddp-client). Driven by rocketchat/rctest/conformance_test.go, which passes:
//   RC_URL        simulator base URL (http://127.0.0.1:port)
//   RC_UID        the user this client logs in as, RC_TOKEN its resume token
//   RC_ROOM       a private room the user is a member of
//   RC_OTHER_UID  another user's id, RC_OTHER_TOKEN its token (posts the message over REST)
// Prints one line per check and exits 0 only if all pass.
'use strict';
globalThis.WebSocket = globalThis.WebSocket || require('ws');
const { DDPSDK } = require('@rocket.chat/ddp-client');

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};
const url = env('RC_URL');
const uid = env('RC_UID');
const token = env('RC_TOKEN');
const rid = env('RC_ROOM');
const otherUid = env('RC_OTHER_UID');
const otherToken = env('RC_OTHER_TOKEN');

const ok = (what) => console.log(`ok   ${what}`);
const check = (cond, what, got) => {
  if (!cond) throw new Error(`FAIL ${what}: got ${JSON.stringify(got)}`);
  ok(what);
};
// waitFor resolves with the first value pushed to the named waiter that satisfies pred.
const waiters = {};
const push = (name, value) => (waiters[name] ||= []).forEach((w) => w(value));
const waitFor = (name, pred, ms = 5000) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`FAIL timed out waiting for ${name}`)), ms);
  (waiters[name] ||= []).push((v) => {
    if (pred(v)) { clearTimeout(t); resolve(v); }
  });
});

async function main() {
  // A bad token is rejected with the raw DDP error object.
  const bad = await DDPSDK.createAndConnect(url);
  try {
    await bad.account.loginWithToken('not-a-token');
    throw new Error('FAIL loginWithToken accepted a bogus token');
  } catch (e) {
    check(e && e.error === 403 && e.errorType === 'Meteor.Error', 'loginWithToken(bogus) rejects with error 403', e);
  } finally {
    bad.connection.close();
  }

  const sdk = await DDPSDK.createAndConnect(url);
  ok('createAndConnect');
  const res = await sdk.account.loginWithToken(token);
  check(res.id === uid && res.token === token && res.type === 'resume', 'loginWithToken result', res);
  check(res.tokenExpires && typeof res.tokenExpires.$date === 'number', 'tokenExpires is EJSON {$date}', res.tokenExpires);

  const streams = [
    sdk.stream('notify-user', `${uid}/subscriptions-changed`, (action, sub) => push('subs', { action, sub })),
    sdk.stream('notify-user', `${uid}/rooms-changed`, (action, room) => push('rooms', { action, room })),
    sdk.stream('room-messages', rid, (msg) => push('room', msg)),
    sdk.stream('room-messages', '__my_messages__', (msg, info) => push('my', { msg, info })),
  ];
  await Promise.all(streams.map((s) => s.ready()));
  ok('notify-user and room-messages subscriptions ready');

  const theirs = sdk.stream('notify-user', `${otherUid}/subscriptions-changed`, () => {
    throw new Error('FAIL event on another user\'s stream');
  });
  try {
    await theirs.ready();
    throw new Error('FAIL another user\'s stream became ready');
  } catch (e) {
    check(e && e.error === 'not-allowed', 'nosub not-allowed for another user\'s notify-user stream', e);
  }

  const mid = `conformance-${Date.now()}`;
  const gotRoom = waitFor('room', (m) => m._id === mid);
  const gotMy = waitFor('my', (x) => x.msg._id === mid);
  // A group message that names nobody sets alert but leaves unread alone: Unread_Count
  // defaults to user_and_group_mentions_only (apps/meteor/app/lib/server/lib/notifyUsersOnMessage.ts).
  const gotSub = waitFor('subs', (x) => x.action === 'updated' && x.sub.rid === rid && x.sub.alert === true);
  const gotRooms = waitFor('rooms', (x) => x.action === 'updated' && x.room._id === rid && x.room.lastMessage && x.room.lastMessage._id === mid);
  const post = await fetch(`${url}/api/v1/chat.sendMessage`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-User-Id': otherUid, 'X-Auth-Token': otherToken },
    body: JSON.stringify({ message: { _id: mid, rid, msg: 'hello from the conformance test' } }),
  });
  check(post.status === 200, 'chat.sendMessage by the other user', post.status);

  const msg = await gotRoom;
  check(msg.msg === 'hello from the conformance test' && msg.u._id === otherUid && typeof msg.ts.$date === 'number',
    'stream-room-messages delivered the message with EJSON ts', msg);
  const my = await gotMy;
  check(my.info && my.info.roomParticipant === true && my.info.roomType === 'p', '__my_messages__ carries {roomParticipant, roomType, roomName}', my.info);
  const sub = await gotSub;
  check(sub.sub.alert === true && sub.sub.unread === 0 && sub.sub.userMentions === 0,
    'subscriptions-changed updated with alert, unread 0 (no mention)', sub.sub);
  await gotRooms;
  ok('rooms-changed updated with lastMessage');

  const me = await sdk.rest.get('/v1/me');
  check(me._id === uid && me.success === true, 'REST /v1/me through the SDK rest client', me);

  theirs.stop();
  streams.forEach((s) => s.stop());
  sdk.connection.close();
  console.log('PASS');
}

main().then(() => process.exit(0), (e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
