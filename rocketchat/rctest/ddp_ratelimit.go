// DDP subscription rate limiter. Follows Rocket.Chat's apps/meteor/app/lib/server/startup/rateLimiter.ts
// and apps/meteor/server/settings/rate.ts.

package rctest

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// DDPRateLimit mirrors Rocket.Chat's DDP rate limiter for subscriptions. The zero value is
// Rocket.Chat's default: on, with the DDP_Rate_Limit_* defaults of
// apps/meteor/server/settings/rate.ts. A zero Calls or Interval in a rule takes its default.
//
// Rules, as apps/meteor/app/lib/server/startup/rateLimiter.ts installs them:
//   - Connection_By_Method: per connection and publication name; for names starting with
//     "stream-" the calls and the interval are multiplied by 4 (default 10/10 s, so 40/40 s).
//   - User_By_Method: per logged-in user and name, the same factor 4 (default 20/10 s, so
//     80/40 s).
//   - Connection: per connection, every name (default 600/60 s).
//   - User: per logged-in user, every name (default 1200/60 s).
//   - IP (120000/60 s) exempts 127.0.0.1, which every client of the simulator is: not modelled.
//
// Only "sub" is counted: DDP method calls are not limited by the simulator.
type DDPRateLimit struct {
	Disabled                                           bool
	ConnectionByMethod, UserByMethod, Connection, User RateRule
}

// RateRule is one DDP_Rate_Limit_<name>_Requests_Allowed / _Interval_Time pair.
type RateRule struct {
	Calls    int
	Interval time.Duration
}

// streamFactor is the multiplier rateLimiter.ts applies to the by-method rules for stream-*
// publications.
const streamFactor = 4

// ddpRule is one installed rule of Meteor's rate-limit package
// (meteor/packages/rate-limit): the window is fixed and shared by all keys of the rule; it
// starts when the rule is added and restarts at the first input after it has elapsed, which
// zeroes every counter.
type ddpRule struct {
	name      string
	calls     int
	interval  time.Duration
	lastReset time.Time
	counters  map[string]int
	key       func(in ddpRateInput) (string, bool) // false: the rule does not match
}

type ddpRateInput struct {
	connID, uid, name string
}

func withDefault(r RateRule, calls int, interval time.Duration) RateRule {
	if r.Calls <= 0 {
		r.Calls = calls
	}
	if r.Interval <= 0 {
		r.Interval = interval
	}
	return r
}

// newDDPRules installs the rules of rateLimiter.ts with the settings of rate.ts.
func newDDPRules(o DDPRateLimit, now time.Time) []*ddpRule {
	if o.Disabled {
		return nil
	}
	cbm := withDefault(o.ConnectionByMethod, 10, 10*time.Second)
	ubm := withDefault(o.UserByMethod, 20, 10*time.Second)
	conn := withDefault(o.Connection, 600, time.Minute)
	usr := withDefault(o.User, 1200, time.Minute)
	isStream := func(name string) bool { return strings.HasPrefix(name, "stream-") }
	rule := func(name string, r RateRule, factor int, key func(ddpRateInput) (string, bool)) *ddpRule {
		return &ddpRule{name: name, calls: r.Calls * factor, interval: r.Interval * time.Duration(factor),
			lastReset: now, counters: map[string]int{}, key: key}
	}
	return []*ddpRule{
		rule("Connection_By_Method", cbm, 1, func(in ddpRateInput) (string, bool) {
			return in.connID + "|" + in.name, !isStream(in.name)
		}),
		rule("Connection_By_Method", cbm, streamFactor, func(in ddpRateInput) (string, bool) {
			return in.connID + "|" + in.name, isStream(in.name)
		}),
		rule("User_By_Method", ubm, 1, func(in ddpRateInput) (string, bool) {
			return in.uid + "|" + in.name, in.uid != "" && !isStream(in.name)
		}),
		rule("User_By_Method", ubm, streamFactor, func(in ddpRateInput) (string, bool) {
			return in.uid + "|" + in.name, in.uid != "" && isStream(in.name)
		}),
		rule("Connection", conn, 1, func(in ddpRateInput) (string, bool) { return in.connID, true }),
		rule("User", usr, 1, func(in ddpRateInput) (string, bool) { return in.uid, in.uid != "" }),
	}
}

// allowSub counts a "sub" and reports whether it may run; when not, the error is what
// Meteor's livedata server sends in the nosub (packages/ddp-server/livedata_server.js: the
// counters are incremented first, then checked; over the limit the answer is
// Meteor.Error('too-many-requests', DDPRateLimiter.getErrorMessage(...), {timeToReset})).
// s.mu held.
func (s *Server) allowSub(c *conn, name string) *ddpError {
	in := ddpRateInput{connID: c.session, uid: c.uid, name: name}
	now := time.Now()
	var wait time.Duration
	refused := false
	for _, r := range s.ddpRules {
		k, ok := r.key(in)
		if !ok {
			continue
		}
		if now.Sub(r.lastReset) > r.interval {
			r.lastReset = now
			clear(r.counters)
		}
		r.counters[k]++
		if r.counters[k] > r.calls {
			refused = true
			if left := r.interval - now.Sub(r.lastReset); left > wait {
				wait = left
			}
		}
	}
	if !refused {
		return nil
	}
	ms := wait.Milliseconds()
	e := meteorError("too-many-requests", fmt.Sprintf(
		"Error, too many requests. Please slow down. You must wait %d seconds before trying again.",
		int(math.Ceil(float64(ms)/1000))))
	e.Details = map[string]any{"timeToReset": ms}
	return e
}
