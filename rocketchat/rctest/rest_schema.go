// The typed router's body schema for users.createToken. Follows Rocket.Chat's
// apps/meteor/server/api/v1/users.ts and packages/http-router/src/Router.ts.

package rctest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
)

// Rocket.Chat 8.x routes declared with API.v1.post(name, {body: ajv.compile(schema)}) are
// checked by packages/http-router/src/Router.ts before the action runs: a failing body gets
// 400 {"success":false,"errorType":"invalid-params","error":<AJV messages joined by "\n ">}
// (no " [invalid-params]" suffix, unlike the Meteor.Error of 7.x validateParams). Rocket.Chat's
// AJV instance (packages/rest-typings) stops at the first error (allErrors off), and AJV
// checks an object's "required" before "additionalProperties" before "properties".

// prop is one property of a body schema: its JSON type and minLength for strings.
type prop struct {
	typ       string // "string", "boolean", "number", "object", "array"
	minLength int
}

// bodySchema is the part of JSON Schema the gateway's endpoints use.
type bodySchema struct {
	props    map[string]prop
	required []string
	closed   bool // additionalProperties: false
}

// check returns AJV's message for the first violation, or "" when body fits.
func (sc bodySchema) check(body map[string]json.RawMessage) string {
	for _, k := range sc.required {
		if _, ok := body[k]; !ok {
			return fmt.Sprintf("must have required property '%s'", k)
		}
	}
	if sc.closed {
		for k := range body {
			if _, ok := sc.props[k]; !ok {
				return "must NOT have additional properties"
			}
		}
	}
	keys := make([]string, 0, len(sc.props))
	for k := range sc.props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw, ok := body[k]
		if !ok {
			continue
		}
		p := sc.props[k]
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return "must be " + p.typ
		}
		switch p.typ {
		case "string":
			// coerceTypes: numbers and booleans become strings; objects and arrays do not.
			var s string
			switch x := v.(type) {
			case string:
				s = x
			case float64, bool:
				s = fmt.Sprint(x)
			default:
				return "must be string"
			}
			if len([]rune(s)) < p.minLength {
				return fmt.Sprintf("must NOT have fewer than %d characters", p.minLength)
			}
		case "boolean":
			if _, ok := v.(bool); !ok {
				return "must be boolean"
			}
		case "object":
			if _, ok := v.(map[string]any); !ok {
				return "must be object"
			}
		}
	}
	return ""
}

// routerInvalidParams is Router.ts's answer to a body that fails its schema.
func routerInvalidParams(msg string) reply {
	return reply{http.StatusBadRequest, map[string]any{"success": false, "errorType": "invalid-params", "error": msg}}
}

// createTokenSchema is users.createToken's body on 8.x (apps/meteor/server/api/v1/users.ts):
// userId and secret, both non-empty strings, nothing else.
var createTokenSchema = bodySchema{
	props:    map[string]prop{"userId": {typ: "string", minLength: 1}, "secret": {typ: "string", minLength: 1}},
	required: []string{"userId", "secret"},
	closed:   true,
}

// atLeast reports whether the simulated version is major.minor or newer.
func (s *Server) atLeast(major, minor int) bool {
	return s.major > major || (s.major == major && s.minor >= minor)
}
