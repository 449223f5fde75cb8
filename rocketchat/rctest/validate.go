// Request validation: AJV schemas per endpoint, answered in the legacy or the typed style.
// Follows Rocket.Chat's packages/rest-typings/src/v1 (schemas, Ajv.ts), apps/meteor/app/api/server/ApiClass.ts
// (validateParams) and packages/http-router/src/Router.ts; each schema cites its file.

package rctest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Request validation as Rocket.Chat runs it before a route's action. Two mechanisms exist,
// and they answer differently:
//
//   - Legacy routes, API.v1.addRoute(name, {validateParams: isXProps}, ...)
//     (apps/meteor/app/api/server/ApiClass.ts): the user is authenticated first, then the
//     validator runs on bodyParams (queryParams for GET) and a failure is thrown as
//     Meteor.Error('invalid-params', <AJV messages joined by "\n ">), which the route's catch
//     turns into API.v1.failure(e.message, e.error): 400
//     {"success":false,"error":"<messages> [invalid-params]","errorType":"invalid-params"}.
//   - Typed routes, API.v1.get/post(name, {query: ..., body: ...}, action)
//     (packages/http-router/src/Router.ts): query and body are checked before the action, so
//     before authentication, with 400 {"success":false,"errorType":"error-invalid-params",
//     "error":<messages>} for the query and errorType "invalid-params" for the body, no
//     " [...]" suffix.
//
// The validators are compiled by rest-typings' AJV instance (packages/rest-typings/src/v1/Ajv.ts):
// coerceTypes on, allErrors off, so each (sub)schema stops at its first error; for an object
// AJV checks "required" (in schema order), then "additionalProperties", then each property in
// schema order. An anyOf/oneOf that fails reports the first error of every branch, then
// "must match a schema in anyOf" / "must match exactly one schema in oneOf".

// sch is the part of JSON Schema the gateway's endpoints use.
type sch struct {
	typ       string // "object", "string", "boolean", "number", "array"; "" for a bare anyOf/oneOf
	minLength int
	nullable  bool
	enum      []string
	items     *sch
	props     []propDef
	required  []string
	closed    bool // additionalProperties: false
	anyOf     []*sch
	oneOf     []*sch
	// anyRequired is an anyOf of bare {required: [k]} branches next to the object's own
	// keywords; AJV runs such untyped applicators before the object keywords.
	anyRequired []string
}

type propDef struct {
	name string
	s    *sch
}

func str() *sch                 { return &sch{typ: "string"} }
func strN() *sch                { return &sch{typ: "string", nullable: true} }
func strMin(n int) *sch         { return &sch{typ: "string", minLength: n} }
func boolean() *sch             { return &sch{typ: "boolean"} }
func boolN() *sch               { return &sch{typ: "boolean", nullable: true} }
func number() *sch              { return &sch{typ: "number", nullable: true} }
func object() *sch              { return &sch{typ: "object"} }
func objectN() *sch             { return &sch{typ: "object", nullable: true} }
func arrayOf(it *sch) *sch      { return &sch{typ: "array", items: it} }
func arrayOfN(it *sch) *sch     { return &sch{typ: "array", items: it, nullable: true} }
func enumN(vals ...string) *sch { return &sch{typ: "string", nullable: true, enum: vals} }

// obj builds an object schema from name/schema pairs in schema order.
func obj(closed bool, required []string, pairs ...any) *sch {
	o := &sch{typ: "object", closed: closed, required: required}
	for i := 0; i+1 < len(pairs); i += 2 {
		o.props = append(o.props, propDef{pairs[i].(string), pairs[i+1].(*sch)})
	}
	return o
}

