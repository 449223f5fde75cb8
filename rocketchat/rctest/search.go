package rctest

import (
	"regexp"
	"strings"
)

// chatSearch is chat.search (apps/meteor/app/api/server/v1/chat.ts) over messageSearch
// (apps/meteor/server/methods/messageSearch.ts) and parseMessageSearchQuery
// (apps/meteor/server/lib/parseMessageSearchQuery.ts):
//   - roomId and searchText are required (error-roomId-param-not-provided,
//     error-searchText-param-not-provided);
//   - a room the caller cannot access makes messageSearch answer false, which chat.search
//     turns into API.v1.failure(): 400 {success: false} with no error text;
//   - "from:<username>" (several are OR-ed, "from:me" is the caller) filters on u.username,
//     case-insensitively, and is removed from the text;
//   - the rest, trimmed with runs of spaces collapsed, is the text query; under 2 characters
//     there is none. "/re/flags" is a regular expression with those flags; anything else is a
//     case-insensitive regular expression, escaped by default and taken as written when
//     Message_AlwaysSearchRegExp (Options.SearchAlwaysRegExp, forceRegex) is on. It is matched
//     against msg and the attachments' text, title and description: a substring match, not
//     MongoDB's $text full-text search, which the parseMessageSearchQuery.ts read does not use;
//     so "hel" finds "hello";
//   - no criterion at all answers no messages; removed messages (t: "rm") never match;
//   - newest first (sort {ts: -1}), skip offset, limit count (getPaginationItems).
func (c *call) chatSearch() reply {
	s := c.s
	rid, text := c.q.Get("roomId"), c.q.Get("searchText")
	if rid == "" {
		return fail("error-roomId-param-not-provided", `The required "roomId" query param is missing.`, nil)
	}
	if text == "" {
		return fail("error-searchText-param-not-provided", `The required "searchText" query param is missing.`, nil)
	}
	r := s.rooms[rid]
	if !s.canRead(c.u.id, r) {
		return reply{400, map[string]any{"success": false}}
	}
	var from []string
	text = searchFrom.ReplaceAllStringFunc(text, func(m string) string {
		name := m[len("from:"):]
		if name == "me" {
			name = c.u.username
		}
		from = append(from, strings.ToLower(name))
		return ""
	})
	text = strings.Join(strings.Fields(text), " ")
	var re *regexp.Regexp
	if len(text) >= 2 {
		expr := "(?i)" + regexp.QuoteMeta(text)
		if s.opts.SearchAlwaysRegExp {
			expr = "(?i)" + text
		}
		if m := searchRegex.FindStringSubmatch(text); m != nil {
			expr = m[1]
			if strings.Contains(m[2], "i") {
				expr = "(?i)" + expr
			}
		}
		var err error
		if re, err = regexp.Compile(expr); err != nil {
			// MongoDB refuses the pattern; the method's error reaches the client as a failure.
			return reply{400, map[string]any{"success": false, "error": "Regular expression is invalid"}}
		}
	}
	offset, count := c.paging()
	if re == nil && len(from) == 0 {
		return ok(map[string]any{"messages": []any{}})
	}
	var sel []*message
	ms := s.roomMsgs[rid]
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.t == "rm" {
			continue
		}
		if len(from) > 0 && !userMatches(s.users[m.uid], from) {
			continue
		}
		if re != nil && !re.MatchString(m.msg) && !(m.file != nil && (re.MatchString(m.file.name) || re.MatchString(m.file.desc))) {
			continue
		}
		sel = append(sel, m)
	}
	return ok(map[string]any{"messages": docs(page(sel, offset, count), s.msgDoc)})
}

var (
	searchFrom  = regexp.MustCompile(`(?i)from:[a-z0-9.\-_]+`)
	searchRegex = regexp.MustCompile(`^/(.+)/([imxs]*)$`)
)

// userMatches is the u.username {$regex: "a|b", $options: "i"} filter: a substring match of
// any of the names.
func userMatches(u *user, names []string) bool {
	if u == nil {
		return false
	}
	for _, n := range names {
		if strings.Contains(strings.ToLower(u.username), n) {
			return true
		}
	}
	return false
}
