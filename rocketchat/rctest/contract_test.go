package rctest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// The contract suite: one golden request and answer per REST endpoint the gateway uses
// (rocketchat/client.go, gateway/facade.go, gateway/rcrest.go), taken from Rocket.Chat's
// source and its Open-API description (RocketChat/Rocket.Chat-Open-API), never from our
// client, and run against every simulated release line. A case with exact set compares
// the whole body (error bodies); otherwise want is a subset of the answer.

// contractVersions are the release lines the simulator distinguishes.
var contractVersions = []string{"7.10.0", "8.0.1", "8.6.0", "8.8.1", "9.0.0"}

type contractCase struct {
	name     string
	source   string // the Rocket.Chat file (or Open-API file) the golden comes from
	versions func(major, minor int) bool
	as       string // username whose token calls
	method   string
	path     string // {var} placeholders from the world
	body     string
	status   int
	want     string
	exact    bool
}

// invalidParamsBody is the part of a legacy validateParams refusal that every release's
// schema gives alike; the AJV text is compared where only one schema form was found.
const invalidParamsBody = `{"success":false,"errorType":"invalid-params"}`

func all(int, int) bool         { return true }
func from8(major, _ int) bool   { return major >= 8 }
func before8(major, _ int) bool { return major < 8 }
func before9(major, _ int) bool { return major < 9 }
func from9(major, _ int) bool   { return major >= 9 }