// errs returns AJV's messages for v, nil when it fits.
func (sc *sch) errs(v any) []string {
	if len(sc.anyOf) > 0 || len(sc.oneOf) > 0 {
		branches, kw, msg := sc.anyOf, "anyOf", "must match a schema in anyOf"
		if len(sc.oneOf) > 0 {
			branches, kw, msg = sc.oneOf, "oneOf", "must match exactly one schema in oneOf"
		}
		var all []string
		passed := 0
		for _, b := range branches {
			e := b.errs(v)
			if e == nil {
				passed++
				if kw == "anyOf" {
					return nil
				}
				continue
			}
			all = append(all, e...)
		}
		if kw == "oneOf" && passed == 1 {
			return nil
		}
		if passed > 1 {
			return []string{msg}
		}
		return append(all, msg)
	}
	if v == nil && sc.nullable {
		return nil
	}
	if len(sc.anyRequired) > 0 {
		if m, ok := v.(map[string]any); ok {
			var errs []string
			for _, k := range sc.anyRequired {
				if _, ok := m[k]; ok {
					errs = nil
					break
				}
				errs = append(errs, fmt.Sprintf("must have required property '%s'", k))
			}
			if errs != nil {
				return append(errs, "must match a schema in anyOf")
			}
		}
	}
	switch sc.typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return []string{"must be object"}
		}
		for _, k := range sc.required {
			if _, ok := m[k]; !ok {
				return []string{fmt.Sprintf("must have required property '%s'", k)}
			}
		}
		if sc.closed {
			for k := range m {
				if !sc.hasProp(k) {
					return []string{"must NOT have additional properties"}
				}
			}
		}
		for _, p := range sc.props {
			if pv, ok := m[p.name]; ok {
				if e := p.s.errs(pv); e != nil {
					return e
				}
			}
		}
	case "string":
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			s = strconv.FormatBool(x)
		case nil:
			s = ""
		default:
			return []string{"must be string"}
		}
		if len([]rune(s)) < sc.minLength {
			return []string{fmt.Sprintf("must NOT have fewer than %d characters", sc.minLength)}
		}
		if len(sc.enum) > 0 && !containsStr(sc.enum, s) {
			return []string{"must be equal to one of the allowed values"}
		}
	case "boolean":
		switch x := v.(type) {
		case bool, nil:
		case string:
			if x != "true" && x != "false" {
				return []string{"must be boolean"}
			}
		case float64:
			if x != 0 && x != 1 {
				return []string{"must be boolean"}
			}
		default:
			return []string{"must be boolean"}
		}
	case "number":
		switch x := v.(type) {
		case float64, bool, nil:
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil || strings.TrimSpace(x) == "" {
				return []string{"must be number"}
			}
		default:
			return []string{"must be number"}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return []string{"must be array"}
		}
		if sc.items != nil {
			for _, it := range a {
				if e := sc.items.errs(it); e != nil {
					return e
				}
			}
		}
	}
	return nil
}

