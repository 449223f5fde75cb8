package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// compose builds the Rocket.Chat client and admin agent, the session manager and the push
// hub from the configuration, and registers their statistics as metrics.
func (s *Server) compose() error {
	cfg := s.cfg
	client, err := rocketchat.NewClient(rocketchat.ClientOptions{
		BaseURL:    cfg.RocketChat.URL,
		HTTPClient: s.rc.client,
		Logger:     s.log.With("component", "rocketchat"),
		Observe:    s.metrics.observeCall,
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
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
	s.starters = append(s.starters, agent.Start)
	s.closers = append(s.closers, func(ctx context.Context) error {
		if err := agent.Close(ctx); err != nil {
			return fmt.Errorf("gateway: agent logout: %w", err)
		}
		s.log.Info("shutdown: admin agent closed")
		return nil
	})
	return errors.New("gateway: composition of push and session is not wired yet")
}
