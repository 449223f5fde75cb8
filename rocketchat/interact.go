package rocketchat

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// Reactions, threads and search: the message interactions a chat UI offers besides
// sending, editing and deleting.

// React is chat.react (apps/meteor/app/api/server/v1/chat.ts → executeSetReaction in
// apps/meteor/app/reactions/server/setReaction.ts). emoji may come with or without its
// colons (Rocket.Chat stores ":name:"). on nil toggles the caller's reaction; true adds it,
// false removes it, and asking for the state it already has changes nothing. The message
// comes back to the room's members as an update on stream-room-messages with its new
// reactions field.
func (c *Client) React(ctx context.Context, cred Credentials, msgID, emoji string, on *bool) error {
	body := map[string]any{"messageId": msgID, "emoji": ":" + strings.Trim(emoji, ":") + ":"}
	if on != nil {
		body["shouldReact"] = *on
	}
	return c.do(ctx, request{method: http.MethodPost, endpoint: "chat.react", cred: &cred, body: body}, nil)
}

// ThreadMessages is chat.getThreadMessages: the replies of thread tmid, oldest first (the
// thread's first message is not among them), with the total.
func (c *Client) ThreadMessages(ctx context.Context, cred Credentials, tmid string, p Page) (List, error) {
	q := p.values()
	q.Set("tmid", tmid)
	return c.list(ctx, cred, "chat.getThreadMessages", "messages", q)
}

// SearchMessages is chat.search in one room: the messages matching text (Rocket.Chat's
// search syntax: words, "from:username", "/regex/"), newest first.
func (c *Client) SearchMessages(ctx context.Context, cred Credentials, roomID, text string, p Page) ([]json.RawMessage, error) {
	q := p.values()
	q.Set("roomId", roomID)
	q.Set("searchText", text)
	l, err := c.list(ctx, cred, "chat.search", "messages", q)
	return l.Items, err
}
