package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rcgateway/rcgateway/push"
	"github.com/rcgateway/rcgateway/push/redisbackplane"
	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/session"
	"github.com/rcgateway/rcgateway/session/redisstore"
)

// compose builds the Rocket.Chat client and admin agent, the session manager and the push
// hub from the configuration, and registers their statistics as metrics.
func (s *Server) compose() error {
	cfg := s.cfg
	client := s.rc
	agent, err := rocketchat.NewAgent(rocketchat.AgentOptions{
		Client:            client,
		Username:          cfg.RocketChat.Admin.Username,
		Password:          cfg.RocketChat.Admin.Password.Value(),
		UserID:            cfg.RocketChat.Admin.UserID,
		Token:             cfg.RocketChat.Admin.Token.Value(),
		CreateTokenSecret: cfg.UserTokens.CreateTokenSecret.Value(),
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	s.agent = agent

	// The hub and the manager refer to each other: the hub's presence hooks start and stop
	// upstreams; the manager pushes through the hub.
	var mgr *session.Manager
	hub, err := s.newHub(func(uid string) {
		if mgr != nil {
			mgr.UserOnline(uid)
		}
	}, func(uid string) {
		if mgr != nil {
			mgr.UserOffline(uid)
		}
	})
	if err != nil {
		return err
	}
	so := session.Options{
		Client:          client,
		Agent:           agent,
		Pusher:          hub,
		RealtimeURL:     cfg.RocketChat.WebSocketURL(),
		Strategy:        cfg.UserTokens.Strategy,
		DefaultPassword: cfg.UserTokens.DefaultPassword.Value(),
		TokenTTL:        cfg.UserTokens.TTL.D(),
		Linger:          cfg.UserTokens.Linger.D(),
		LeaseTTL:        cfg.Redis.LeaseTTL.D(),
		Realtime: rocketchat.RealtimeOptions{
			HTTPClient:   s.wsClient,
			PingInterval: cfg.RocketChat.PingInterval.D(),
			PingTimeout:  cfg.RocketChat.PingTimeout.D(),
			BackoffMax:   cfg.RocketChat.ReconnectMax.D(),
		},
		UsernamePrefix: cfg.Identity.UsernamePrefix,
		EmailDomain:    cfg.Identity.EmailDomain,
		TombstoneTTL:   cfg.Identity.TombstoneTTL.D(),
		Logger:         s.log.With("component", "session"),
	}
	if cfg.Redis.URL != "" {
		store, err := redisstore.New(redisstore.Options{
			URL:       redisURL(cfg.Redis.URL, cfg.Redis.TLS),
			Password:  cfg.Redis.Password.Value(),
			NodeID:    cfg.Redis.NodeID,
			IOTimeout: cfg.Redis.Timeout.D(),
			Logger:    s.log.With("component", "redisstore"),
		})
		if err != nil {
			_ = hub.Shutdown(context.Background())
			return fmt.Errorf("gateway: redis session store: %w", err)
		}
		so.Leaser, so.Tokens, so.Presence, so.Tombstones, so.Relay, so.Clustered = store, store, store, store, store, true
		s.closers = append(s.closers, store.Shutdown)
		s.log.Info("cluster mode: sessions on Redis", "node_id", store.NodeID(), "member", store.Member())
	}
	mgr, err = session.NewManager(so)
	if err != nil {
		_ = hub.Shutdown(context.Background())
		return fmt.Errorf("gateway: %w", err)
	}
	s.hub = hub
	s.sessions = sessionAdapter{mgr}
	s.activity = mgr
	s.starters = append(s.starters, agent.Start)
	s.closers = append(s.closers, func(ctx context.Context) error {
		if err := agent.Close(ctx); err != nil {
			return fmt.Errorf("gateway: agent logout: %w", err)
		}
		s.log.Info("shutdown: admin agent closed")
		return nil
	})
	s.metrics.addStats(
		stat{name: "rcgw_online_users", help: "Users with at least one browser connection on this node.", value: func() float64 { return float64(mgr.Stats().OnlineUsers) }},
		stat{name: "rcgw_upstream_sessions", help: "Upstream (DDP) sessions on this node by state.", labels: map[string]string{"state": "connected"}, value: func() float64 { return float64(mgr.Stats().UpstreamsConnected) }},
		stat{name: "rcgw_upstream_sessions", help: "Upstream (DDP) sessions on this node by state.", labels: map[string]string{"state": "connecting"}, value: func() float64 {
			st := mgr.Stats()
			return float64(st.Upstreams - st.UpstreamsConnected)
		}},
		stat{name: "rcgw_upstream_reconnects_total", help: "Upstream reconnects after a gap.", counter: true, value: func() float64 { return float64(mgr.Stats().Reconnects) }},
		stat{name: "rcgw_upstream_resyncs_total", help: "Resync attempts after upstream gaps (a failed resync is tried again).", counter: true, value: func() float64 { return float64(mgr.Stats().Resyncs) }},
		stat{name: "rcgw_upstream_resyncs_done_total", help: "Upstream gaps whose resync succeeded.", counter: true, value: func() float64 { return float64(mgr.Stats().ResyncsDone) }},
		stat{name: "rcgw_session_pushes_total", help: "Invocations the session manager pushed to users.", counter: true, value: func() float64 { return float64(mgr.Stats().Pushes) }},
		stat{name: "rcgw_token_mints_total", help: "User tokens minted.", counter: true, value: func() float64 { return float64(mgr.Stats().TokenMints) }},
		stat{name: "rcgw_relay_dropped_total", help: "Typing forwarded from another node and dropped because this node's relay queue was full.", counter: true, value: func() float64 { return float64(mgr.Stats().RelayDropped) }},
		stat{name: "rcgw_auth_losses_total", help: "Upstreams ended because Rocket.Chat refused the user's token.", counter: true, value: func() float64 { return float64(mgr.Stats().AuthLosses) }},
	)
	return nil
}

// newHub builds the push hub with the gateway's authentication, the presence hooks and,
// when redis.url is set, the Redis backplane.
func (s *Server) newHub(online, offline func(string)) (Hub, error) {
	cfg := s.cfg
	var bp push.Backplane
	if cfg.Redis.URL != "" {
		b, err := redisbackplane.New(redisbackplane.Options{
			URL:       redisURL(cfg.Redis.URL, cfg.Redis.TLS),
			Password:  cfg.Redis.Password.Value(),
			IOTimeout: cfg.Redis.Timeout.D(),
			Logger:    s.log.With("component", "redisbackplane"),
		})
		if err != nil {
			return nil, fmt.Errorf("gateway: redis backplane: %w", err)
		}
		bp = b
		s.backplaneUp = func() bool { return b.Stats().Up }
		s.closers = append(s.closers, func(context.Context) error { return b.Close() })
		s.metrics.addStats(
			stat{name: "rcgw_backplane_published_total", help: "Envelopes published to Redis.", counter: true, value: func() float64 { return float64(b.Stats().Published) }},
			stat{name: "rcgw_backplane_received_total", help: "Envelopes received from Redis.", counter: true, value: func() float64 { return float64(b.Stats().Received) }},
			stat{name: "rcgw_backplane_dropped_total", help: "Envelopes dropped: publish queue full or Redis unreachable.", counter: true, value: func() float64 { return float64(b.Stats().Dropped) }},
			stat{name: "rcgw_backplane_reconnects_total", help: "Times the Redis subscriber reconnected.", counter: true, value: func() float64 { return float64(b.Stats().Reconnects) }},
			stat{name: "rcgw_backplane_loss_reconnects_total", help: "Reconnect notices sent after the backplane lost envelopes (one per address).", counter: true, value: func() float64 { return float64(b.Stats().ReconnectsSent) }},
			stat{name: "rcgw_backplane_up", help: "1 while the Redis subscriber is subscribed.", value: func() float64 {
				if b.Stats().Up {
					return 1
				}
				return 0
			}},
		)
	}
	h, err := push.NewHub(push.Options{
		Path:              cfg.Hub.Path,
		Authenticate:      s.authenticate,
		KeepAliveInterval: cfg.Hub.KeepAlive.D(),
		ClientTimeout:     cfg.Hub.ClientTimeout.D(),
		HandshakeTimeout:  cfg.Hub.HandshakeTimeout.D(),
		SingleLogin:       cfg.Hub.SingleLogin,
		Backplane:         bp,
		Logger:            s.log.With("component", "push"),
		OnUserOnline:      online,
		OnUserOffline:     offline,

		MaxConnectionsPerUser: cfg.Limits.MaxConnectionsPerUser,
		AllowNegotiate:        s.allowNegotiate,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s.metrics.addStats(
		stat{name: "rcgw_hub_connections", help: "Browser (SignalR) connections on this node.", value: func() float64 { return float64(h.Stats().Connections) }},
		stat{name: "rcgw_hub_users", help: "Users with browser connections on this node.", value: func() float64 { return float64(h.Stats().Users) }},
		stat{name: "rcgw_hub_pushes_total", help: "Sends accepted by the hub.", counter: true, value: func() float64 { return float64(h.Stats().Pushes) }},
		stat{name: "rcgw_hub_deliveries_total", help: "Records queued to browser connections.", counter: true, value: func() float64 { return float64(h.Stats().Deliveries) }},
		stat{name: "rcgw_hub_repeats_total", help: "Keyed pushes a connection had already been sent and was not sent again (a takeover's or resync's repeats).", counter: true, value: func() float64 { return float64(h.Stats().Repeats) }},
		stat{name: "rcgw_hub_queue_drops_total", help: "Connections closed because their send queue was full (slow consumers).", counter: true, value: func() float64 { return float64(h.Stats().SlowConsumerCloses) }},
	)
	for _, r := range push.CloseReasons() {
		s.metrics.addStats(stat{name: "rcgw_hub_closes_total", help: "Browser connections closed, by reason (push/reasons.go, docs/architecture.md).", counter: true,
			labels: map[string]string{"reason": r.String()}, value: func() float64 { return float64(h.Closes(r)) }})
	}
	return h, nil
}

// redisURL forces TLS (rediss://) when redis.tls is set.
func redisURL(u string, forceTLS bool) string {
	if forceTLS && strings.HasPrefix(u, "redis://") {
		return "rediss://" + strings.TrimPrefix(u, "redis://")
	}
	return u
}

// sessionAdapter fits *session.Manager to Sessions and turns its identity errors into
// the gateway's answers.
type sessionAdapter struct{ m *session.Manager }

func userOf(id Identity) session.User {
	// Not the e-mail claim: only a product backend sets an account's e-mail (Upsert).
	return session.User{ID: id.UserID, Username: id.Username, Name: id.Name, IssuedAt: id.IssuedAt}
}

// sessionError maps the session's identity errors; others pass through.
func sessionError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, session.ErrInvalidSubject):
		return errorf(http.StatusBadRequest, "invalid_subject", "the user id is empty, over 255 bytes, not UTF-8 or holds control characters")
	case errors.Is(err, session.ErrRevoked):
		return errorf(http.StatusUnauthorized, "token_revoked", "the user was deleted after this token was issued")
	case errors.Is(err, session.ErrAccountProtected):
		return errorf(http.StatusForbidden, "account_protected", "that Rocket.Chat account is the gateway's agent or an administrator and cannot be bound to a product user")
	case errors.Is(err, session.ErrAccountDeactivated):
		return errorf(http.StatusForbidden, "account_deactivated", "the user's chat account is deactivated")
	case errors.Is(err, session.ErrUnknownUser):
		return errorf(http.StatusNotFound, "user_not_found", "no chat account for this product user")
	case errors.Is(err, session.ErrNoSuchAccount):
		return errorf(http.StatusNotFound, "account_not_found", "no Rocket.Chat account of that username")
	case errors.Is(err, session.ErrLinkConflict):
		return errorf(http.StatusConflict, "link_conflict", "the product user already has another Rocket.Chat account")
	}
	return err
}

func (a sessionAdapter) Admit(ctx context.Context, id Identity) error {
	return sessionError(a.m.Admit(ctx, userOf(id)))
}

func (a sessionAdapter) Credentials(ctx context.Context, id Identity) (rocketchat.Credentials, error) {
	c, err := a.m.Credentials(ctx, userOf(id))
	return c, sessionError(err)
}

func (a sessionAdapter) Refresh(ctx context.Context, id Identity, stale rocketchat.Credentials) (rocketchat.Credentials, error) {
	c, err := a.m.Refresh(ctx, userOf(id), stale)
	return c, sessionError(err)
}

func (a sessionAdapter) Upsert(ctx context.Context, u UserSpec) (string, string, bool, error) {
	id, created, err := a.m.Upsert(ctx, session.User{ID: u.UserID, Username: u.Username, Name: u.Name, Email: u.Email}, u.Link)
	return id, a.m.Username(u.UserID), created, sessionError(err)
}

func (a sessionAdapter) Delete(ctx context.Context, id string) error {
	return sessionError(a.m.Delete(ctx, id))
}

func (a sessionAdapter) SetActive(ctx context.Context, id string, active bool) error {
	return sessionError(a.m.SetActive(ctx, id, active))
}

func (a sessionAdapter) Known(ctx context.Context, id string) (bool, error) {
	ok, err := a.m.Known(ctx, id)
	return ok, sessionError(err)
}

func (a sessionAdapter) Ready(ctx context.Context) error    { return a.m.Ready(ctx) }
func (a sessionAdapter) Shutdown(ctx context.Context) error { return a.m.Shutdown(ctx) }
