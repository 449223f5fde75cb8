package rocketchat

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Date is a Rocket.Chat date as either side sends it: REST writes ISO-8601 strings, DDP
// writes EJSON {"$date": <ms>}. Anything else decodes as the zero time. This and FormatDate
// are the package's one date conversion.
type Date struct{ time.Time }

// UnmarshalJSON accepts an ISO-8601 string or an EJSON date; other values leave d zero.
func (d *Date) UnmarshalJSON(b []byte) error {
	t, ok := parseDate(b)
	if ok {
		d.Time = t.UTC()
	} else {
		d.Time = time.Time{}
	}
	return nil
}

// String is FormatDate(d.Time).
func (d Date) String() string { return FormatDate(d.Time) }

// FormatDate writes t as Rocket.Chat's REST API writes dates (UTC, milliseconds, "Z"); the
// zero time is "".
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return isoTime(t)
}

func isoTime(t time.Time) string { return string(AppendDate(nil, t)) }

// AppendDate appends t as FormatDate writes it (the zero time included), for callers that
// rewrite dates inside a buffer without allocating a string per date.
func AppendDate(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
}

// Subscription is a typed view of a Rocket.Chat subscription (one user's membership of one
// room); Raw is the whole object.
type Subscription struct {
	RoomID       string          `json:"rid"`
	Type         string          `json:"t"`
	Name         string          `json:"name"`
	FName        string          `json:"fname"`
	Unread       int             `json:"unread"`
	UserMentions int             `json:"userMentions"`
	Alert        bool            `json:"alert"`
	Open         bool            `json:"open"`
	UpdatedAt    Date            `json:"_updatedAt"`
	Raw          json.RawMessage `json:"-"`
}

// Subscriptions is subscriptions.get without updatedSince: every subscription of cred's user.
func (c *Client) Subscriptions(ctx context.Context, cred Credentials) ([]Subscription, error) {
	update, _, err := c.SubscriptionsGet(ctx, cred, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]Subscription, 0, len(update))
	for _, raw := range update {
		var s Subscription
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("rocketchat: subscriptions.get: decode subscription: %w", err)
		}
		s.Raw = raw
		out = append(out, s)
	}
	return out, nil
}

// Rooms is rooms.get without updatedSince: every room cred's user is subscribed to.
func (c *Client) Rooms(ctx context.Context, cred Credentials) ([]Room, error) {
	update, _, err := c.RoomsGet(ctx, cred, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]Room, 0, len(update))
	for _, raw := range update {
		r, err := roomFrom(raw)
		if err != nil {
			return nil, fmt.Errorf("rocketchat: rooms.get: decode room: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// KindOf is the endpoint family of a room type: groups for "p", im for "d", channels
// otherwise.
func KindOf(roomType string) RoomKind {
	switch roomType {
	case "p":
		return Group
	case "d":
		return Direct
	}
	return Channel
}