func (sc *sch) hasProp(k string) bool {
	for _, p := range sc.props {
		if p.name == k {
			return true
		}
	}
	return false
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// check returns the joined AJV message, "" when v fits.
func (sc *sch) check(v any) string {
	return strings.Join(sc.errs(v), "\n ")
}

// validation is how one route validates its input.
type validation struct {
	schema *sch
	typed  bool   // typed route (Router.ts, before auth) rather than legacy validateParams
	source string // Rocket.Chat file the schema and the route come from
}

// answer is the failure Rocket.Chat sends for msg, given where the input came from.
func (v validation) answer(msg string, query bool) reply {
	if !v.typed {
		return fail("invalid-params", msg, nil)
	}
	et := "invalid-params"
	if query {
		et = "error-invalid-params"
	}
	return reply{http.StatusBadRequest, map[string]any{"success": false, "errorType": et, "error": msg}}
}

// queryObject is Rocket.Chat's queryParams: every value a string (repeated keys an array).
func queryObject(q url.Values) map[string]any {
	m := make(map[string]any, len(q))
	for k, vs := range q {
		if len(vs) == 1 {
			m[k] = vs[0]
			continue
		}
		a := make([]any, len(vs))
		for i, x := range vs {
			a[i] = x
		}
		m[k] = a
	}
	return m
}

// bodyObject decodes the JSON body as AJV sees it.
func bodyObject(body map[string]json.RawMessage) map[string]any {
	m := make(map[string]any, len(body))
	for k, raw := range body {
		var v any
		_ = json.Unmarshal(raw, &v)
		m[k] = v
	}
	return m
}

// validations returns the validators of the simulated version, keyed "METHOD endpoint".
func (s *Server) validations() map[string]validation {
	const (
		chatTS   = "packages/rest-typings/src/v1/chat.ts; apps/meteor/app/api/server/v1/chat.ts"
		subsTS   = "packages/rest-typings/src/v1/subscriptionsEndpoints.ts; apps/meteor/app/api/server/v1/subscriptions.ts"
		usersTS  = "packages/rest-typings/src/v1/users/*.ts; apps/meteor/server/api/v1/users.ts"
		imTS     = "apps/meteor/server/api/v1/im.ts (isDmCreateProps)"
		usersDir = "packages/rest-typings/src/v1/users/"
	)
	// chat.sendMessage (isChatSendMessageProps): the message's own fields are typed but the
	// message object stays open and rid is not required by the schema (executeSendMessage
	// reports a missing rid).
	sendMessage := obj(true, []string{"message"},
		"message", obj(false, nil,
			"_id", strN(), "rid", str(), "tmid", strN(), "msg", strN(), "alias", strN(), "emoji", strN(),
			"tshow", boolN(), "avatar", strN(), "attachments", arrayOfN(object()), "blocks", arrayOfN(object()),
			"customFields", objectN()),
		"previewUrls", arrayOfN(str()))
	v := map[string]validation{
		"POST chat.sendMessage": {schema: sendMessage, source: chatTS},
		// chat.delete (isChatDeleteProps), legacy validateParams.
		"POST chat.delete": {schema: obj(true, []string{"msgId", "roomId"}, "msgId", str(), "roomId", str(), "asUser", boolN()), source: chatTS},
		// chat.getMessage (isChatGetMessageProps): msgId non-empty, nothing else.
		"GET chat.getMessage": {schema: obj(true, []string{"msgId"}, "msgId", strMin(1)), source: chatTS},
		// chat.syncMessages (isChatSyncMessagesProps): roomId required; lastUpdate or the
		// cursor fields (next/previous/type/count).
		"GET chat.syncMessages": {schema: obj(true, []string{"roomId"}, "roomId", str(), "lastUpdate", strN(),
			"count", number(), "next", strN(), "previous", strN(), "type", enumN("UPDATED", "DELETED")), source: chatTS},
		// chat.update (isChatUpdateProps); a typed API.v1.post route from 8.0 (see below).
		"POST chat.update": {schema: obj(true, []string{"roomId", "msgId", "text"}, "roomId", str(), "msgId", str(), "text", str(),
			"previewUrls", arrayOfN(str()), "customFields", objectN()), source: chatTS},
		// subscriptions.get (isSubscriptionsGetProps): only updatedSince.
		"GET subscriptions.get": {schema: obj(true, nil, "updatedSince", strN()), source: subsTS},
		// subscriptions.read (isSubscriptionsReadProps): rid or roomId, optional readThreads.
		"POST subscriptions.read": {schema: &sch{anyOf: []*sch{
			obj(true, []string{"rid"}, "rid", str(), "readThreads", boolN()),
			obj(true, []string{"roomId"}, "roomId", str(), "readThreads", boolN()),
		}}, source: subsTS},
		// users.create (isUserCreateParamsPOST, UserCreateParamsPOST.ts).
		"POST users.create": {schema: obj(true, []string{"email", "name", "password", "username"},
			"email", str(), "name", str(), "password", str(), "username", str(), "active", boolN(), "bio", strN(),
			"nickname", strN(), "statusText", strN(), "roles", arrayOf(str()), "joinDefaultChannels", boolN(),
			"requirePasswordChange", boolN(), "setRandomPassword", boolN(), "sendWelcomeEmail", boolN(),
			"verified", boolN(), "customFields", object(), "fields", strN(), "freeSwitchExtension", strN(),
			"phones", arrayOfN(object())), source: usersDir + "UserCreateParamsPOST.ts"},
		// users.update (isUsersUpdateParamsPOST, UsersUpdateParamsPOST.ts): data is closed too.
		"POST users.update": {schema: obj(true, []string{"userId", "data"},
			"userId", str(), "confirmRelinquish", boolean(),
			"data", obj(true, nil, "email", strN(), "name", strN(), "password", strN(), "username", strN(),
				"bio", strN(), "nickname", strN(), "statusText", strN(), "active", boolN(), "roles", arrayOfN(str()),
				"joinDefaultChannels", boolN(), "requirePasswordChange", boolN(), "setRandomPassword", boolN(),
				"sendWelcomeEmail", boolN(), "verified", boolN(), "customFields", objectN(), "status", strN())),
			source: usersDir + "UsersUpdateParamsPOST.ts"},
		// users.info (isUsersInfoParamsGetProps, UsersInfoParamsGet.ts): one of userId,
		// username, importId, plus includeUserRooms and fields.
		"GET users.info": {schema: &sch{anyOf: []*sch{
			obj(true, []string{"userId"}, "userId", str(), "includeUserRooms", str(), "fields", strN()),
			obj(true, []string{"username"}, "username", str(), "includeUserRooms", str(), "fields", strN()),
			obj(true, []string{"importId"}, "importId", str(), "includeUserRooms", str(), "fields", strN()),
		}}, source: usersDir + "UsersInfoParamsGet.ts"},
		// im.create / dm.create (isDmCreateProps in im.ts): username or comma-separated
		// usernames, optional excludeSelf, nothing else.
		"POST im.create": {schema: &sch{oneOf: []*sch{
			obj(true, []string{"usernames"}, "usernames", str(), "excludeSelf", boolean()),
			obj(true, []string{"username"}, "username", str(), "excludeSelf", boolean()),
		}}, source: imTS},
	}
	v["POST dm.create"] = v["POST im.create"]

	// Room routes the gateway calls, all legacy addRoute(validateParams) in every release read
	// (apps/meteor/app/api/server/v1/channels.ts, groups.ts, im.ts). The schemas are the newest
	// rest-typings forms read (packages/rest-typings/src/v1/channels/*.ts, groups/*.ts, dm/*.ts);
	// earlier forms of the same files took roomId only (no roomName branch) and, for
	// channels.history, were open. Which release switched is not determined, so every simulated
	// version uses the newest form (docs/rocketchat-versions.md).
	const (
		channelsDir = "packages/rest-typings/src/v1/channels/"
		groupsDir   = "packages/rest-typings/src/v1/groups/"
	)
	strMin1N := func() *sch { return &sch{typ: "string", minLength: 1, nullable: true} }
	// byIDOrName is withGroupBaseProperties (groups/BaseProps.ts), also the shape of the
	// channels files: oneOf {roomId, ...} / {roomName, ...}, each closed, extra required keys
	// after the room key.
	byIDOrName := func(required []string, pairs ...any) *sch {
		return &sch{oneOf: []*sch{
			obj(true, append([]string{"roomId"}, required...), append([]any{"roomId", str()}, pairs...)...),
			obj(true, append([]string{"roomName"}, required...), append([]any{"roomName", str()}, pairs...)...),
		}}
	}
	// ChannelsHistoryProps.ts: the room key has minLength 1, latest/oldest too, the flags are
	// "true"/"false" strings, count/offset numbers (coerced from the query), sort a string.
	chHistory := func(room string) *sch {
		return obj(true, []string{room}, room, strMin(1), "latest", strMin1N(), "showThreadMessages", enumN("false", "true"),
			"oldest", strMin1N(), "inclusive", enumN("false", "true"), "unreads", enumN("true", "false"),
			"count", number(), "offset", number(), "sort", strN())
	}
	v["GET channels.history"] = validation{schema: &sch{oneOf: []*sch{chHistory("roomId"), chHistory("roomName")}},
		source: channelsDir + "ChannelsHistoryProps.ts"}
	// GroupsHistoryProps.ts: withGroupBaseProperties, every flag a plain nullable string.
	v["GET groups.history"] = validation{schema: byIDOrName(nil, "latest", strN(), "oldest", strN(), "inclusive", strN(),
		"unreads", strN(), "showThreadMessages", strN(), "count", number(), "offset", number(), "sort", strN()),
		source: groupsDir + "GroupsHistoryProps.ts"}
	// DmHistoryProps.ts: roomId only (no roomName), closed.
	v["GET im.history"] = validation{schema: obj(true, []string{"roomId"}, "roomId", strMin(1), "latest", strMin(1),
		"showThreadMessages", &sch{typ: "string", enum: []string{"false", "true"}}, "oldest", strMin(1),
		"inclusive", &sch{typ: "string", enum: []string{"false", "true"}}, "unreads", &sch{typ: "string", enum: []string{"true", "false"}},
		"count", &sch{typ: "number"}, "offset", &sch{typ: "number"}, "sort", str()),
		source: "packages/rest-typings/src/v1/dm/DmHistoryProps.ts"}
	v["GET dm.history"] = v["GET im.history"]
	// ChannelsKickProps.ts, GroupsKickProps.ts (withUserIdProps): room and userId.
	v["POST channels.kick"] = validation{schema: byIDOrName([]string{"userId"}, "userId", str()), source: channelsDir + "ChannelsKickProps.ts"}
	v["POST groups.kick"] = validation{schema: byIDOrName([]string{"userId"}, "userId", str()), source: groupsDir + "GroupsKickProps.ts, BaseProps.ts"}
	// ChannelsLeaveProps.ts, GroupsLeaveProps.ts: the room and nothing else.
	v["POST channels.leave"] = validation{schema: byIDOrName(nil), source: channelsDir + "ChannelsLeaveProps.ts"}
	v["POST groups.leave"] = validation{schema: byIDOrName(nil), source: groupsDir + "GroupsLeaveProps.ts"}
	// ChannelsJoinProps.ts: the room and an optional joinCode.
	v["POST channels.join"] = validation{schema: byIDOrName(nil, "joinCode", strN()), source: channelsDir + "ChannelsJoinProps.ts"}
	// ChannelsListProps.ts: _id, query, count, offset, sort; closed. (groups.list's
	// GroupsListProps.ts is the empty schema, and im.list has none: nothing refused.)
	v["GET channels.list"] = validation{schema: obj(true, nil, "_id", str(), "query", str(), "count", &sch{typ: "number"},
		"offset", &sch{typ: "number"}, "sort", str()), source: channelsDir + "ChannelsListProps.ts"}
	// Message interactions (apps/meteor/app/api/server/v1/chat.ts, legacy addRoute with
	// validateParams in the 7.x/8.x file; develop's apps/meteor/server/api/v1/chat.ts moves every
	// chat route to the typed router, in a release not determined, so every simulated version
	// keeps the legacy answer). Schemas from packages/rest-typings/src/v1/chat.ts.
	//   - isChatReactProps: oneOf {emoji, messageId (min 1), shouldReact?} / {reaction, messageId,
	//     shouldReact?}, each closed (a body with both emoji and reaction fits neither).
	reactBranch := func(key string) *sch {
		return obj(true, []string{key, "messageId"}, key, str(), "messageId", strMin(1), "shouldReact", boolN())
	}
	v["POST chat.react"] = validation{schema: &sch{oneOf: []*sch{reactBranch("emoji"), reactBranch("reaction")}}, source: chatTS + " (isChatReactProps)"}
	//   - isChatGetThreadMessagesProps: tmid (min 1), count, offset, sort; closed (so neither
	//     query nor fields, although the action reads parseJsonQuery).
	v["GET chat.getThreadMessages"] = validation{schema: obj(true, []string{"tmid"}, "tmid", strMin(1), "count", number(),
		"offset", number(), "sort", strN()), source: chatTS + " (isChatGetThreadMessagesProps)"}
	//   - isChatSearchProps: roomId, searchText, count, offset; closed.
	v["GET chat.search"] = validation{schema: obj(true, []string{"roomId", "searchText"}, "roomId", str(), "searchText", str(),
		"count", number(), "offset", number()), source: chatTS + " (isChatSearchProps)"}
	// users.list (UsersListParamsGET.ts, ajvQuery): fields, query, count, offset, sort; closed.
	// Whether 8.x/9.x register it typed was not read: the legacy answer is kept everywhere.
	v["GET users.list"] = validation{schema: obj(true, nil, "fields", strN(), "query", strN(), "count", number(),
		"offset", number(), "sort", strN()), source: usersDir + "UsersListParamsGET.ts"}
	// Not validated, because Rocket.Chat has no schema on them in the files read: login and
	// logout (ApiClass.ts _initAuth), me (misc.ts), rooms.get and rooms.info (rooms.ts, both
	// forms: the rest-typings rooms/RoomsGetParamsGET.ts is not used by the route), rooms.media
	// and rooms.mediaConfirm (multipart / free msgData, see files.go), groups.create, groups.info
	// and groups.invite (apps/meteor/app/api/server/v1/groups.ts checks in the action; the
	// rest-typings isGroupsCreateProps/isGroupsInfoProps/isGroupsInviteProps are not attached),
	// channels.create/info/invite (channels.ts, likewise).

	// Routes 8.x registers on the typed router (API.v1.post/get with body/query), which 7.x
	// registered with addRoute(validateParams): chat.update (apps/meteor/app/api/server/v1/chat.ts),
	// users.create, users.update and users.info (apps/meteor/server/api/v1/users.ts; 7.x:
	// apps/meteor/app/api/server/v1/users.ts). The 8.x files read are 8.7+ (they carry
	// createToken's twoFactorRequired); that 8.0-8.6 already had the typed form is assumed.
	if s.major >= 8 {
		for _, k := range []string{"POST chat.update", "POST users.create", "POST users.update", "GET users.info"} {
			x := v[k]
			x.typed = true
			v[k] = x
		}
		// users.delete: 7.x validates nothing (addRoute without validateParams); 8.x's typed
		// route has an inline schema, one of userId/username/user, closed
		// (apps/meteor/server/api/v1/users.ts).
		// users.createToken: 8.x's typed route takes exactly {userId, secret}, both non-empty
		// strings (apps/meteor/server/api/v1/users.ts; packages/http-router/src/Router.ts).
		v["POST users.createToken"] = validation{typed: true, source: "apps/meteor/server/api/v1/users.ts (users.createToken body)",
			schema: obj(true, []string{"userId", "secret"}, "userId", strMin(1), "secret", strMin(1))}
		v["POST users.delete"] = validation{typed: true, source: "apps/meteor/server/api/v1/users.ts (users.delete body)",
			schema: &sch{typ: "object", closed: true,
				props:       []propDef{{"userId", str()}, {"username", str()}, {"user", str()}, {"confirmRelinquish", boolN()}},
				anyRequired: []string{"userId", "username", "user"}}}
	}
	return v
}

// validate runs the route's validator; ok false means rep is the answer.
func (c *call) validate(v validation) (reply, bool) {
	query := c.r.Method == http.MethodGet
	var in any
	if query {
		in = queryObject(c.q)
	} else {
		if c.form != nil {
			return reply{}, true
		}
		in = bodyObject(c.body)
	}
	msg := v.schema.check(in)
	if msg == "" {
		return reply{}, true
	}
	return v.answer(msg, query), false
}