var contractCases = []contractCase{
	// users.createToken (apps/meteor/server/api/v1/users.ts; Open-API user-management.yaml).
	{name: "createToken 8.x", source: "apps/meteor/server/api/v1/users.ts", versions: from8, as: "admin",
		method: "POST", path: "/api/v1/users.createToken", body: `{"userId":"{alice}","secret":"s3"}`,
		status: 200, want: `{"data":{"userId":"{alice}"},"success":true}`},
	{name: "createToken 8.x refuses a username", source: "packages/http-router/src/Router.ts", versions: from8, as: "admin",
		method: "POST", path: "/api/v1/users.createToken", body: `{"username":"alice","secret":"s3"}`,
		status: 400, exact: true, want: `{"success":false,"errorType":"invalid-params","error":"must have required property 'userId'"}`},
	{name: "createToken 8.x refuses extra keys", source: "packages/http-router/src/Router.ts", versions: from8, as: "admin",
		method: "POST", path: "/api/v1/users.createToken", body: `{"userId":"{alice}","secret":"s3","username":"alice"}`,
		status: 400, exact: true, want: `{"success":false,"errorType":"invalid-params","error":"must NOT have additional properties"}`},
	{name: "createToken 8.x needs a secret", source: "packages/http-router/src/Router.ts", versions: from8, as: "admin",
		method: "POST", path: "/api/v1/users.createToken", body: `{"userId":"{alice}"}`,
		status: 400, exact: true, want: `{"success":false,"errorType":"invalid-params","error":"must have required property 'secret'"}`},
	{name: "createToken 8.x wrong secret", source: "apps/meteor/server/meteor-methods/auth/createToken.ts", versions: from8, as: "admin",
		method: "POST", path: "/api/v1/users.createToken", body: `{"userId":"{alice}","secret":"nope"}`,
		status: 400, exact: true, want: `{"success":false,"error":"Not authorized [error-not-authorized]","errorType":"error-not-authorized"}`},
	{name: "createToken 7.x by id", source: "apps/meteor/app/lib/server/methods/createToken.ts", versions: before8, as: "admin",
		method: "POST", path: "/api/v1/users.createToken", body: `{"userId":"{alice}"}`,
		status: 200, want: `{"data":{"userId":"{alice}"},"success":true}`},
	{name: "createToken 7.x by username", source: "apps/meteor/app/api/server/v1/users.ts", versions: before8, as: "admin",
		method: "POST", path: "/api/v1/users.createToken", body: `{"username":"alice"}`,
		status: 200, want: `{"data":{"userId":"{alice}"},"success":true}`},
	{name: "createToken 7.x for another user without permission", source: "apps/meteor/app/lib/server/methods/createToken.ts", versions: before8, as: "alice",
		method: "POST", path: "/api/v1/users.createToken", body: `{"userId":"{bob}"}`,
		status: 400, exact: true, want: `{"success":false,"error":"Not authorized [error-not-authorized]","errorType":"error-not-authorized","details":{"method":"createToken"}}`},
	{name: "createToken 8.7+ for another user without permission", source: "apps/meteor/server/meteor-methods/auth/createToken.ts",
		versions: func(ma, mi int) bool { return ma > 8 || (ma == 8 && mi >= 7) }, as: "alice",
		method: "POST", path: "/api/v1/users.createToken", body: `{"userId":"{bob}","secret":"s3"}`,
		status: 400, exact: true, want: `{"success":false,"error":"Not authorized [error-not-authorized]","errorType":"error-not-authorized"}`},
	{name: "createToken 8.0-8.6 secret alone decides", source: "apps/meteor/server/meteor-methods/auth/createToken.ts (8.0 generateAccessToken(userId, secret))",
		versions: func(ma, mi int) bool { return ma == 8 && mi < 7 }, as: "alice",
		method: "POST", path: "/api/v1/users.createToken", body: `{"userId":"{bob}","secret":"s3"}`,
		status: 200, want: `{"data":{"userId":"{bob}"},"success":true}`},

	// Users and session.
	{name: "users.info", source: "apps/meteor/server/api/v1/users.ts", versions: all, as: "admin",
		method: "GET", path: "/api/v1/users.info?username=bob", status: 200, want: `{"user":{"_id":"{bob}","username":"bob"},"success":true}`},
	{name: "users.info unknown", source: "apps/meteor/server/api/v1/users.ts", versions: all, as: "admin",
		method: "GET", path: "/api/v1/users.info?username=nobody", status: 400, exact: true, want: `{"success":false,"error":"User not found."}`},
	{name: "me", source: "apps/meteor/app/api/server/v1/misc.ts", versions: all, as: "alice",
		method: "GET", path: "/api/v1/me", status: 200, want: `{"_id":"{alice}","username":"alice","success":true}`},

	// Messages (apps/meteor/app/api/server/v1/chat.ts).
	{name: "chat.sendMessage", source: "apps/meteor/app/api/server/v1/chat.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.sendMessage", body: `{"message":{"_id":"golden-1","rid":"GENERAL","msg":"hello"}}`,
		status: 200, want: `{"message":{"_id":"golden-1","rid":"GENERAL","msg":"hello","u":{"_id":"{alice}","username":"alice"}},"success":true}`},
	{name: "chat.sendMessage existing _id", source: "apps/meteor/app/lib/server/functions/sendMessage.ts + normalizeMessagesForUser.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.sendMessage", body: `{"message":{"_id":"{msg}","rid":"GENERAL","msg":"again"}}`,
		status: 400, exact: true, want: `{"success":false,"error":"Cannot read properties of undefined (reading 'starred')"}`},
	{name: "chat.getMessage", source: "apps/meteor/app/api/server/v1/chat.ts", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.getMessage?msgId={msg}", status: 200, want: `{"message":{"_id":"{msg}","rid":"GENERAL","u":{"_id":"{bob}"}},"success":true}`},
	{name: "chat.update unknown message", source: "apps/meteor/app/api/server/v1/chat.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.update", body: `{"roomId":"GENERAL","msgId":"nope","text":"x"}`,
		status: 400, exact: true, want: `{"success":false,"error":"No message found with the id of \"nope\"."}`},
	{name: "chat.delete someone else's message", source: "apps/meteor/app/lib/server/methods/deleteMessage.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.delete", body: `{"roomId":"GENERAL","msgId":"{msg}"}`,
		status: 400, exact: true, want: `{"success":false,"error":"Not allowed [error-action-not-allowed]","errorType":"error-action-not-allowed","details":{"method":"deleteMessage","action":"Delete_message"}}`},
	{name: "chat.syncMessages", source: "apps/meteor/app/api/server/v1/chat.ts", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.syncMessages?roomId={pub}&lastUpdate=2000-01-01T00:00:00.000Z", status: 200,
		want: `{"result":{"updated":[{"_id":"{pubmsg}"}],"deleted":[]},"success":true}`},

	// Rooms and subscriptions.
	{name: "subscriptions.read", source: "apps/meteor/app/api/server/v1/subscriptions.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/subscriptions.read", body: `{"rid":"GENERAL"}`, status: 200, exact: true, want: `{"success":true}`},
	{name: "subscriptions.get", source: "apps/meteor/app/api/server/v1/subscriptions.ts", versions: all, as: "alice",
		method: "GET", path: "/api/v1/subscriptions.get", status: 200, want: `{"update":[{"rid":"GENERAL"}],"remove":[],"success":true}`},
	{name: "rooms.info not allowed", source: "apps/meteor/app/api/server/v1/rooms.ts", versions: all, as: "alice",
		method: "GET", path: "/api/v1/rooms.info?roomId={secret}", status: 400, exact: true, want: `{"success":false,"error":"not-allowed","errorType":"Not Allowed"}`},
	{name: "channels.history", source: "apps/meteor/app/api/server/v1/channels.ts", versions: all, as: "alice",
		// count=5: the setup's invitation also left an "au" system message (addUserToRoom.ts).
		method: "GET", path: "/api/v1/channels.history?roomId={pub}&count=5", status: 200, want: `{"messages":[{"_id":"{pubmsg}"}],"success":true}`},
	{name: "groups.history outside the group", source: "apps/meteor/app/api/server/v1/groups.ts (findPrivateGroupByIdOrName)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/groups.history?roomId={secret}", status: 400, exact: true,
		want: `{"success":false,"error":"The required \"roomId\" or \"roomName\" param provided does not match any group [error-room-not-found]","errorType":"error-room-not-found"}`},
	{name: "channels.invite from outside", source: "apps/meteor/app/lib/server/methods/addUsersToRoom.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/channels.invite", body: `{"roomId":"{pub}","userId":"{alice}"}`,
		status: 400, exact: true, want: `{"success":false,"error":"Not allowed [error-not-allowed]","errorType":"error-not-allowed","details":{"method":"addUsersToRoom"}}`},
	{name: "channels.invite by a plain member", source: "apps/meteor/app/lib/server/methods/addUsersToRoom.ts; permissions.ts add-user-to-joined-room: admin, owner, moderator", versions: all, as: "carol",
		method: "POST", path: "/api/v1/channels.invite", body: `{"roomId":"{pub}","userId":"{alice}"}`,
		status: 400, exact: true, want: `{"success":false,"error":"Not allowed [error-not-allowed]","errorType":"error-not-allowed","details":{"method":"addUsersToRoom"}}`},
	{name: "channels.invite by the owner", source: "apps/meteor/app/api/server/v1/channels.ts", versions: all, as: "bob",
		method: "POST", path: "/api/v1/channels.invite", body: `{"roomId":"{pub}","userId":"{alice}"}`,
		status: 200, want: `{"channel":{"_id":"{pub}"},"success":true}`},
	{name: "im.create", source: "apps/meteor/server/api/v1/im.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/im.create", body: `{"username":"bob"}`, status: 200, want: `{"room":{"t":"d"},"success":true}`},
	{name: "groups.create", source: "apps/meteor/app/api/server/v1/groups.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/groups.create", body: `{"name":"golden-group","members":[]}`, status: 200, want: `{"group":{"name":"golden-group","t":"p"},"success":true}`},

	// Request validation (validate.go). Legacy addRoute validateParams routes answer after
	// authentication with Meteor.Error('invalid-params', ...) (apps/meteor/app/api/server/ApiClass.ts);
	// typed routes answer before it (packages/http-router/src/Router.ts).
	{name: "chat.sendMessage refuses extra top-level keys", source: "packages/rest-typings/src/v1/chat.ts isChatSendMessageProps", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.sendMessage", body: `{"message":{"rid":"GENERAL","msg":"x"},"roomId":"GENERAL"}`,
		status: 400, exact: true, want: `{"success":false,"error":"must NOT have additional properties [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.sendMessage refuses a string message", source: "packages/rest-typings/src/v1/chat.ts isChatSendMessageProps", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.sendMessage", body: `{"message":"hello"}`,
		status: 400, exact: true, want: `{"success":false,"error":"must be object [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.sendMessage refuses a non-string msg", source: "packages/rest-typings/src/v1/chat.ts isChatSendMessageProps", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.sendMessage", body: `{"message":{"rid":"GENERAL","msg":{"text":"x"}}}`,
		status: 400, exact: true, want: `{"success":false,"error":"must be string [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.update golden", source: "apps/meteor/app/api/server/v1/chat.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.update", body: `{"roomId":"GENERAL","msgId":"golden-1","text":"edited"}`,
		status: 200, want: `{"message":{"_id":"golden-1","rid":"GENERAL","msg":"edited"},"success":true}`},
	{name: "chat.update without text 8.x (typed route)", source: "packages/http-router/src/Router.ts; chat.ts API.v1.post('chat.update', {body: isChatUpdateProps})", versions: from8, as: "alice",
		method: "POST", path: "/api/v1/chat.update", body: `{"roomId":"GENERAL","msgId":"golden-1"}`,
		status: 400, exact: true, want: `{"success":false,"errorType":"invalid-params","error":"must have required property 'text'"}`},
	{name: "chat.update without text 7.x", source: "apps/meteor/app/api/server/ApiClass.ts validateParams", versions: before8, as: "alice",
		method: "POST", path: "/api/v1/chat.update", body: `{"roomId":"GENERAL","msgId":"golden-1"}`,
		status: 400, exact: true, want: `{"success":false,"error":"must have required property 'text' [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.update 8.x validates before authentication", source: "packages/http-router/src/Router.ts", versions: from8, as: "",
		method: "POST", path: "/api/v1/chat.update", body: `{"roomId":"GENERAL"}`,
		status: 400, exact: true, want: `{"success":false,"errorType":"invalid-params","error":"must have required property 'msgId'"}`},
	{name: "chat.delete without roomId", source: "packages/rest-typings/src/v1/chat.ts isChatDeleteProps", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.delete", body: `{"msgId":"golden-1"}`,
		status: 400, exact: true, want: `{"success":false,"error":"must have required property 'roomId' [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.getMessage without msgId", source: "packages/rest-typings/src/v1/chat.ts isChatGetMessageProps", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.getMessage", status: 400, exact: true,
		want: `{"success":false,"error":"must have required property 'msgId' [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.getMessage with an empty msgId", source: "packages/rest-typings/src/v1/chat.ts isChatGetMessageProps (minLength 1)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.getMessage?msgId=", status: 400, exact: true,
		want: `{"success":false,"error":"must NOT have fewer than 1 characters [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.syncMessages refuses unknown query keys", source: "packages/rest-typings/src/v1/chat.ts isChatSyncMessagesProps", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.syncMessages?roomId={pub}&lastUpdate=2000-01-01T00:00:00.000Z&since=x", status: 400, exact: true,
		want: `{"success":false,"error":"must NOT have additional properties [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.syncMessages without roomId", source: "packages/rest-typings/src/v1/chat.ts isChatSyncMessagesProps", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.syncMessages?lastUpdate=2000-01-01T00:00:00.000Z", status: 400, exact: true,
		want: `{"success":false,"error":"must have required property 'roomId' [invalid-params]","errorType":"invalid-params"}`},
	{name: "subscriptions.read without a room", source: "packages/rest-typings/src/v1/subscriptionsEndpoints.ts isSubscriptionsReadProps (anyOf rid|roomId)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/subscriptions.read", body: `{}`, status: 400, exact: true,
		want: `{"success":false,"error":"must have required property 'rid'\n must have required property 'roomId'\n must match a schema in anyOf [invalid-params]","errorType":"invalid-params"}`},
	{name: "subscriptions.get since", source: "apps/meteor/app/api/server/v1/subscriptions.ts", versions: all, as: "alice",
		method: "GET", path: "/api/v1/subscriptions.get?updatedSince=2000-01-01T00:00:00.000Z", status: 200, want: `{"update":[{"rid":"GENERAL"}],"remove":[],"success":true}`},
	{name: "subscriptions.get refuses unknown query keys", source: "packages/rest-typings/src/v1/subscriptionsEndpoints.ts isSubscriptionsGetProps", versions: all, as: "alice",
		method: "GET", path: "/api/v1/subscriptions.get?count=5", status: 400, exact: true,
		want: `{"success":false,"error":"must NOT have additional properties [invalid-params]","errorType":"invalid-params"}`},
	{name: "rooms.get", source: "apps/meteor/app/api/server/v1/rooms.ts", versions: all, as: "alice",
		method: "GET", path: "/api/v1/rooms.get", status: 200, want: `{"update":[{}],"remove":[],"success":true}`},
	{name: "users.create golden", source: "packages/rest-typings/src/v1/users/UserCreateParamsPOST.ts; Open-API user-management.yaml", versions: all, as: "admin",
		method: "POST", path: "/api/v1/users.create", body: `{"username":"dave","email":"dave@example.com","name":"Dave","password":"pw-Dave-1","verified":true,"sendWelcomeEmail":false,"joinDefaultChannels":false}`,
		status: 200, want: `{"user":{"username":"dave","name":"Dave"},"success":true}`},
	{name: "users.create without email 7.x", source: "packages/rest-typings/src/v1/users/UserCreateParamsPOST.ts; app/api/server/v1/users.ts validateParams", versions: before8, as: "admin",
		method: "POST", path: "/api/v1/users.create", body: `{"username":"erin","name":"Erin","password":"pw-Erin-1"}`,
		status: 400, exact: true, want: `{"success":false,"error":"must have required property 'email' [invalid-params]","errorType":"invalid-params"}`},
	{name: "users.create without email 8.x", source: "packages/rest-typings/src/v1/users/UserCreateParamsPOST.ts; server/api/v1/users.ts API.v1.post body", versions: from8, as: "admin",
		method: "POST", path: "/api/v1/users.create", body: `{"username":"erin","name":"Erin","password":"pw-Erin-1"}`,
		status: 400, exact: true, want: `{"success":false,"errorType":"invalid-params","error":"must have required property 'email'"}`},
	{name: "users.create refuses unknown keys 7.x", source: "packages/rest-typings/src/v1/users/UserCreateParamsPOST.ts", versions: before8, as: "admin",
		method: "POST", path: "/api/v1/users.create", body: `{"username":"erin","email":"erin@example.com","name":"Erin","password":"pw-Erin-1","language":"en"}`,
		status: 400, exact: true, want: `{"success":false,"error":"must NOT have additional properties [invalid-params]","errorType":"invalid-params"}`},
	{name: "users.create refuses unknown keys 8.x", source: "packages/rest-typings/src/v1/users/UserCreateParamsPOST.ts", versions: from8, as: "admin",
		method: "POST", path: "/api/v1/users.create", body: `{"username":"erin","email":"erin@example.com","name":"Erin","password":"pw-Erin-1","language":"en"}`,
		status: 400, exact: true, want: `{"success":false,"errorType":"invalid-params","error":"must NOT have additional properties"}`},
	{name: "users.update golden", source: "packages/rest-typings/src/v1/users/UsersUpdateParamsPOST.ts", versions: all, as: "admin",
		method: "POST", path: "/api/v1/users.update", body: `{"userId":"{bob}","data":{"name":"Bob B","email":"bob@example.com"}}`,
		status: 200, want: `{"user":{"_id":"{bob}","name":"Bob B"},"success":true}`},
	{name: "users.update refuses unknown data keys 7.x", source: "packages/rest-typings/src/v1/users/UsersUpdateParamsPOST.ts (data closed)", versions: before8, as: "admin",
		method: "POST", path: "/api/v1/users.update", body: `{"userId":"{bob}","data":{"language":"en"}}`,
		status: 400, exact: true, want: `{"success":false,"error":"must NOT have additional properties [invalid-params]","errorType":"invalid-params"}`},
	{name: "users.update refuses unknown data keys 8.x", source: "UsersUpdateParamsPOST.ts; server/api/v1/users.ts API.v1.post body", versions: from8, as: "admin",
		method: "POST", path: "/api/v1/users.update", body: `{"userId":"{bob}","data":{"language":"en"}}`,
		status: 400, exact: true, want: `{"success":false,"errorType":"invalid-params","error":"must NOT have additional properties"}`},
	{name: "users.info by id", source: "apps/meteor/server/api/v1/users.ts", versions: all, as: "admin",
		method: "GET", path: "/api/v1/users.info?userId={bob}", status: 200, want: `{"user":{"_id":"{bob}","username":"bob"},"success":true}`},
	{name: "users.info without a user 8.x", source: "server/api/v1/users.ts API.v1.get query; packages/http-router/src/Router.ts", versions: from8, as: "admin",
		method: "GET", path: "/api/v1/users.info?fields=x", status: 400, want: `{"success":false,"errorType":"error-invalid-params"}`},
	{name: "users.info without a user 7.x", source: "packages/rest-typings/src/v1/users/UsersInfoParamsGet.ts (anyOf)", versions: before8, as: "admin",
		method: "GET", path: "/api/v1/users.info?fields=x", status: 400, exact: true,
		want: `{"success":false,"error":"must have required property 'userId'\n must have required property 'username'\n must have required property 'importId'\n must match a schema in anyOf [invalid-params]","errorType":"invalid-params"}`},
	{name: "users.delete without a user 8.x", source: "apps/meteor/server/api/v1/users.ts (users.delete body anyOf)", versions: from8, as: "admin",
		method: "POST", path: "/api/v1/users.delete", body: `{"confirmRelinquish":true}`, status: 400, exact: true,
		want: `{"success":false,"errorType":"invalid-params","error":"must have required property 'userId'\n must have required property 'username'\n must have required property 'user'\n must match a schema in anyOf"}`},
	{name: "users.delete golden", source: "apps/meteor/server/api/v1/users.ts", versions: all, as: "admin",
		method: "POST", path: "/api/v1/users.delete", body: `{"userId":"{carol}"}`, status: 200, want: `{"success":true}`},
	{name: "im.create with both username and usernames", source: "apps/meteor/server/api/v1/im.ts isDmCreateProps (oneOf)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/im.create", body: `{"username":"bob","usernames":"bob"}`, status: 400, exact: true,
		want: `{"success":false,"error":"must NOT have additional properties\n must NOT have additional properties\n must match exactly one schema in oneOf [invalid-params]","errorType":"invalid-params"}`},
	{name: "im.create with usernames", source: "apps/meteor/server/api/v1/im.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/im.create", body: `{"usernames":"bob,dave"}`, status: 200, want: `{"room":{"t":"d"},"success":true}`},
	{name: "chat.delete golden", source: "apps/meteor/app/api/server/v1/chat.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.delete", body: `{"roomId":"GENERAL","msgId":"golden-1"}`, status: 200, want: `{"_id":"golden-1","success":true}`},
	{name: "login", source: "apps/meteor/app/api/server/ApiClass.ts _initAuth login", versions: all, as: "",
		method: "POST", path: "/api/v1/login", body: `{"username":"bob","password":"pb"}`, status: 200,
		want: `{"status":"success","data":{"userId":"{bob}"},"success":true}`},
	{name: "logout", source: "apps/meteor/app/api/server/ApiClass.ts _initAuth logout", versions: all, as: "frank",
		method: "POST", path: "/api/v1/logout", body: `{}`, status: 200, exact: true,
		want: `{"status":"success","data":{"message":"You've been logged out!"}}`},

	// Uploads: forbidden outside the room (apps/meteor/app/api/server/v1/rooms.ts API.v1.forbidden(),
	// whose error is "unauthorized" before 9.0 and "forbidden" from 9.0: applyBreakingChanges is
	// shouldBreakInVersion('9.0.0') in 8.x's ApiClass.ts, RocketChat/Rocket.Chat#41589).
	{name: "rooms.media outside the room 7.x-8.x", source: "apps/meteor/app/api/server/ApiClass.ts forbidden()", versions: before9, as: "alice",
		method: "POST", path: "/api/v1/rooms.media/{secret}", body: `{}`, status: 403, exact: true, want: `{"success":false,"error":"unauthorized"}`},
	{name: "rooms.media outside the room 9.x", source: "apps/meteor/app/api/server/ApiClass.ts forbidden()", versions: from9, as: "alice",
		method: "POST", path: "/api/v1/rooms.media/{secret}", body: `{}`, status: 403, exact: true, want: `{"success":false,"error":"forbidden"}`},
	{name: "rooms.upload gone in 8.x", source: "RocketChat/Rocket.Chat#36857", versions: from8, as: "alice",
		method: "POST", path: "/api/v1/rooms.upload/GENERAL", body: `{}`, status: 404, exact: true, want: `{"success":false,"error":"Resource not found"}`},

	// Room routes (validate.go): legacy validateParams, so refusals carry " [invalid-params]"
	// and come after authentication. Where the releases' schema files differ (a roomName
	// branch added, channels.history closed) the refusal text differs too, so only the
	// status and errorType are pinned; the single-object schemas pin the text.
	{name: "channels.history refuses unknown query keys", source: "packages/rest-typings/src/v1/channels/ChannelsHistoryProps.ts (closed)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/channels.history?roomId={pub}&limit=5", status: 400, want: invalidParamsBody},
	{name: "channels.history refuses showThreadMessages=yes", source: "ChannelsHistoryProps.ts (enum 'false'/'true')", versions: all, as: "alice",
		method: "GET", path: "/api/v1/channels.history?roomId={pub}&showThreadMessages=yes", status: 400, want: invalidParamsBody},
	{name: "channels.history without a room", source: "ChannelsHistoryProps.ts (roomId or roomName)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/channels.history?count=5", status: 400, want: invalidParamsBody},
	{name: "channels.history with every option", source: "ChannelsHistoryProps.ts", versions: all, as: "alice",
		method: "GET", path: "/api/v1/channels.history?roomId={pub}&latest=2100-01-01T00:00:00.000Z&oldest=2000-01-01T00:00:00.000Z&inclusive=true&showThreadMessages=true&unreads=false&count=5&offset=0",
		status: 200, want: `{"messages":[{"_id":"{pubmsg}"}],"success":true}`},
	{name: "groups.history golden", source: "apps/meteor/app/api/server/v1/groups.ts; GroupsHistoryProps.ts", versions: all, as: "bob",
		method: "GET", path: "/api/v1/groups.history?roomId={secret}&count=5&showThreadMessages=false", status: 200, want: `{"messages":[],"success":true}`},
	{name: "groups.history refuses unknown query keys", source: "packages/rest-typings/src/v1/groups/GroupsHistoryProps.ts, BaseProps.ts (closed)", versions: all, as: "bob",
		method: "GET", path: "/api/v1/groups.history?roomId={secret}&limit=5", status: 400, want: invalidParamsBody},
	{name: "im.history without roomId", source: "packages/rest-typings/src/v1/dm/DmHistoryProps.ts", versions: all, as: "alice",
		method: "GET", path: "/api/v1/im.history?count=5", status: 400, exact: true,
		want: `{"success":false,"error":"must have required property 'roomId' [invalid-params]","errorType":"invalid-params"}`},
	{name: "im.history refuses unknown query keys", source: "packages/rest-typings/src/v1/dm/DmHistoryProps.ts (closed)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/dm.history?roomId=x&limit=5", status: 400, exact: true,
		want: `{"success":false,"error":"must NOT have additional properties [invalid-params]","errorType":"invalid-params"}`},
	{name: "channels.list golden", source: "apps/meteor/app/api/server/v1/channels.ts", versions: all, as: "alice",
		method: "GET", path: "/api/v1/channels.list?offset=0&count=50", status: 200, want: `{"channels":[{"_id":"GENERAL"}],"success":true}`},
	{name: "channels.list refuses unknown query keys", source: "packages/rest-typings/src/v1/channels/ChannelsListProps.ts (closed)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/channels.list?limit=5", status: 400, exact: true,
		want: `{"success":false,"error":"must NOT have additional properties [invalid-params]","errorType":"invalid-params"}`},
	{name: "channels.list refuses a non-number count", source: "ChannelsListProps.ts (count: number, coerced)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/channels.list?count=ten", status: 400, exact: true,
		want: `{"success":false,"error":"must be number [invalid-params]","errorType":"invalid-params"}`},
	{name: "channels.kick by username", source: "packages/rest-typings/src/v1/channels/ChannelsKickProps.ts (userId required)", versions: all, as: "bob",
		method: "POST", path: "/api/v1/channels.kick", body: `{"roomId":"{pub}","username":"carol"}`, status: 400, want: invalidParamsBody},
	{name: "channels.kick validates after authentication", source: "apps/meteor/app/api/server/ApiClass.ts (validateParams after authRequired)", versions: all, as: "",
		method: "POST", path: "/api/v1/channels.kick", body: `{"roomId":"{pub}","username":"carol"}`, status: 401, want: `{"success":false}`},
	{name: "groups.kick by username", source: "packages/rest-typings/src/v1/groups/GroupsKickProps.ts (withUserIdProps)", versions: all, as: "bob",
		method: "POST", path: "/api/v1/groups.kick", body: `{"roomId":"{secret}","username":"carol"}`, status: 400, want: invalidParamsBody},
	{name: "channels.leave refuses extra keys", source: "packages/rest-typings/src/v1/channels/ChannelsLeaveProps.ts (closed)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/channels.leave", body: `{"roomId":"{pub}","userId":"{alice}"}`, status: 400, want: invalidParamsBody},
	{name: "groups.leave without a room", source: "packages/rest-typings/src/v1/groups/GroupsLeaveProps.ts", versions: all, as: "bob",
		method: "POST", path: "/api/v1/groups.leave", body: `{}`, status: 400, want: invalidParamsBody},
	{name: "channels.join refuses extra keys", source: "packages/rest-typings/src/v1/channels/ChannelsJoinProps.ts (closed)", versions: all, as: "gina",
		method: "POST", path: "/api/v1/channels.join", body: `{"roomId":"{pub}","userId":"{gina}"}`, status: 400, want: invalidParamsBody},
	{name: "channels.join golden", source: "apps/meteor/app/api/server/v1/channels.ts; ChannelsJoinProps.ts", versions: all, as: "gina",
		method: "POST", path: "/api/v1/channels.join", body: `{"roomId":"{pub}","joinCode":null}`, status: 200, want: `{"channel":{"_id":"{pub}"},"success":true}`},
	{name: "channels.kick golden", source: "apps/meteor/app/api/server/v1/channels.ts; ChannelsKickProps.ts", versions: all, as: "bob",
		method: "POST", path: "/api/v1/channels.kick", body: `{"roomId":"{pub}","userId":"{gina}"}`, status: 200, want: `{"channel":{"_id":"{pub}"},"success":true}`},
	{name: "channels.leave golden", source: "apps/meteor/app/api/server/v1/channels.ts; ChannelsLeaveProps.ts", versions: all, as: "hank",
		method: "POST", path: "/api/v1/channels.leave", body: `{"roomId":"{pub}"}`, status: 200, want: `{"channel":{"_id":"{pub}"},"success":true}`},

	// Reactions (apps/meteor/app/api/server/v1/chat.ts chat.react, legacy validateParams with
	// isChatReactProps from packages/rest-typings/src/v1/chat.ts; executeSetReaction in
	// apps/meteor/app/reactions/server/setReaction.ts).
	{name: "chat.react golden", source: "chat.ts chat.react; setReaction.ts", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.react", body: `{"messageId":"{msg}","emoji":":+1:","shouldReact":true}`, status: 200, exact: true, want: `{"success":true}`},
	{name: "chat.react by reaction key", source: "rest-typings chat.ts isChatReactProps (reaction branch)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.react", body: `{"messageId":"{msg}","reaction":"eyes"}`, status: 200, exact: true, want: `{"success":true}`},
	{name: "chat.react needs access, not membership", source: "setReaction.ts canAccessRoomAsync (public channel; gina was kicked from it above)", versions: all, as: "gina",
		method: "POST", path: "/api/v1/chat.react", body: `{"messageId":"{pubmsg}","emoji":"heart"}`, status: 200, exact: true, want: `{"success":true}`},
	{name: "chat.react in a room without access", source: "setReaction.ts (Meteor.Error not-authorized)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.react", body: `{"messageId":"{secretmsg}","emoji":"heart"}`, status: 400, exact: true,
		want: `{"success":false,"error":"Not Authorized [not-authorized]","errorType":"not-authorized","details":{"method":"setReaction"}}`},
	{name: "chat.react to the state it has changes nothing", source: "setReaction.ts (userAlreadyReacted === shouldReact returns before the access check)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.react", body: `{"messageId":"{secretmsg}","emoji":"heart","shouldReact":false}`, status: 200, exact: true, want: `{"success":true}`},
	{name: "chat.react unknown message", source: "chat.ts chat.react (error-message-not-found)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.react", body: `{"messageId":"nope","emoji":":+1:"}`, status: 400, exact: true,
		want: `{"success":false,"error":"The provided \"messageId\" does not match any existing message. [error-message-not-found]","errorType":"error-message-not-found"}`},
	{name: "chat.react unknown emoji", source: "setReaction.ts executeSetReaction (emoji.list, EmojiCustom)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.react", body: `{"messageId":"{msg}","emoji":":no_such_emoji_here:"}`, status: 400, exact: true,
		want: `{"success":false,"error":"Invalid emoji provided. [error-not-allowed]","errorType":"error-not-allowed","details":{"method":"setReaction"}}`},
	{name: "chat.react empty emoji", source: "chat.ts chat.react (error-emoji-param-not-provided)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.react", body: `{"messageId":"{msg}","emoji":""}`, status: 400, exact: true,
		want: `{"success":false,"error":"The required \"emoji\" param is missing. [error-emoji-param-not-provided]","errorType":"error-emoji-param-not-provided"}`},
	{name: "chat.react with emoji and reaction", source: "rest-typings chat.ts isChatReactProps (oneOf, each closed)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.react", body: `{"messageId":"{msg}","emoji":"heart","reaction":"heart"}`, status: 400, exact: true,
		want: `{"success":false,"error":"must NOT have additional properties\n must NOT have additional properties\n must match exactly one schema in oneOf [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.react without messageId", source: "rest-typings chat.ts isChatReactProps", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.react", body: `{"emoji":"heart"}`, status: 400, exact: true,
		want: `{"success":false,"error":"must have required property 'messageId'\n must have required property 'reaction'\n must match exactly one schema in oneOf [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.react with a non-boolean shouldReact", source: "rest-typings chat.ts isChatReactProps (shouldReact boolean)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/chat.react", body: `{"messageId":"{msg}","emoji":"heart","shouldReact":"yes"}`, status: 400, exact: true,
		want: `{"success":false,"error":"must be boolean\n must have required property 'reaction'\n must match exactly one schema in oneOf [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.react validates after authentication", source: "apps/meteor/app/api/server/ApiClass.ts (validateParams after authRequired)", versions: all, as: "",
		method: "POST", path: "/api/v1/chat.react", body: `{}`, status: 401, want: `{"success":false}`},

	// Threads (chat.ts chat.getThreadMessages, isChatGetThreadMessagesProps).
	{name: "chat.getThreadMessages golden", source: "chat.ts chat.getThreadMessages", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.getThreadMessages?tmid={msg}&count=5&offset=0", status: 200, want: `{"messages":[],"count":0,"offset":0,"total":0,"success":true}`},
	{name: "chat.getThreadMessages without tmid", source: "rest-typings chat.ts isChatGetThreadMessagesProps", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.getThreadMessages?count=5", status: 400, exact: true,
		want: `{"success":false,"error":"must have required property 'tmid' [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.getThreadMessages refuses query", source: "rest-typings chat.ts isChatGetThreadMessagesProps (closed)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.getThreadMessages?tmid={msg}&query=%7B%7D", status: 400, exact: true,
		want: `{"success":false,"error":"must NOT have additional properties [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.getThreadMessages refuses a non-number count", source: "rest-typings chat.ts isChatGetThreadMessagesProps (count number)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.getThreadMessages?tmid={msg}&count=all", status: 400, exact: true,
		want: `{"success":false,"error":"must be number [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.getThreadMessages unknown thread", source: "chat.ts chat.getThreadMessages (error-invalid-message)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.getThreadMessages?tmid=nope", status: 400, exact: true,
		want: `{"success":false,"error":"Invalid Message [error-invalid-message]","errorType":"error-invalid-message"}`},
	{name: "chat.getThreadMessages without access", source: "chat.ts chat.getThreadMessages (canAccessRoomAsync)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.getThreadMessages?tmid={secretmsg}", status: 400, exact: true,
		want: `{"success":false,"error":"Not Allowed [error-not-allowed]","errorType":"error-not-allowed"}`},

	// Search (chat.ts chat.search, isChatSearchProps; apps/meteor/server/lib/parseMessageSearchQuery.ts).
	{name: "chat.search golden (a substring, not whole words)", source: "parseMessageSearchQuery.ts consumeMessageText (escaped regex, options i)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.search?roomId=GENERAL&searchText=ROM+B&count=5", status: 200, want: `{"messages":[{"_id":"{msg}"}],"success":true}`},
	{name: "chat.search without searchText", source: "rest-typings chat.ts isChatSearchProps", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.search?roomId=GENERAL", status: 400, exact: true,
		want: `{"success":false,"error":"must have required property 'searchText' [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.search refuses unknown query keys", source: "rest-typings chat.ts isChatSearchProps (closed)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.search?roomId=GENERAL&searchText=bob&sort=%7B%7D", status: 400, exact: true,
		want: `{"success":false,"error":"must NOT have additional properties [invalid-params]","errorType":"invalid-params"}`},
	{name: "chat.search with an empty searchText", source: "chat.ts chat.search (error-searchText-param-not-provided)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/chat.search?roomId=GENERAL&searchText=", status: 400, exact: true,
		want: `{"success":false,"error":"The required \"searchText\" query param is missing. [error-searchText-param-not-provided]","errorType":"error-searchText-param-not-provided"}`},

	// users.list (UsersListParamsGET.ts): whether the route answers legacy or typed on 8.x was
	// not read, so the refusal pins only the status.
	{name: "users.list golden", source: "packages/rest-typings/src/v1/users/UsersListParamsGET.ts", versions: all, as: "admin",
		method: "GET", path: "/api/v1/users.list?count=5&offset=0", status: 200, want: `{"users":[{}],"success":true}`},
	{name: "users.list refuses unknown query keys", source: "UsersListParamsGET.ts (closed)", versions: all, as: "admin",
		method: "GET", path: "/api/v1/users.list?limit=5", status: 400, want: `{"success":false}`},

	// Rooms without a schema (apps/meteor/app/api/server/v1/rooms.ts; develop's typed routes
	// declare no query either).
	{name: "rooms.info unknown room", source: "rooms.ts findRoomByIdOrName (error-room-not-found before the access check)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/rooms.info?roomId=nope", status: 400, exact: true,
		want: `{"success":false,"error":"The required \"roomId\" or \"roomName\" param provided does not match any channel [error-room-not-found]","errorType":"error-room-not-found"}`},
	{name: "rooms.info golden", source: "rooms.ts rooms.info", versions: all, as: "alice",
		method: "GET", path: "/api/v1/rooms.info?roomId=GENERAL&extra=1", status: 200, want: `{"room":{"_id":"GENERAL"},"success":true}`},
	{name: "rooms.get with an invalid updatedSince", source: "rooms.ts rooms.get (error-updatedSince-param-invalid)", versions: all, as: "alice",
		method: "GET", path: "/api/v1/rooms.get?updatedSince=yesterday", status: 400, exact: true,
		want: `{"success":false,"error":"The \"updatedSince\" query parameter must be a valid date. [error-updatedSince-param-invalid]","errorType":"error-updatedSince-param-invalid"}`},

	// Groups (apps/meteor/app/api/server/v1/groups.ts: no validateParams on create/info/invite;
	// the action checks, findPrivateGroupByIdOrName answers error-room-not-found).
	{name: "groups.info golden", source: "groups.ts groups.info", versions: all, as: "bob",
		method: "GET", path: "/api/v1/groups.info?roomId={secret}", status: 200, want: `{"group":{"_id":"{secret}","t":"p"},"success":true}`},
	{name: "groups.info outside the group", source: "groups.ts findPrivateGroupByIdOrName", versions: all, as: "alice",
		method: "GET", path: "/api/v1/groups.info?roomId={secret}", status: 400, exact: true,
		want: `{"success":false,"error":"The required \"roomId\" or \"roomName\" param provided does not match any group [error-room-not-found]","errorType":"error-room-not-found"}`},
	{name: "groups.create without a name", source: "groups.ts groups.create (API.v1.failure)", versions: all, as: "alice",
		method: "POST", path: "/api/v1/groups.create", body: `{"members":[]}`, status: 400, exact: true,
		want: `{"success":false,"error":"Body param \"name\" is required"}`},
	{name: "groups.invite golden", source: "groups.ts groups.invite", versions: all, as: "bob",
		method: "POST", path: "/api/v1/groups.invite", body: `{"roomId":"{secret}","userId":"{gina}"}`, status: 200, want: `{"group":{"_id":"{secret}"},"success":true}`},
}

// contractWorld builds the same small world on every version: alice and bob, a message of
// bob's in GENERAL, a private group of bob's, a public channel of bob's without alice and
// with one message of his (carol and hank are members, gina is not).
func contractWorld(t *testing.T, version string) (*Server, map[string]string) {
	s := newTestServer(t, Options{Version: version, CreateTokenSecret: "s3"})
	vars := map[string]string{
		"alice": s.AddUser(UserSpec{Username: "alice", Password: "pa"}),
		"bob":   s.AddUser(UserSpec{Username: "bob", Password: "pb"}),
	}
	vars["carol"] = s.AddUser(UserSpec{Username: "carol"})
	s.AddUser(UserSpec{Username: "frank"})
	vars["gina"] = s.AddUser(UserSpec{Username: "gina"})
	s.AddUser(UserSpec{Username: "hank"})
	vars["msg"] = s.PostMessage("GENERAL", "bob", "from bob")
	vars["secret"] = s.AddRoom(RoomSpec{Type: "p", Name: "secret", Owner: "bob"})
	vars["secretmsg"] = s.PostMessage(vars["secret"], "bob", "in secret")
	vars["pub"] = s.AddRoom(RoomSpec{Type: "c", Name: "pub", Owner: "bob"})
	vars["pubmsg"] = s.PostMessage(vars["pub"], "bob", "in pub")
	s.AddMember(vars["pub"], "carol")
	s.AddMember(vars["pub"], "hank")
	return s, vars
}

func expand(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// subset reports where want is not contained in got ("" when it is).
func subset(got, want any, at string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return at + ": not an object"
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return at + "." + k + ": missing"
			}
			if d := subset(gv, wv, at+"."+k); d != "" {
				return d
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) < len(w) {
			return at + ": not an array of at least " + fmt.Sprint(len(w))
		}
		// Order-free: each wanted element must be contained in some element of the answer
		// (Rocket.Chat sorts none of these lists in a way the goldens could rely on).
		for i := range w {
			found := ""
			for j := range g {
				if found = subset(g[j], w[i], fmt.Sprintf("%s[%d]", at, j)); found == "" {
					break
				}
			}
			if found != "" {
				return fmt.Sprintf("%s: no element contains %v", at, w[i])
			}
		}
	default:
		if !reflect.DeepEqual(got, want) {
			return fmt.Sprintf("%s: got %v, want %v", at, got, want)
		}
	}
	return ""
}

func TestContract(t *testing.T) {
	for _, v := range contractVersions {
		t.Run(v, func(t *testing.T) {
			major, minor := parseVersion(v)
			s, vars := contractWorld(t, v)
			tokens := map[string][2]string{}
			for _, c := range contractCases {
				if !c.versions(major, minor) {
					continue
				}
				t.Run(c.name, func(t *testing.T) {
					tok, ok := tokens[c.as]
					if !ok && c.as != "" {
						uid, tk := s.LoginToken(c.as)
						tok = [2]string{uid, tk}
						tokens[c.as] = tok
					}
					var body any
					if c.body != "" {
						body = expand(c.body, vars)
					}
					r := do(t, s, c.method, expand(c.path, vars), tok[0], tok[1], body)
					if r.status != c.status {
						t.Fatalf("%s %s: status %d, want %d (source %s); body %s", c.method, c.path, r.status, c.status, c.source, r.raw)
					}
					var want any
					if err := json.Unmarshal([]byte(expand(c.want, vars)), &want); err != nil {
						t.Fatalf("bad golden: %v", err)
					}
					var got any = r.body
					if c.exact {
						if !reflect.DeepEqual(got, want) {
							t.Fatalf("%s: body %s, want exactly %s (source %s)", c.name, r.raw, expand(c.want, vars), c.source)
						}
						return
					}
					if d := subset(got, want, "$"); d != "" {
						t.Fatalf("%s: %s; body %s (source %s)", c.name, d, r.raw, c.source)
					}
				})
			}
		})
	}
}

// TestContractHistoryCap: getPaginationItems caps count at API_Upper_Count_Limit, 100 by
// default (apps/meteor/app/api/server/helpers/getPaginationItems.ts).
func TestContractHistoryCap(t *testing.T) {
	for _, v := range contractVersions {
		t.Run(v, func(t *testing.T) {
			s := newTestServer(t, Options{Version: v})
			s.AddUser(UserSpec{Username: "alice"})
			for i := range 105 {
				s.PostMessage("GENERAL", "alice", fmt.Sprint("m", i))
			}
			uid, tok := s.LoginToken("alice")
			r := do(t, s, http.MethodGet, "/api/v1/channels.history?roomId=GENERAL&count=101", uid, tok, nil).want(t, 200)
			if n := len(r.body["messages"].([]any)); n != 100 {
				t.Fatalf("count=101 gave %d messages, want the cap of 100", n)
			}
		})
	}
}
