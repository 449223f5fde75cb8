package gateway

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

var redactCases = []struct{ query, want string }{
	{"", "/signalr"},
	{"negotiateVersion=1", "/signalr?negotiateVersion=1"},
	{"b=2&a=1&&c=%41+x", "/signalr?b=2&a=1&&c=%41+x"}, // as sent: order, escapes, empty pairs
	{"id=abc&access_token=SECRET", "/signalr?id=abc&access_token=REDACTED"},
	{"access_token=SECRET&id=abc", "/signalr?access_token=REDACTED&id=abc"},
	{"a=1&access_token=S1&b=2&access_token=S2", "/signalr?a=1&access_token=REDACTED&b=2"},
	{"access_token", "/signalr?access_token=REDACTED"},
	{"access%5Ftoken=SECRET", "/signalr?access_token=REDACTED"},
	{"%61ccess_token=SECRET&x=1", "/signalr?access_token=REDACTED&x=1"},
	{"access_token=S1&access%5ftoken=S2", "/signalr?access_token=REDACTED"},
	{"token=A&authToken=B&enc_auth_token=C&keep=D", "/signalr?token=REDACTED&authToken=REDACTED&enc_auth_token=REDACTED&keep=D"},
	// Pairs url.ParseQuery skips are left out: a handler never reads them as a token, and
	// the log does not show them.
	{"a=1;access_token=SECRET", "/signalr?"},
	{"id=1&x=1;access_token=SECRET", "/signalr?id=1"},
	{"access_token=%zzSECRET&id=1", "/signalr?id=1"},
	{"access_token%zz=SECRET&id=1", "/signalr?id=1"},
	{"x=%4&id=1", "/signalr?id=1"},
	// Keys that ParseQuery does not decode to a sensitive name stay.
	{"access+token=x&Access_Token=y", "/signalr?access+token=x&Access_Token=y"},
}

func TestRedactQuery(t *testing.T) {
	for _, c := range redactCases {
		u := &url.URL{Path: "/signalr", RawQuery: c.query}
		if got := redactQuery(u); got != c.want {
			t.Errorf("redactQuery(%q) = %q, want %q", c.query, got, c.want)
		}
	}
}

// redactQueryParsed is the access log's former rendering (parse, mask, re-encode): the
// reference FuzzRedactQuery holds redactQuery to.
func redactQueryParsed(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Path
	}
	q := u.Query()
	for _, k := range sensitiveQueryKeys {
		if q.Has(k) {
			q.Set(k, "REDACTED")
		}
	}
	return u.Path + "?" + q.Encode()
}

// FuzzRedactQuery: whatever the query, the logged one parses to the same parameters as
// the former rendering (url.ParseQuery on both), every sensitive key's only value is
// REDACTED, and nothing ParseQuery would skip (a ';' pair) is kept.
func FuzzRedactQuery(f *testing.F) {
	for _, c := range redactCases {
		f.Add(c.query)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u := &url.URL{Path: "/p", RawQuery: raw}
		got, ref := redactQuery(u), redactQueryParsed(u)
		gq, _ := strings.CutPrefix(got, "/p")
		gq = strings.TrimPrefix(gq, "?")
		rq, _ := strings.CutPrefix(ref, "/p")
		rq = strings.TrimPrefix(rq, "?")
		gv, _ := url.ParseQuery(gq)
		rv, _ := url.ParseQuery(rq)
		if !reflect.DeepEqual(gv, rv) {
			t.Fatalf("query %q: logged %q (%v), parsed rendering %q (%v)", raw, got, gv, ref, rv)
		}
		for _, k := range sensitiveQueryKeys {
			if vs, ok := gv[k]; ok && (len(vs) != 1 || vs[0] != "REDACTED") {
				t.Fatalf("query %q: logged %q keeps %s=%v", raw, got, k, vs)
			}
		}
		if strings.Contains(gq, ";") {
			t.Fatalf("query %q: logged %q keeps a ';' pair", raw, got)
		}
	})
}
