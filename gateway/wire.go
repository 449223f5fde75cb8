package gateway

import "errors"

// compose builds the real hub and session manager from the configuration.
func (s *Server) compose() error {
	return errors.New("gateway: composition of push and session is not wired yet")
}
