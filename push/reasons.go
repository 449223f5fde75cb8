package push

// CloseReason says why the hub ended a connection. Every reason has one row in closeReasons:
// the Close error text the client is sent (if any), whether it may reconnect, and what a
// client should do. The hub closes every connection with exactly one reason, logs it and
// counts it (Hub.Closes); docs/architecture.md prints the same table.
type CloseReason uint8

// The close reasons. Their values are not on any wire; only their names are (logs, metrics).
const (
	CloseClientClosed      CloseReason = iota + 1 // the client sent Close, a DELETE or a WebSocket close frame
	CloseTransportLost                            // the transport failed (socket error, request ended) and was not resumed
	CloseDisconnectTimeout                        // no transport within the disconnect timeout (never connected, long-poll gone, stateful not resumed)
	CloseHandshakeRejected                        // unsupported protocol, version or transport format
	CloseHandshakeTimeout                         // no handshake within the handshake timeout
	CloseProtocolError                            // a message that does not parse, or an oversized POST
	CloseSequenceAhead                            // stateful reconnect: the client claims more than was received
	CloseSlowConsumer                             // the send queue was full
	CloseUnackedOverflow                          // stateful reconnect: too many unacknowledged messages
	CloseAuthExpired                              // the token's expiry (plus leeway) passed
	CloseClientTimeout                            // nothing received within the client timeout
	CloseSingleLogin                              // a newer connection of the same user (Options.SingleLogin)
	CloseKicked                                   // Hub.Kick (text and allowReconnect from the caller)
	CloseBackplaneGap                             // the backplane lost envelopes for this connection
	CloseShutdown                                 // the hub is closing
	CloseRefused                                  // registration refused (hub closing, per-user limit)
	numCloseReasons
)

// reasonInfo is one row of the disconnect table.
type reasonInfo struct {
	name           string // label in logs and rcgw_hub_closes_total
	text           string // Close.error sent to the client; "" sends none (or no Close at all)
	allowReconnect bool
	action         string // what a client should do
}

// closeReasons is the one table of disconnect reasons.
var closeReasons = [numCloseReasons]reasonInfo{
	CloseClientClosed:      {"client_closed", "", false, "nothing: the client ended the connection"},
	CloseTransportLost:     {"transport_lost", "", false, "reconnect with backoff (withAutomaticReconnect), then refetch"},
	CloseDisconnectTimeout: {"disconnect_timeout", "", false, "negotiate again, then refetch"},
	CloseHandshakeRejected: {"handshake_rejected", "", false, "fix the client: use json or messagepack, version 1 or 2, a text protocol on SSE"},
	CloseHandshakeTimeout:  {"handshake_timeout", "Handshake was canceled.", false, "send the handshake at once after connecting; reconnect"},
	CloseProtocolError:     {"protocol_error", "Connection closed with an error.", true, "reconnect; if it repeats, fix the client's messages"},
	CloseSequenceAhead:     {"sequence_ahead", "Sequence ID greater than amount of messages we've received.", false, "start a new connection and refetch"},
	CloseSlowConsumer:      {"slow_consumer", "Connection closed: the client did not keep up.", true, "reconnect and refetch: pushes were dropped"},
	CloseUnackedOverflow:   {"unacked_overflow", "Connection closed: too many unacknowledged messages.", true, "reconnect and refetch: pushes were dropped"},
	// As ASP.NET Core's HubConnectionHandler: an authentication expiry
	// (CloseOnAuthenticationExpiration) closes like a graceful end, without an error; a client
	// timeout with its generic error (specs/signalr-protocol.md, Close messages).
	CloseAuthExpired:   {"auth_expired", "", true, "get a fresh token (accessTokenFactory), then reconnect"},
	CloseClientTimeout: {"client_timeout", "Connection closed with an error.", true, "reconnect; keep the client's keep-alive below the server's client timeout"},
	CloseSingleLogin:   {"single_login", "Logged in elsewhere.", false, "do not reconnect: the user opened a newer session"},
	CloseKicked:        {"kicked", "", false, "as the product backend decided: reconnect only when allowReconnect is true"},
	CloseBackplaneGap:  {"backplane_gap", ReasonBackplaneGap, true, "reconnect and refetch: pushes between nodes may have been lost"},
	CloseShutdown:      {"shutdown", "", true, "reconnect (another node, or this one when it is back), then refetch"},
	CloseRefused:       {"refused", "", false, "negotiate again later; too many connections for this user, or the node is stopping"},
}

// ReasonBackplaneGap is the Close error sent when the backplane lost envelopes.
const ReasonBackplaneGap = "Connection closed: messages may have been lost between gateway nodes; reconnect and refetch."

// CloseReasons lists every reason, in table order.
func CloseReasons() []CloseReason {
	rs := make([]CloseReason, 0, numCloseReasons-1)
	for r := CloseClientClosed; r < numCloseReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

func (r CloseReason) info() reasonInfo {
	if r == 0 || r >= numCloseReasons {
		return reasonInfo{name: "unknown"}
	}
	return closeReasons[r]
}

// String is the reason's name in logs and metrics, e.g. "slow_consumer".
func (r CloseReason) String() string { return r.info().name }

// Text is the Close error the client is sent, "" for none.
func (r CloseReason) Text() string { return r.info().text }

// AllowReconnect is the Close record's allowReconnect for this reason (Kick: the caller's).
func (r CloseReason) AllowReconnect() bool { return r.info().allowReconnect }

// ClientAction says what a client should do after a close for this reason.
func (r CloseReason) ClientAction() string { return r.info().action }

// records are r's Close record in both hub protocols.
func (r CloseReason) records() (js, mp []byte) {
	return closeRecords(r.Text(), r.AllowReconnect())
}

// reasonOfRemoteClose names the reason of an OpClose envelope from its Close record's text:
// the single-login and backplane-gap texts are the table's; any other is a kick.
func reasonOfRemoteClose(text string) CloseReason {
	switch text {
	case CloseSingleLogin.Text():
		return CloseSingleLogin
	case CloseBackplaneGap.Text():
		return CloseBackplaneGap
	}
	return CloseKicked
}
